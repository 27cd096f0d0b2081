"""The contract, served: render the spec from the code and serve both documents.

``openapi/swagger.json`` is what flask-restx generates (Swagger 2.0);
``openapi/openapi.json`` is derived from it (OpenAPI 3.0) by a development tool,
``tools.openapi``, which also exports both files and checks them for drift.
"""

import copy
import hashlib
import json
import re
import threading
from collections.abc import Callable
from pathlib import Path

from flask import Response, current_app, request
from werkzeug.exceptions import NotFound

from api.hooks.compression import keep_compressed_copies

SPEC_FILE = "swagger.json"
OPENAPI3_FILE = "openapi.json"
_lock = threading.Lock()


def reflow(text: str) -> str:
    """Markdown whose paragraphs are single lines, from text wrapped for the source.

    Some renderers (Swagger UI's for 2.0 documents, SDK generators' comments)
    take each newline as a line break, so wrapped text would read as ragged
    lines. Blank lines stay paragraph breaks; a line that starts a list item or
    indented code stays a line of its own.
    """
    paragraphs = []
    for paragraph in re.split(r"\n[ \t]*\n", text.strip()):
        lines: list[str] = []
        for line in paragraph.splitlines():
            if lines and not _BLOCK_START.match(line):
                lines[-1] = f"{lines[-1]} {line.strip()}"
            else:
                lines.append(line.rstrip())
        paragraphs.append("\n".join(lines))
    return "\n\n".join(paragraphs)


_BLOCK_START = re.compile(r"^(\s*([-*+]|\d+\.)\s|    )")

# The introduction at the top of the documents (and of /docs and /redoc).
DESCRIPTION = reflow(
    """\
A store's catalog, customers and orders.

**Auth**: click *Authorize* and log in under **OAuth2** with your email as the
username and your password (the demo admin of `flask --app wsgi seed` is
`admin@example.com`, password `admin-demo-password`); leave client_id and
client_secret empty. The docs keep the login across reloads. Or paste an access
token from `POST /api/v1/auth/login` under **Bearer**, without a prefix. Reads of
the catalog are public; writes need an admin.

**Examples** are safe to run on the demo data: deletes name ids that do not
exist, and edits change a price, a stock or a display name, never a SKU, an
email or a role.

**Errors** are `application/problem+json` (RFC 9457) with `status`, `title`,
`detail`, `instance`, `request_id`, and `errors` (per field) on validation
failures: 400 for a body of the wrong shape (or nested more than 32 levels deep),
422 for a value out of bounds, 413 for a body over the size limit however it is sent.
A request line over 4 KB (414) or more than 100 header fields (431) are refused by
the server before the API reads the request: problems too, with an empty `instance`.

**Collections** are paged with `page` and `per_page` (at most 100); the envelope
carries `total`, `pages` and `_links`, mirrored in the `Link` header. Products and
orders also take `after`, an opaque keyset cursor: the `next` link of every page
but the last carries one, and a page after a cursor costs the same at any depth.
`total` is counted for every request while under 1,000; a larger count may be
reused for up to 10 seconds by the server process that made it, which forgets it
on its own next write, so a write made through another process can take that long
to show (the defaults of `PAGE_COUNT_CACHE_MIN` and `PAGE_COUNT_CACHE_SECONDS`).

**Caching and concurrency**: single resources carry an `ETag`; `If-None-Match`
answers 304 while it is current, and a stale `If-Match` on PUT, PATCH or DELETE
answers 412. **Retries**: send an `Idempotency-Key` with `POST /api/v1/orders`
and a retry returns the original response instead of a second order.

**Formats**: JSON by default; `application/xml` and, on product and order
listings, `text/csv` where an operation lists them; any other `Accept` is a 406,
except that a browser's (`text/html` first) gets JSON.
"""
)
# The documents' top-level members in the order their specifications list
# them; paths in the order the code declares them (the order a person works),
# each path's operations in METHOD_ORDER; examples as the code writes them (a
# problem reads type, title, status, detail...); everything else sorted by key,
# so an export is deterministic and the drift check can be exact.
TOP_LEVEL = (
    "swagger",
    "openapi",
    "info",
    "externalDocs",
    "host",
    "basePath",
    "schemes",
    "servers",
    "consumes",
    "produces",
    "security",
    "tags",
    "paths",
)
METHOD_ORDER = ("parameters", "get", "post", "put", "patch", "delete", "head", "options", "trace")
EXAMPLE_KEYS = frozenset({"example", "examples", "x-example", "x-examples"})


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


def ordered(spec: dict) -> dict:
    """The spec in the documents' order (see ``TOP_LEVEL``); paths keep theirs."""
    keys = [key for key in TOP_LEVEL if key in spec]
    keys += sorted(key for key in spec if key not in TOP_LEVEL)
    document = {key: _sorted(spec[key]) for key in keys}
    if "paths" in spec:
        rank = {key: i for i, key in enumerate(METHOD_ORDER)}
        document["paths"] = {
            path: {
                key: _sorted(item[key])
                for key in sorted(item, key=lambda key: (rank.get(key, len(rank)), key))
            }
            for path, item in spec["paths"].items()
        }
    return document


def _sorted(node):
    if isinstance(node, dict):
        return {
            key: copy.deepcopy(node[key]) if key in EXAMPLE_KEYS else _sorted(node[key])
            for key in sorted(node)
        }
    if isinstance(node, list):
        return [_sorted(value) for value in node]
    return node


def serialize(spec: dict) -> str:
    """The canonical text of a spec: ``ordered``, two-space indent, final newline."""
    return json.dumps(ordered(spec), indent=2, ensure_ascii=False) + "\n"


def compact(spec: dict) -> bytes:
    """A spec as served: the same document without the indentation.

    The files in ``openapi/`` are indented for readable diffs; on the wire that
    whitespace is a third of the bytes every client downloads and parses.
    """
    return json.dumps(ordered(spec), separators=(",", ":"), ensure_ascii=False).encode()


def spec_path(app) -> Path:
    """Where the committed contract lives: ``openapi/swagger.json`` at the project root."""
    return Path(app.root_path).parent / "openapi" / SPEC_FILE


def openapi3_path(app) -> Path:
    """Where the derived OpenAPI 3 document lives: ``openapi/openapi.json``."""
    return Path(app.root_path).parent / "openapi" / OPENAPI3_FILE


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
    # Browsers ask for it gzipped on every load of /docs: compress it once.
    keep_compressed_copies(etag)
    return response


def serve_spec():
    """Serve the Swagger 2.0 document from bytes rendered once per process."""
    return _serve(*_cached(SPEC_FILE, lambda: compact(render_spec(current_app))))


def serve_openapi3():
    """Serve the committed OpenAPI 3 document, read once per process.

    It cannot be derived here: the converter is a development tool (and needs
    Java), not installed in production. ``python -m tools.openapi check`` keeps
    the file equal to the code.
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
