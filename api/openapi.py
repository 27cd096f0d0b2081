"""The contract: render the spec from the code, serve it, export it, check it."""

import difflib
import hashlib
import json
import threading
from pathlib import Path

import click
from flask import Response, current_app, request
from flask.cli import AppGroup

SPEC_FILE = "swagger.json"
_lock = threading.Lock()


class SpecRenderError(RuntimeError):
    """flask-restx could not render the spec (it returns ``{"error": ...}``)."""


def render_spec(app) -> dict:
    """Return the Swagger 2.0 document of ``app``, failing loudly on restx errors.

    Rendering needs a request context: outside one, restx caches an error
    document for the life of the process.
    """
    api = app.extensions["storefront.api"]
    with app.test_request_context("/"):
        spec = api.__schema__
    if "error" in spec or "paths" not in spec:
        raise SpecRenderError(f"flask-restx could not render the spec: {spec.get('error')}")
    return spec


def serialize(spec: dict) -> str:
    """The canonical text of a spec: sorted keys, two-space indent, final newline."""
    return json.dumps(spec, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def spec_path(app) -> Path:
    """Where the committed contract lives: ``openapi/swagger.json`` at the project root."""
    return Path(app.root_path).parent / "openapi" / SPEC_FILE


def _cached_spec() -> tuple[bytes, str]:
    cache = current_app.extensions.setdefault("storefront.spec", {})
    if "body" not in cache:
        with _lock:
            if "body" not in cache:
                body = serialize(render_spec(current_app)).encode()
                cache["etag"] = hashlib.sha256(body).hexdigest()[:32]
                cache["body"] = body
    return cache["body"], cache["etag"]


def serve_spec():
    """Serve the Swagger 2.0 document from bytes rendered once per process."""
    body, etag = _cached_spec()
    if request.if_none_match.contains(etag):
        response = Response(status=304)
    else:
        response = Response(body, mimetype="application/json")
    response.set_etag(etag)
    response.headers["Cache-Control"] = "no-cache"
    return response


def register_spec_route(app, path: str) -> None:
    """Serve the spec at ``path`` (Swagger UI and SDK generators read it there)."""
    app.add_url_rule(path, "spec", serve_spec, methods=["GET"])


openapi_cli = AppGroup("openapi", help="Export or check the OpenAPI contract in openapi/.")


@openapi_cli.command("export")
def export_command():
    """Write the code's spec to openapi/swagger.json."""
    path = spec_path(current_app)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(serialize(render_spec(current_app)), encoding="utf-8")
    click.echo(f"wrote {path}")


@openapi_cli.command("check")
def check_command():
    """Fail with a diff when openapi/swagger.json differs from the code's spec."""
    path = spec_path(current_app)
    fresh = serialize(render_spec(current_app))
    stored = path.read_text(encoding="utf-8") if path.exists() else ""
    if fresh == stored:
        click.echo(f"{path} matches the code")
        return
    diff = difflib.unified_diff(
        stored.splitlines(keepends=True),
        fresh.splitlines(keepends=True),
        fromfile=f"{path} (committed)",
        tofile="code",
    )
    click.echo("".join(diff), err=True)
    raise click.ClickException(
        f"{path} is out of date: run `flask --app wsgi openapi export` and commit it"
    )
