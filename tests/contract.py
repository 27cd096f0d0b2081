"""The contract check: every response a test sees must match openapi/swagger.json.

``ContractClient`` is the app's test client class, so no test can skip it: the
status must be documented for the operation, the media type must be one the
operation produces, and the body must validate against the documented schema.
Errors outside any operation (unknown URL, undeclared method) must be problems.
"""

import json
import re
from pathlib import Path

from flask.testing import FlaskClient
from jsonschema import Draft4Validator, FormatChecker

SPEC_FILE = Path(__file__).resolve().parent.parent / "openapi" / "swagger.json"
PROBLEM = "application/problem+json"
# Served beside the API, deliberately not operations of it.
OFF_SPEC = ("/docs", "/swaggerui/", "/api/v1/swagger.json")


class ContractError(AssertionError):
    """A response the contract does not allow."""


class Contract:
    """Looks up the operation for a request and validates its response."""

    def __init__(self, spec: dict):
        self.spec = spec
        self.definitions = spec.get("definitions", {})
        base = spec.get("basePath", "/").rstrip("/")
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
    def load(cls, path: Path = SPEC_FILE) -> "Contract":
        """Read the committed spec."""
        return cls(json.loads(path.read_text(encoding="utf-8")))

    def operation(self, method: str, path: str):
        """Return (template, operation or None), or (None, None) for an unknown path."""
        for pattern, template in self.routes:
            if pattern.match(path):
                return template, self.spec["paths"][template].get(method.lower())
        return None, None

    def check(self, method: str, path: str, response) -> None:
        """Raise ``ContractError`` unless ``response`` is allowed by the spec."""
        where = f"{method} {path} -> {response.status_code}"
        if "X-Request-ID" not in response.headers:
            raise ContractError(f"{where}: no X-Request-ID header")
        if method == "OPTIONS" or path.startswith(OFF_SPEC):
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
        body = response.get_data()
        if response.status_code in (204, 304):
            if body:
                raise ContractError(f"{where}: must have no body")
            return
        produces = operation.get("produces", self.spec.get("produces", []))
        if response.mimetype not in produces:
            raise ContractError(f"{where}: media type {response.mimetype} not in {produces}")
        schema = documented.get("schema")
        if schema is not None:
            self._validate(where, schema, json.loads(body))

    def _check_problem(self, where, response) -> None:
        if response.mimetype != PROBLEM:
            raise ContractError(f"{where}: error is {response.mimetype}, not {PROBLEM}")
        self._validate(where, {"$ref": "#/definitions/Problem"}, response.get_json(force=True))

    def _validate(self, where, schema, instance) -> None:
        validator = Draft4Validator(
            {**schema, "definitions": self.definitions}, format_checker=FormatChecker()
        )
        errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
        if errors:
            details = "; ".join(
                f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message[:200]}"
                for e in errors[:5]
            )
            raise ContractError(f"{where}: body breaks the schema: {details}")


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
