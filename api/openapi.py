"""The contract: render the spec from the code, serve it, export it, check it.

``openapi/swagger.json`` is what flask-restx generates (Swagger 2.0);
``openapi/openapi.json`` is derived from it (OpenAPI 3.0, see ``api.openapi3``).
Both are committed, served, and checked for drift.
"""

import copy
import difflib
import hashlib
import json
import threading
from collections.abc import Callable
from pathlib import Path

import click
from flask import Response, current_app, request
from flask.cli import AppGroup
from werkzeug.exceptions import NotFound

SPEC_FILE = "swagger.json"
OPENAPI3_FILE = "openapi.json"
_lock = threading.Lock()


class SpecRenderError(RuntimeError):
    """flask-restx could not render the spec (it returns ``{"error": ...}``)."""


def render_spec(app) -> dict:
    """Return the Swagger 2.0 document of ``app``, failing loudly on restx errors.

    Rendering needs a request context: outside one, restx caches an error
    document for the life of the process. The result is a copy: restx caches
    the document, and a caller that changed it would change what is served.
    """
    api = app.extensions["storefront.api"]
    with app.test_request_context("/"):
        spec = api.__schema__
    if "error" in spec or "paths" not in spec:
        raise SpecRenderError(f"flask-restx could not render the spec: {spec.get('error')}")
    return copy.deepcopy(spec)


def serialize(spec: dict) -> str:
    """The canonical text of a spec: sorted keys, two-space indent, final newline."""
    return json.dumps(spec, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def compact(spec: dict) -> bytes:
    """A spec as served: the same document without the indentation.

    The files in ``openapi/`` are indented for readable diffs; on the wire that
    whitespace is a third of the bytes every client downloads and parses.
    """
    return json.dumps(spec, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()


def spec_path(app) -> Path:
    """Where the committed contract lives: ``openapi/swagger.json`` at the project root."""
    return Path(app.root_path).parent / "openapi" / SPEC_FILE


def openapi3_path(app) -> Path:
    """Where the derived OpenAPI 3 document lives: ``openapi/openapi.json``."""
    return Path(app.root_path).parent / "openapi" / OPENAPI3_FILE


def exported_documents(app) -> dict[Path, str]:
    """The text each file in ``openapi/`` must have, rendered from the code.

    Converting needs the development tools (``api.openapi3``), so it is imported
    here, by the commands, and never by the serving app.
    """
    from api.openapi3 import convert  # noqa: PLC0415

    swagger = render_spec(app)
    return {
        spec_path(app): serialize(swagger),
        openapi3_path(app): serialize(convert(swagger)),
    }


def _cached(name: str, load: Callable[[], bytes]) -> tuple[bytes, str]:
    """The bytes ``load`` returns and their ETag, computed once per process."""
    cache = current_app.extensions.setdefault("storefront.spec", {})
    if name not in cache:
        with _lock:
            if name not in cache:
                body = load()
                cache[name] = (body, hashlib.sha256(body).hexdigest()[:32])
    return cache[name]


def _serve(body: bytes, etag: str) -> Response:
    if request.if_none_match.contains(etag):
        response = Response(status=304)
    else:
        response = Response(body, mimetype="application/json")
    response.set_etag(etag)
    response.headers["Cache-Control"] = "no-cache"
    return response


def serve_spec():
    """Serve the Swagger 2.0 document from bytes rendered once per process."""
    return _serve(*_cached(SPEC_FILE, lambda: compact(render_spec(current_app))))


def serve_openapi3():
    """Serve the committed OpenAPI 3 document, read once per process.

    It cannot be derived here: the converter is a development tool (and needs
    Java), not installed in production. ``openapi check`` keeps the file equal
    to the code.
    """
    path = openapi3_path(current_app)
    if not path.is_file():
        raise NotFound(f"{OPENAPI3_FILE} was not deployed with the app")
    return _serve(*_cached(OPENAPI3_FILE, lambda: compact(json.loads(path.read_bytes()))))


def register_spec_route(app, path: str) -> None:
    """Serve the spec at ``path`` and the OpenAPI 3 document beside it.

    Swagger UI and SDK generators read them there; neither route is an
    operation of the API, so neither is in the spec.
    """
    app.add_url_rule(path, "spec", serve_spec, methods=["GET"])
    sibling = f"{path.rsplit('/', 1)[0]}/{OPENAPI3_FILE}"
    app.add_url_rule(sibling, "openapi3", serve_openapi3, methods=["GET"])


openapi_cli = AppGroup("openapi", help="Export or check the OpenAPI contract in openapi/.")


def _fresh_documents() -> dict[Path, str]:
    """``exported_documents`` of the current app; a converter failure is a clean CLI error."""
    from api.openapi3 import ConversionError  # noqa: PLC0415 (development tools, see above)

    try:
        return exported_documents(current_app)
    except ConversionError as error:
        raise click.ClickException(str(error)) from error


@openapi_cli.command("export")
def export_command():
    """Write the code's spec to openapi/swagger.json and openapi/openapi.json."""
    for path, text in _fresh_documents().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        click.echo(f"wrote {path}")


@openapi_cli.command("check")
def check_command():
    """Fail with a diff when a file in openapi/ differs from the code's spec."""
    stale = []
    for path, fresh in _fresh_documents().items():
        stored = path.read_text(encoding="utf-8") if path.exists() else ""
        if fresh == stored:
            click.echo(f"{path} matches the code")
            continue
        diff = difflib.unified_diff(
            stored.splitlines(keepends=True),
            fresh.splitlines(keepends=True),
            fromfile=f"{path} (committed)",
            tofile="code",
        )
        click.echo("".join(diff), err=True)
        stale.append(str(path))
    if stale:
        raise click.ClickException(
            f"out of date: {', '.join(stale)}; run `flask --app wsgi openapi export` and commit"
        )
