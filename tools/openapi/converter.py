"""Derive the OpenAPI 3 document from the Swagger 2.0 one that flask-restx generates.

flask-restx speaks only Swagger 2.0, while most generators and viewers want
OpenAPI 3. A maintained converter does the translation (openapi-generator's
``openapi`` generator, pinned in requirements-dev.txt; its jar ships in the
PyPI package and needs only Java 11+, no network). Then ``refine`` says what
2.0 cannot: a real HTTP Bearer scheme, the OAuth2 password flow of the docs'
Authorize dialog, ``nullable``, and which media type each response really has.

This is a development tool: ``python -m tools.openapi export`` runs it and the
result is committed; the app serves that file. Nothing here runs while serving requests.
"""

import copy
import functools
import json
import shutil
import subprocess
import sysconfig
import tempfile
from pathlib import Path

from api.auth import BEARER, HTTP_BEARER_DESCRIPTION, OAUTH2, OAUTH2_SCHEME, TOKEN_TYPE
from api.docs.spec import ordered
from api.errors import PROBLEM_MEDIA_TYPE

CONVERTER = "openapi-generator-cli"
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
BEARER_SCHEME = {
    "type": "http",
    "scheme": "bearer",
    "bearerFormat": "JWT",
    "description": HTTP_BEARER_DESCRIPTION,
}


class ConversionError(RuntimeError):
    """The converter is missing, failed, or produced something we cannot refine."""


def convert(swagger: dict) -> dict:
    """Return the refined OpenAPI 3.0 document equivalent to ``swagger`` (Swagger 2.0)."""
    # The same document, the same text (one run); examples keep their order.
    text = json.dumps(ordered(swagger))
    return refine(json.loads(_run_converter(text)), swagger)


def refine(document: dict, swagger: dict | None = None) -> dict:
    """Return a copy of a converted document, corrected where 2.0 could not say it.

    - An ``Authorization`` header API key (restx's only way to declare a token)
      becomes an HTTP Bearer scheme carrying a JWT, so generated SDKs (and
      Swagger UI's dialog) take a bare token and add the ``Bearer`` prefix
      themselves; its description says so.
    - The OAuth2 password flow (``api.auth.OAUTH2_SCHEME``; 2.0 would need an
      absolute ``tokenUrl``) is added, and every operation that takes an access
      token accepts it or Bearer: all that require Bearer but those marked as
      taking a refresh token (``x-token-type: refresh``), which only a pasted
      token can be. OAuth2 comes first: generated clients then let the Bearer
      header win, which is the one that carries the prefix.
    - ``x-nullable`` becomes ``nullable`` (the converter does this today; kept so
      a converter change cannot silently drop it).
    - 2.0 has one ``produces`` list per operation, so every response claims every
      media type. Problems (status >= 400) are ``application/problem+json`` only,
      and successes never are.
    - A 2.0 success without a schema, on an operation that produces binary
      types (images) or no JSON at all (a CSV download), becomes binary content
      of those types; the converter would leave it with none.
    - A body parameter's ``x-examples`` (the 2.0 request examples Redoc
      reads) become the request body's ``example``: the converter drops them.
    - Paths keep the order of the 2.0 document (the order the code declares
      them), whatever order the converter writes them in.
    """
    document = copy.deepcopy(document)
    for scheme in document.get("components", {}).get("securitySchemes", {}).values():
        if (scheme.get("type"), scheme.get("in"), scheme.get("name")) == (
            "apiKey",
            "header",
            "Authorization",
        ):
            scheme.clear()
            scheme.update(BEARER_SCHEME)
    if BEARER in document.get("components", {}).get("securitySchemes", {}):
        _offer_oauth2(document)
    _rename_key(document, "x-nullable", "nullable")
    for path, item in document.get("paths", {}).items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                if swagger is not None:
                    _request_example(swagger, path, method, operation)
                for status, response in operation.get("responses", {}).items():
                    if swagger is not None:
                        _binary_download(swagger, path, method, status, response)
                    _narrow_media_types(f"{method.upper()} {path} {status}", status, response)
    if swagger is not None:
        document["paths"] = _in_order_of(swagger, document["paths"])
    return document


