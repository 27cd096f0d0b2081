"""The exported contract: valid, current, and consistent with the conventions."""

import json

import pytest
from openapi_spec_validator import validate

import tools.openapi as openapi_tool
from api.docs.spec import render_spec, serialize, spec_path
from tests.contract import OPENAPI3_FILE, SPEC_FILE
from tests.helpers import operations


@pytest.fixture(scope="module")
def spec():
    return json.loads(SPEC_FILE.read_text(encoding="utf-8"))


def test_exported_spec_is_valid_swagger_2(spec):
    validate(spec)


def test_exported_spec_equals_a_fresh_export(app):
    assert SPEC_FILE.read_text(encoding="utf-8") == serialize(render_spec(app)), (
        "openapi/swagger.json is stale: run `make export` and commit it"
    )


def test_export_is_stable_across_renders(app):
    assert serialize(render_spec(app)) == serialize(render_spec(app))


def test_openapi_check_fails_with_a_diff_when_the_file_drifts(app, tmp_path, monkeypatch, capsys):
    drifted = tmp_path / "openapi" / "swagger.json"
    drifted.parent.mkdir()
    drifted.write_text(SPEC_FILE.read_text().replace('"Storefront API"', '"Old title"'))
    monkeypatch.setattr("api.docs.spec.spec_path", lambda _app: drifted)
    assert openapi_tool.main(["check"], app=app) == 1
    output = capsys.readouterr().err
    assert '-    "title": "Old title",' in output
    assert '+    "title": "Storefront API",' in output
    assert "out of date" in output


def test_openapi_check_passes_on_the_committed_file(app, capsys):
    assert openapi_tool.main(["check"], app=app) == 0, capsys.readouterr().err
    assert spec_path(app) == SPEC_FILE


def test_operation_ids_are_explicit_and_unique(spec):
    ids = [operation.get("operationId") for _, _, operation in operations(spec)]
    assert all(ids), "every operation needs @ns.doc(id=...)"
    assert len(ids) == len(set(ids))
    # restx's generated ids look like get_product_item: none may remain.
    assert not [i for i in ids if "_" in i]


def test_every_operation_declares_its_security(spec):
    for path, method, operation in operations(spec):
        assert "security" in operation, f"{method} {path}: mark it public() or auth_required()"
        if operation["security"]:
            assert "401" in operation["responses"], f"{method} {path}: protected without a 401"


def test_every_operation_has_a_summary_and_produces_problems(spec):
    for path, method, operation in operations(spec):
        assert operation.get("summary"), f"{method} {path} has no docstring"
        assert "application/problem+json" in operation["produces"]


@pytest.mark.parametrize("document", [SPEC_FILE, OPENAPI3_FILE], ids=lambda path: path.name)
def test_every_operation_has_a_description_beyond_its_summary(document):
    # restx takes the summary from a method docstring's first line and the
    # description from the paragraphs after it: SDKs and Redoc show both.
    missing = [
        f"{method} {path}"
        for path, method, operation in operations(json.loads(document.read_text(encoding="utf-8")))
        if not (operation.get("description") or "").strip()
        or operation["description"].strip() == (operation.get("summary") or "").strip()
    ]
    assert not missing, f"add a description after the docstring's summary line: {missing}"


def test_every_error_response_is_a_problem(spec):
    for path, method, operation in operations(spec):
        for code, response in operation["responses"].items():
            if int(code) >= 400:
                assert response["schema"] == {"$ref": "#/definitions/Problem"}, (method, path, code)


def test_rate_limited_operations_document_429(spec):
    for path, method, operation in operations(spec):
        if path in ("/health", "/ready"):
            assert "429" not in operation["responses"]
        else:
            assert "429" in operation["responses"], f"{method} {path}"


def test_body_operations_document_body_failures(spec):
    for path, method, operation in operations(spec):
        if any(p["in"] == "body" for p in operation.get("parameters", [])):
            for code in ("400", "413", "415", "422"):
                assert code in operation["responses"], f"{method} {path} lacks {code}"


def test_input_models_reject_unknown_fields(spec):
    for _path, _method, operation in operations(spec):
        for parameter in operation.get("parameters", []):
            if parameter["in"] == "body":
                name = parameter["schema"]["$ref"].rsplit("/", 1)[1]
                assert spec["definitions"][name]["additionalProperties"] is False, name


def test_created_responses_document_location(spec):
    for _path, _method, operation in operations(spec):
        if "201" in operation["responses"]:
            assert "Location" in operation["responses"]["201"]["headers"]


def test_no_global_responses_leak_from_error_handlers(spec):
    assert "responses" not in spec


def test_bearer_scheme_is_declared(spec):
    assert spec["securityDefinitions"]["Bearer"]["in"] == "header"
    assert spec["securityDefinitions"]["Bearer"]["name"] == "Authorization"


def test_spec_is_served_with_an_etag_and_revalidates(client):
    response = client.get("/api/v1/swagger.json")
    assert response.status_code == 200
    # The committed document, without the indentation that keeps its diffs readable.
    assert response.get_json() == json.loads(SPEC_FILE.read_text(encoding="utf-8"))
    assert b"\n" not in response.get_data()
    assert len(response.get_data()) < 0.8 * SPEC_FILE.stat().st_size
    again = client.get("/api/v1/swagger.json", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304
    assert again.get_data() == b""


def test_docs_page_uses_local_assets_only(client):
    response = client.get("/docs")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "/api/v1/swagger.json" in page
    assert "//cdn" not in page
    assert "unpkg.com" not in page


def test_every_field_is_described_with_an_example(spec):
    for name, definition in spec["definitions"].items():
        for field, schema in definition.get("properties", {}).items():
            if "$ref" in schema:
                continue  # described by the referenced model
            assert schema.get("description"), f"{name}.{field} has no description"
            assert "example" in schema or schema.get("type") == "array", f"{name}.{field}"


def test_every_tag_is_described(spec):
    assert all(tag.get("description") for tag in spec["tags"])
