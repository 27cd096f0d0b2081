"""The contract check: every response a test sees must match both documents in openapi/.

``ContractClient`` is the app's test client class, so no test can skip it. Each
response is checked against ``swagger.json`` (Swagger 2.0, what the code
generates) and ``openapi.json`` (OpenAPI 3.0, derived from it, what SDKs are
generated from): the status must be documented for the operation, the media
type must be one it documents for that response, and a JSON body must validate
against the documented schema (the schema describes the JSON form: other
representations, such as XML or CSV, are held to their media type only).
Errors outside any operation (unknown URL, undeclared method) must be problems.
"""

import json
import re
from pathlib import Path
from urllib.parse import urlsplit

from flask.testing import FlaskClient
from jsonschema import Draft4Validator, FormatChecker
from openapi_schema_validator import OAS30ReadValidator, oas30_format_checker

SPEC_DIR = Path(__file__).resolve().parent.parent / "openapi"
SPEC_FILE = SPEC_DIR / "swagger.json"
OPENAPI3_FILE = SPEC_DIR / "openapi.json"
PROBLEM = "application/problem+json"
# Served beside the API, deliberately not operations of it.
OFF_SPEC = (
    "/docs",
    "/swaggerui/",
    "/redoc",
    "/api/v1/swagger.json",
    "/api/v1/openapi.json",
    "/metrics",
)
# The site's root redirects to /docs; it is no operation either.
SITE_ROOT = "/"


class ContractError(AssertionError):
    """A response the contract does not allow."""


def is_json(mimetype: str) -> bool:
    """Whether a media type is JSON (``application/json`` or a ``+json`` type)."""
    return mimetype == "application/json" or mimetype.endswith("+json")


class Document:
    """One API description: finds the operation of a request and validates its response.

    Subclasses say how their version documents bodies: ``base_path``,
    ``problem_ref``, ``_check_body`` and ``_validator``.
    """

    name = "spec"
    problem_ref = ""

    def __init__(self, spec: dict):
        self.spec = spec
        base = self.base_path().rstrip("/")
        # Literal paths before templated ones, so /products/bulk wins over /products/{id}.
        self.routes = sorted(
            (
                (
                    re.compile(
                        "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(base + path)) + "$"
                    ),
                    path,
                )
                for path in spec["paths"]
            ),
            key=lambda route: route[1].count("{"),
        )

    @classmethod
    def load(cls, path: Path) -> "Document":
        """Read a committed document."""
        return cls(json.loads(path.read_text(encoding="utf-8")))

    def base_path(self) -> str:
        """The path every operation's path is relative to."""
        raise NotImplementedError

    def operation(self, method: str, path: str):
        """Return (template, operation or None), or (None, None) for an unknown path."""
        for pattern, template in self.routes:
            if pattern.match(path):
                return template, self.spec["paths"][template].get(method.lower())
        return None, None

    def check(self, method: str, path: str, response) -> None:
        """Raise ``ContractError`` unless this document allows ``response``."""
        where = f"{self.name}: {method} {path} -> {response.status_code}"
        if method == "OPTIONS" or path.startswith(OFF_SPEC) or path == SITE_ROOT:
            if response.status_code >= 400:
                self._check_problem(where, response)
            return
        template, operation = self.operation(method, path)
        if operation is None and method == "HEAD" and template is not None:
            operation = self.spec["paths"][template].get("get")
            if operation is not None:
                self._check_status(where, operation, response)
                return
        if template is None:
            if response.status_code != 404:
                raise ContractError(f"{where}: unknown path must answer 404")
            self._check_problem(where, response)
            return
        if operation is None:
            if response.status_code != 405 or "Allow" not in response.headers:
                raise ContractError(f"{where}: undocumented method must be 405 with Allow")
            self._check_problem(where, response)
            return
        documented = self._check_status(where, operation, response)
        body = response.get_data()
        if response.status_code in (204, 304):
            if body:
                raise ContractError(f"{where}: must have no body")
            return
        self._check_body(where, operation, documented, response)

    def _check_status(self, where, operation, response) -> dict:
        responses = operation.get("responses", {})
        documented = responses.get(str(response.status_code), responses.get("default"))
        if documented is None:
            raise ContractError(
                f"{where}: status not documented (documented: {', '.join(sorted(responses))})"
            )
        for header in documented.get("headers", {}):
            if header not in response.headers:
                raise ContractError(f"{where}: documented header {header} is missing")
        return documented

    def _check_body(self, where, operation, documented, response) -> None:
        raise NotImplementedError

    def _check_problem(self, where, response) -> None:
        if response.mimetype != PROBLEM:
            raise ContractError(f"{where}: error is {response.mimetype}, not {PROBLEM}")
        self._validate(where, {"$ref": self.problem_ref}, response.get_json(force=True))

    def _validator(self, schema: dict):
        raise NotImplementedError

    def _validate(self, where, schema, instance) -> None:
        errors = sorted(
            self._validator(schema).iter_errors(instance), key=lambda e: list(e.absolute_path)
        )
        if errors:
            details = "; ".join(
                f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message[:200]}"
                for e in errors[:5]
            )
            raise ContractError(f"{where}: body breaks the schema: {details}")


