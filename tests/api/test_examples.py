"""Examples that tell the truth, in both documents: valid, one per status, safe to run.

Swagger UI pre-fills *Try it out* with them and Redoc shows them, so a person
runs them as they stand. Every request example validates against its schema;
every problem response has an example of its own status whose ``instance`` is
the operation's path; and every write example, executed as it stands by the
demo admin on freshly seeded demo data, deletes, renames or demotes nothing
that was there.
"""

import json
import re
from http import HTTPStatus
from urllib.parse import urlencode

import pytest
from flask_jwt_extended import create_access_token, create_refresh_token
from jsonschema import Draft4Validator, FormatChecker
from openapi_schema_validator import OAS30ReadValidator, OAS30WriteValidator, oas30_format_checker
from sqlalchemy import select

from models import db
from models.product import Product
from models.seed import DEMO_USERS, seed_demo_data
from models.user import User
from tests.contract import OPENAPI3_FILE, SPEC_FILE
from tests.databases import fresh_database
from tests.helpers import operations

PROBLEM = "application/problem+json"
FORM = "application/x-www-form-urlencoded"
OAUTH_MEMBERS = {"error", "error_description"}
SWAGGER = json.loads(SPEC_FILE.read_text(encoding="utf-8"))
OPENAPI3 = json.loads(OPENAPI3_FILE.read_text(encoding="utf-8"))
DOCUMENTS = [pytest.param(SWAGGER, id="swagger.json"), pytest.param(OPENAPI3, id="openapi.json")]


def _swagger_validator(schema: dict) -> Draft4Validator:
    return Draft4Validator(
        {**schema, "definitions": SWAGGER["definitions"]}, format_checker=FormatChecker()
    )


def _openapi3_validator(schema: dict, *, request: bool):
    # A request may not carry readOnly fields, a response no writeOnly ones.
    validator = OAS30WriteValidator if request else OAS30ReadValidator
    return validator(
        {**schema, "components": OPENAPI3["components"]}, format_checker=oas30_format_checker
    )


