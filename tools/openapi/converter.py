"""Derive the OpenAPI 3 document from the Swagger 2.0 one that flask-restx generates.

flask-restx speaks only Swagger 2.0, while most generators and viewers want
OpenAPI 3. A maintained converter does the translation (openapi-generator's
``openapi`` generator, pinned in requirements-dev.txt; its jar ships in the
PyPI package and needs only Java 11+, no network). Then ``refine`` says what
2.0 cannot: a real HTTP Bearer scheme, ``nullable``, and which media type each
response really has.

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

from api.errors import PROBLEM_MEDIA_TYPE

CONVERTER = "openapi-generator-cli"
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
BEARER_SCHEME = {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}


class ConversionError(RuntimeError):
    """The converter is missing, failed, or produced something we cannot refine."""


def convert(swagger: dict) -> dict:
    """Return the refined OpenAPI 3.0 document equivalent to ``swagger`` (Swagger 2.0)."""
    text = json.dumps(swagger, sort_keys=True)
    return refine(json.loads(_run_converter(text)), swagger)


def refine(document: dict, swagger: dict | None = None) -> dict:
    """Return a copy of a converted document, corrected where 2.0 could not say it.

    - An ``Authorization`` header API key (restx's only way to declare a token)
      becomes an HTTP Bearer scheme carrying a JWT, so generated SDKs take a
      bare token and add the ``Bearer`` prefix themselves.
    - ``x-nullable`` becomes ``nullable`` (the converter does this today; kept so
      a converter change cannot silently drop it).
    - 2.0 has one ``produces`` list per operation, so every response claims every
      media type. Problems (status >= 400) are ``application/problem+json`` only,
      and successes never are.
    - A 2.0 success without a schema, on an operation that produces binary
      types (images) or no JSON at all (a CSV download), becomes binary content
      of those types; the converter would leave it with none.
    """
    document = copy.deepcopy(document)
    for scheme in document.get("components", {}).get("securitySchemes", {}).values():
        if (scheme.get("type"), scheme.get("in"), scheme.get("name")) == (
            "apiKey",
            "header",
            "Authorization",
        ):
            description = scheme.get("description")
            scheme.clear()
            scheme.update(BEARER_SCHEME)
            if description:
                scheme["description"] = description
    _rename_key(document, "x-nullable", "nullable")
    for path, item in document.get("paths", {}).items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                for status, response in operation.get("responses", {}).items():
                    if swagger is not None:
                        _binary_download(swagger, path, method, status, response)
                    _narrow_media_types(f"{method.upper()} {path} {status}", status, response)
    return document


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