def _offer_oauth2(document: dict) -> None:
    document["components"]["securitySchemes"][OAUTH2] = copy.deepcopy(OAUTH2_SCHEME)
    for item in document.get("paths", {}).values():
        for method, operation in item.items():
            security = operation.get("security") if method in HTTP_METHODS else None
            if security == [{BEARER: []}] and operation.get(TOKEN_TYPE) != "refresh":
                operation["security"] = [{OAUTH2: []}, {BEARER: []}]


def _request_example(swagger: dict, path: str, method: str, operation: dict) -> None:
    declared = swagger["paths"].get(path, {}).get(method, {})
    for parameter in declared.get("parameters", []):
        examples = parameter.get("x-examples") if parameter["in"] == "body" else None
        for media, content in (operation.get("requestBody", {}).get("content") or {}).items():
            if examples and media in examples:
                content["example"] = examples[media]


def _in_order_of(swagger: dict, paths: dict) -> dict:
    """``paths`` of the converted document, in the order of the 2.0 one's."""
    base = swagger.get("basePath", "/").rstrip("/")
    order = {base + path: i for i, path in enumerate(swagger["paths"])}
    return dict(sorted(paths.items(), key=lambda entry: order.get(entry[0], len(order))))


def _binary_download(swagger: dict, path: str, method: str, status: str, response: dict) -> None:
    operation = swagger["paths"].get(path, {}).get(method, {})
    declared = operation.get("responses", {}).get(status, {})
    if response.get("content") or "schema" in declared or not status.startswith("2"):
        return
    produced = [media for media in operation.get("produces", []) if media != PROBLEM_MEDIA_TYPE]
    if any(media.endswith("json") for media in produced):
        # A JSON operation: XML and CSV are representations of its schema.
        binary = [
            media
            for media in produced
            if not media.endswith("json")
            and not media.startswith("text/")
            and media != "application/xml"
        ]
    else:
        binary = produced  # a download (an image, an exported CSV): the file is the body
    if binary:
        response["content"] = {
            media: {"schema": {"type": "string", "format": "binary"}} for media in binary
        }


def _narrow_media_types(where: str, status: str, response: dict) -> None:
    content = response.get("content")
    if not content:
        return  # no body (204, 304)
    is_problem = status == "default" or int(status) >= 400
    narrowed = {
        media: value
        for media, value in content.items()
        if (media == PROBLEM_MEDIA_TYPE) == is_problem
    }
    if not narrowed:
        raise ConversionError(f"{where}: no media type left out of {sorted(content)}")
    response["content"] = narrowed


def _rename_key(node, old: str, new: str) -> None:
    """Rename ``old`` to ``new`` in every object of a JSON tree, in place."""
    if isinstance(node, dict):
        if old in node:
            node[new] = node.pop(old)
        for value in node.values():
            _rename_key(value, old, new)
    elif isinstance(node, list):
        for value in node:
            _rename_key(value, old, new)


def converter_command() -> list[str]:
    """The converter's command line: the script pip installed beside this Python."""
    script = shutil.which(CONVERTER, path=sysconfig.get_path("scripts")) or shutil.which(CONVERTER)
    if script is None:
        raise ConversionError(
            f"{CONVERTER} is not installed: `pip install -r requirements-dev.txt` (needs Java 11+)"
        )
    return [script]


# The same 2.0 text always converts to the same document: one JVM start per
# distinct spec per process, however many tests export or check it.
@functools.lru_cache(maxsize=4)
def _run_converter(swagger_text: str) -> str:
    with tempfile.TemporaryDirectory(prefix="openapi3-") as scratch:
        source = Path(scratch) / "swagger.json"
        source.write_text(swagger_text, encoding="utf-8")
        output = Path(scratch) / "out"
        result = subprocess.run(  # noqa: S603 (a fixed command on a file we wrote)
            [
                *converter_command(),
                "generate",
                "--generator-name",
                "openapi",
                "--input-spec",
                str(source),
                "--output",
                str(output),
            ],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        converted = output / "openapi.json"
        if result.returncode != 0 or not converted.exists():
            log = (result.stderr + result.stdout).strip()[-3000:]
            raise ConversionError(f"{CONVERTER} failed (exit {result.returncode}):\n{log}")
        return converted.read_text(encoding="utf-8")