def _resolve(schema: dict) -> dict:
    if "$ref" in schema:
        return OPENAPI3["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _errors(validator, instance) -> list[str]:
    return [f"{list(e.absolute_path)}: {e.message[:120]}" for e in validator.iter_errors(instance)]


def _parameters(document: dict, path: str, operation: dict) -> list[dict]:
    return [*document["paths"][path].get("parameters", []), *operation.get("parameters", [])]


def _full_path(document: dict, path: str) -> str:
    return document.get("basePath", "").rstrip("/") + path


# --- request examples ---------------------------------------------------------------------


def test_every_swagger_2_body_example_validates_against_its_schema():
    checked = 0
    for path, method, operation in operations(SWAGGER):
        for parameter in operation.get("parameters", []):
            if parameter["in"] == "body":
                example = parameter["x-examples"]["application/json"]
                errors = _errors(_swagger_validator(parameter["schema"]), example)
                assert not errors, f"{method} {path}: {errors}"
                checked += 1
    assert checked >= 12


def test_every_openapi_3_request_body_has_a_valid_example():
    checked = 0
    for path, method, operation in operations(OPENAPI3):
        for media, content in operation.get("requestBody", {}).get("content", {}).items():
            if media == "multipart/form-data":
                continue  # a file to upload: nothing to prefill, nothing runs as it stands
            if media == FORM:
                # Form fields carry their examples one by one (from 2.0's x-example).
                schema = _resolve(content["schema"])
                example = {name: field["example"] for name, field in schema["properties"].items()}
            else:
                example = content["example"]
            errors = _errors(_openapi3_validator(content["schema"], request=True), example)
            assert not errors, f"{method} {path} {media}: {errors}"
            checked += 1
    assert checked >= 13


@pytest.mark.parametrize("document", DOCUMENTS)
def test_every_path_parameter_has_an_example_within_its_bounds(document):
    for path, method, operation in operations(document):
        for parameter in _parameters(document, path, operation):
            if parameter["in"] == "path":
                example = parameter.get("example", parameter.get("x-example"))
                schema = parameter.get("schema", parameter)
                assert isinstance(example, int), f"{method} {path} {parameter['name']}"
                assert schema["minimum"] <= example <= schema["maximum"]


def test_delete_examples_name_ids_the_demo_data_lacks():
    for path, method, operation in operations(OPENAPI3):
        if method == "delete":
            parameters = _parameters(OPENAPI3, path, operation)
            ids = [p["example"] for p in parameters if p["in"] == "path"]
            body = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
            ids += body.get("example", {}).get("ids", [])
            assert ids, f"{method} {path}"
            assert all(i > 1_000_000 for i in ids), f"{method} {path}: {ids}"


# --- problem examples ---------------------------------------------------------------------


def _problem_examples(document: dict):
    """Yield (path, method, status, response, example) for every problem response."""
    for path, method, operation in operations(document):
        for code, response in operation["responses"].items():
            if int(code) >= 400:
                if "content" in response:
                    example = response["content"][PROBLEM].get("example")
                else:
                    example = response.get("examples", {}).get(PROBLEM)
                yield path, method, int(code), response, example


@pytest.mark.parametrize("document", DOCUMENTS)
def test_every_problem_response_has_an_example_of_its_own_status(document):
    problem = (
        document["definitions"]["Problem"]
        if "definitions" in document
        else document["components"]["schemas"]["Problem"]
    )
    for path, method, status, _response, example in _problem_examples(document):
        where = f"{method} {path} {status}"
        assert example is not None, where
        assert example["status"] == status, where
        assert example["title"] == HTTPStatus(status).phrase, where
        assert example["type"] == "about:blank", where
        assert example["detail"], where
        assert "{" not in example["detail"], where  # every template filled in
        template = re.sub(r"\\\{[^}]+\\\}", "[0-9]+", re.escape(_full_path(document, path)))
        assert re.fullmatch(template, example["instance"]), where
        # Per-field messages belong to validation failures only.
        assert ("errors" in example) == (status in (400, 422) and "error" not in example), where
        if "definitions" in document:
            validator = _swagger_validator(problem)
        else:
            validator = _openapi3_validator(problem, request=False)
        assert not _errors(validator, example), where


def test_the_issue_s_example_no_longer_serves_every_status_of_create_product():
    responses = OPENAPI3["paths"]["/api/v1/products"]["post"]["responses"]
    details = {
        code: response["content"][PROBLEM]["example"]["detail"]
        for code, response in responses.items()
        if int(code) >= 400
    }
    assert set(details) == {"400", "401", "403", "406", "409", "413", "415", "422", "429", "500"}
    assert len(set(details.values())) == len(details)
    assert not any("42" in detail for detail in details.values())


@pytest.mark.parametrize("document", DOCUMENTS)
def test_the_oauth2_members_appear_on_the_token_endpoint_only(document):
    for path, method, status, _response, example in _problem_examples(document):
        token_error = path.endswith("/auth/token") and status in (400, 401)
        assert (set(example) >= OAUTH_MEMBERS) == token_error, f"{method} {path} {status}"
        if token_error:
            assert example["error_description"] == example["detail"]


def test_both_documents_carry_the_same_examples():
    for path, method, operation in operations(SWAGGER):
        converted = OPENAPI3["paths"][path][method]
        for code, response in operation["responses"].items():
            if "examples" in response:
                content = converted["responses"][code]["content"]
                assert content[PROBLEM]["example"] == response["examples"][PROBLEM]
        for parameter in operation.get("parameters", []):
            if parameter["in"] == "body":
                content = converted["requestBody"]["content"]["application/json"]
                assert content["example"] == parameter["x-examples"]["application/json"]


# --- running the write examples -----------------------------------------------------------


def _example_request(path: str, operation: dict) -> dict | None:
    """The request *Try it out* sends for ``operation`` as prefilled, or None if it cannot."""
    url = path
    for parameter in _parameters(OPENAPI3, path, operation):
        if parameter["in"] == "path":
            url = url.replace(f"{{{parameter['name']}}}", str(parameter["example"]))
    content = operation.get("requestBody", {}).get("content", {})
    if "multipart/form-data" in content:
        return None  # a file upload: Swagger UI asks for the file
    if FORM in content:
        fields = _resolve(content[FORM]["schema"])["properties"]
        body = urlencode({name: field["example"] for name, field in fields.items()})
        return {"path": url, "data": body, "content_type": FORM}
    if "application/json" in content:
        return {"path": url, "json": content["application/json"]["example"]}
    return {"path": url}


def _demo_state() -> dict:
    """What running an example must not take from the demo: who is who, what is what."""
    products = db.session.execute(
        select(Product.id, Product.sku, Product.name).where(Product.deleted_at.is_(None))
    )
    users = db.session.execute(
        select(User.id, User.email, User.role).where(User.deleted_at.is_(None))
    )
    return {
        "products": {row.id: (row.sku, row.name) for row in products},
        "users": {row.id: (row.email, row.role) for row in users},
    }


def _tokens(email: str) -> dict:
    user = db.session.scalar(select(User).where(User.email == email))
    return {"access": create_access_token(identity=user), "refresh": create_refresh_token(user)}


# What each write example answers when run as it stands, in the documents'
# order, on freshly seeded data: nothing refused as malformed, nothing deleted.
EXPECTED_STATUSES = {
    "register": 201,
    "login": 200,
    "issueToken": 200,
    "refreshToken": 200,
    "logout": 204,
    "changePassword": 403,  # its example names a wrong current password
    "createProduct": 201,
    "replaceProduct": 200,
    "updateProduct": 200,
    "deleteProduct": 404,
    "deleteProductImage": 404,
    "createProductsBulk": 201,
    "deleteProductsBulk": 200,
    "createOrder": 201,
    "updateOrderStatus": 200,
    "createOrderExport": 202,
    "createUser": 201,
    "replaceUser": 200,
    "updateUser": 200,
    "deleteUser": 404,
    "cancelJob": 404,
}


@pytest.fixture
def demo(build_app, tmp_path):
    """An app on a database of its own, freshly seeded, so the ids are the seed's on any server."""
    with fresh_database(tmp_path) as url:
        app = build_app(SQLALCHEMY_DATABASE_URI=url)
        with app.app_context():
            db.create_all()
            seed_demo_data()
        yield app
        with app.app_context():
            db.engine.dispose()


def test_every_write_example_run_by_the_demo_admin_keeps_the_demo_data(demo):
    client = demo.test_client()

    def in_app(function, *args):
        with demo.app_context():
            return function(*args)

    before = in_app(_demo_state)
    admin = next(login for login in DEMO_USERS if login.role == "admin")

    statuses = {}
    for path, method, operation in operations(OPENAPI3):
        request = _example_request(path, operation) if method != "get" else None
        if request is None:
            continue
        # A fresh token each time: the logout example revokes the one it is sent.
        tokens = in_app(_tokens, admin.email)
        token = tokens["refresh" if operation.get("x-token-type") == "refresh" else "access"]
        response = client.open(
            method=method.upper(), headers={"Authorization": f"Bearer {token}"}, **request
        )
        statuses[operation["operationId"]] = response.status_code

    assert statuses == EXPECTED_STATUSES
    after = in_app(_demo_state)
    for kind, records in before.items():
        kept = {key: after[kind].get(key) for key in records}
        assert kept == records, f"an example changed or removed demo {kind}"
    # They did run: the examples' new records exist beside the demo's.
    assert len(after["products"]) == len(before["products"]) + 3
    assert len(after["users"]) == len(before["users"]) + 2