class Swagger2Document(Document):
    """``swagger.json``: one ``produces`` list per operation, JSON Schema draft 4."""

    name = "swagger.json"
    problem_ref = "#/definitions/Problem"

    def base_path(self) -> str:
        """2.0's ``basePath``."""
        return self.spec.get("basePath", "/")

    def _check_body(self, where, operation, documented, response) -> None:
        produces = operation.get("produces", self.spec.get("produces", []))
        if response.mimetype not in produces:
            raise ContractError(f"{where}: media type {response.mimetype} not in {produces}")
        schema = documented.get("schema")
        if schema is not None and is_json(response.mimetype):
            self._validate(where, schema, json.loads(response.get_data()))

    def _validator(self, schema: dict):
        if not hasattr(self, "_definitions"):
            self._definitions = _nullable_types(self.spec.get("definitions", {}))
        return Draft4Validator(
            {**_nullable_types(schema), "definitions": self._definitions},
            format_checker=FormatChecker(),
        )


def _nullable_types(node):
    """A copy of a 2.0 schema where ``x-nullable: true`` admits null, as 2.0 tools read it.

    Draft 4 knows no ``x-nullable``: ``{"type": "string", "x-nullable": true}``
    becomes ``{"type": ["string", "null"]}``. Nothing else changes, so every
    other rule is checked as strictly as before.
    """
    if isinstance(node, list):
        return [_nullable_types(item) for item in node]
    if not isinstance(node, dict):
        return node
    copied = {key: _nullable_types(value) for key, value in node.items()}
    if copied.pop("x-nullable", False) is True and isinstance(copied.get("type"), str):
        copied["type"] = [copied["type"], "null"]
        if "enum" in copied:
            copied["enum"] = [*copied["enum"], None]
    return copied


class OpenAPI3Document(Document):
    """``openapi.json``: media types and schemas per response, OpenAPI 3.0 schema objects."""

    name = "openapi.json"
    problem_ref = "#/components/schemas/Problem"

    def base_path(self) -> str:
        """The path of the first server URL (``/`` when there is none)."""
        servers = self.spec.get("servers") or [{"url": "/"}]
        return urlsplit(servers[0]["url"]).path or "/"

    def _check_body(self, where, operation, documented, response) -> None:
        content = documented.get("content", {})
        if response.mimetype not in content:
            raise ContractError(
                f"{where}: media type {response.mimetype} not in {sorted(content) or 'no body'}"
            )
        schema = content[response.mimetype].get("schema")
        if schema is not None and is_json(response.mimetype):
            self._validate(where, schema, json.loads(response.get_data()))

    def _validator(self, schema: dict):
        # A response is read by the client: the "read" validator also rejects
        # writeOnly properties in it, as the OpenAPI 3.0 rules say.
        components = self.spec.get("components", {})
        return OAS30ReadValidator(
            {**schema, "components": components}, format_checker=oas30_format_checker
        )


class Contract:
    """The whole contract: a response must satisfy every committed document."""

    def __init__(self, *documents: Document):
        self.documents = documents

    @classmethod
    def load(cls) -> "Contract":
        """Read both committed documents."""
        return cls(Swagger2Document.load(SPEC_FILE), OpenAPI3Document.load(OPENAPI3_FILE))

    def check(self, method: str, path: str, response) -> None:
        """Raise ``ContractError`` unless every document allows ``response``."""
        if "X-Request-ID" not in response.headers:
            raise ContractError(f"{method} {path} -> {response.status_code}: no X-Request-ID")
        for document in self.documents:
            document.check(method, path, response)


class ContractClient(FlaskClient):
    """The test client: every response is checked against the contract."""

    contract: Contract | None = None

    def open(self, *args, **kwargs):
        """Send the request, then check the response against the contract."""
        response = super().open(*args, **kwargs)
        if ContractClient.contract is None:
            ContractClient.contract = Contract.load()
        request = response.request
        ContractClient.contract.check(request.method, request.path, response)
        return response
