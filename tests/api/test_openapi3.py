"""The OpenAPI 3 document: valid, current, saying what Swagger 2.0 cannot, and served."""

import json

import pytest
from openapi_spec_validator import OpenAPIV30SpecValidator

import tools.openapi as openapi_tool
from api.docs.spec import openapi3_path, render_spec
from tests.contract import (
    OPENAPI3_FILE,
    SPEC_FILE,
    ContractError,
    OpenAPI3Document,
)
from tests.e2e.live import LiveResponse
from tests.helpers import operations
from tools.openapi import exported_documents
from tools.openapi.converter import ConversionError, _run_converter, convert, refine

PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def document():
    return json.loads(OPENAPI3_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def swagger():
    return json.loads(SPEC_FILE.read_text(encoding="utf-8"))


def test_the_file_is_valid_openapi_3_0(document):
    assert document["openapi"].startswith("3.0.")
    OpenAPIV30SpecValidator(document).validate()


def test_the_file_equals_a_fresh_export(app):
    fresh = exported_documents(app)[openapi3_path(app)]
    assert OPENAPI3_FILE.read_text(encoding="utf-8") == fresh, (
        "openapi/openapi.json is stale: run `make export` and commit it"
    )
    assert fresh.endswith("}\n")


def test_bearer_is_an_http_scheme_with_a_jwt_beside_an_oauth2_password_flow(document):
    schemes = document["components"]["securitySchemes"]
    assert schemes == {
        "Bearer": {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": schemes["Bearer"]["description"],
        },
        "OAuth2": {
            "type": "oauth2",
            "flows": {"password": {"tokenUrl": "/api/v1/auth/token", "scopes": {}}},
            "description": schemes["OAuth2"]["description"],
        },
    }
    token_url = schemes["OAuth2"]["flows"]["password"]["tokenUrl"]
    assert document["paths"][token_url]["post"]["security"] == []


def test_operations_taking_an_access_token_accept_either_scheme(document):
    protected = {
        operation["operationId"]: operation["security"]
        for _, _, operation in operations(document)
        if operation["security"]
    }
    assert len(protected) > 20
    # A refresh token is never what the Authorize dialog holds: it can only be pasted.
    assert protected.pop("refreshToken") == [{"Bearer": []}]
    assert all(security == [{"OAuth2": []}, {"Bearer": []}] for security in protected.values())


def test_problems_are_problem_json_only_and_successes_never(document):
    for path, method, operation in operations(document):
        for status, response in operation["responses"].items():
            content = response.get("content")
            if int(status) >= 400:
                assert list(content) == [PROBLEM], (method, path, status)
                assert content[PROBLEM]["schema"] == {"$ref": "#/components/schemas/Problem"}
                assert content[PROBLEM]["example"]["status"] == int(status)
            elif content:
                # JSON always, other representations (XML, CSV) where negotiated;
                # binary downloads (images, an export's CSV file) in their own types only.
                binary = {"format": "binary", "type": "string"}
                if all(value.get("schema") == binary for value in content.values()):
                    assert all(
                        media.startswith("image/") or media == "text/csv" for media in content
                    )
                else:
                    assert "application/json" in content, (method, path, status)
                assert PROBLEM not in content, (method, path, status)


def test_operation_ids_are_those_of_swagger_json(document, swagger):
    def ids(spec, prefix):
        return {
            (method, prefix + path): operation["operationId"]
            for path, method, operation in operations(spec)
        }

    assert ids(document, "") == ids(swagger, swagger["basePath"].rstrip("/"))


def test_everything_2_0_documents_survives_the_conversion(document, swagger):
    """Schemas, tags and info pass through unchanged; only their home moves."""
    schemas = json.dumps(swagger["definitions"], sort_keys=True)
    # Refs move home, and 2.0's x-nullable is 3.0's nullable (as refine() does).
    moved = json.loads(
        schemas.replace("#/definitions/", "#/components/schemas/").replace(
            '"x-nullable":', '"nullable":'
        )
    )
    # 3.0 also names each multipart body (2.0's formData parameters), after the
    # operation: those are the only schemas it adds.
    added = {
        name: schema
        for name, schema in document["components"]["schemas"].items()
        if name not in moved
    }
    form_operations = {
        operation["operationId"]
        for _, _, operation in operations(swagger)
        if any(p["in"] == "formData" for p in operation.get("parameters", []))
    }
    assert set(added) == {f"{operation_id}_request" for operation_id in form_operations}
    assert {name: document["components"]["schemas"][name] for name in moved} == moved
    assert document["info"] == swagger["info"]
    assert document["tags"] == swagger["tags"]


def test_the_converter_turns_x_nullable_into_nullable(app):
    swagger = render_spec(app)
    swagger["definitions"]["Problem"]["properties"]["detail"]["x-nullable"] = True
    converted = convert(swagger)["components"]["schemas"]["Problem"]["properties"]["detail"]
    assert converted["nullable"] is True
    assert "x-nullable" not in converted


def test_refine_leaves_its_input_alone_and_fails_on_a_response_without_its_media_type():
    converted = {
        "openapi": "3.0.1",
        "components": {
            "securitySchemes": {
                "Bearer": {"type": "apiKey", "in": "header", "name": "Authorization"}
            }
        },
        "paths": {
            "/x": {"get": {"responses": {"404": {"content": {"application/json": {}}}}}},
        },
    }
    before = json.dumps(converted, sort_keys=True)
    with pytest.raises(ConversionError, match="GET /x 404"):
        refine(converted)
    assert json.dumps(converted, sort_keys=True) == before


def test_openapi_check_fails_with_a_diff_when_openapi_json_drifts(
    app, tmp_path, monkeypatch, capsys
):
    drifted = tmp_path / "openapi.json"
    drifted.write_text(
        OPENAPI3_FILE.read_text().replace('"bearerFormat": "JWT"', '"bearerFormat": "x"')
    )
    monkeypatch.setattr("api.docs.spec.openapi3_path", lambda _app: drifted)
    assert openapi_tool.main(["check"], app=app) == 1
    output = capsys.readouterr().err
    lines = output.splitlines()
    assert any(line.startswith("-") and '"bearerFormat": "x"' in line for line in lines)
    assert any(line.startswith("+") and '"bearerFormat": "JWT"' in line for line in lines)
    assert "out of date" in output
    assert str(drifted) in output


def test_the_committed_file_is_served_with_an_etag(client, document):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_json() == json.loads(OPENAPI3_FILE.read_bytes())
    assert b"\n" not in response.get_data()  # served without the file's indentation
    again = client.get("/api/v1/openapi.json", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304
    assert again.get_data() == b""
    assert "/api/v1/openapi.json" not in document["paths"]


def test_a_missing_file_is_a_404_problem(client, monkeypatch, tmp_path):
    monkeypatch.setattr("api.docs.spec.openapi3_path", lambda _app: tmp_path / "openapi.json")
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 404
    assert response.mimetype == PROBLEM


class TestTheContractCheckReadsOpenAPI3:
    """``tests.contract`` holds every response to openapi.json's own rules."""

    @pytest.fixture(scope="class")
    def contract(self):
        return OpenAPI3Document.load(OPENAPI3_FILE)

    def respond(self, status, body, media="application/json"):
        headers = {"Content-Type": media, "X-Request-ID": "r"}
        return LiveResponse(status, _Headers(headers), json.dumps(body).encode())

    def test_a_valid_health_answer_passes(self, contract):
        contract.check("GET", "/health", self.respond(200, {"status": "ok"}))

    def test_a_problem_sent_as_plain_json_fails(self, contract):
        problem = {
            "type": "about:blank",
            "title": "Not Found",
            "status": 404,
            "detail": "d",
            "instance": "/api/v1/products/1",
            "request_id": "r",
        }
        with pytest.raises(ContractError, match=r"application/json not in \['application/problem"):
            contract.check("GET", "/api/v1/products/1", self.respond(404, problem))
        contract.check("GET", "/api/v1/products/1", self.respond(404, problem, PROBLEM))

    def test_a_body_that_breaks_the_schema_fails(self, contract):
        with pytest.raises(ContractError, match="body breaks the schema"):
            contract.check("GET", "/health", self.respond(200, {"status": 1}))

    def test_an_undocumented_status_fails(self, contract):
        with pytest.raises(ContractError, match="status not documented"):
            contract.check("GET", "/health", self.respond(418, {}))


class _Headers(dict):
    """Just enough of ``email.message.Message`` for ``LiveResponse``."""

    def get_content_type(self):
        return self["Content-Type"]


def test_a_missing_converter_is_a_clear_cli_error(app, monkeypatch, capsys):
    monkeypatch.setattr("tools.openapi.converter.shutil.which", lambda *_args, **_kwargs: None)
    monkeypatch.setattr("tools.openapi.converter._run_converter", _run_converter.__wrapped__)
    assert openapi_tool.main(["check"], app=app) == 1
    output = capsys.readouterr().err
    assert "openapi-generator-cli is not installed" in output
    assert "Traceback" not in output
