"""The exported contract: valid, current, and consistent with the conventions."""

import json
import re

import pytest
from openapi_spec_validator import validate

import tools.openapi as openapi_tool
from api.docs.spec import reflow, render_spec, serialize, spec_path
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


def test_flask_openapi_check_is_the_same_check(app):
    from wsgi import openapi_command  # imported here: it builds its own app

    app.cli.add_command(openapi_command)
    passed = app.test_cli_runner().invoke(args=["openapi", "check"])
    unknown = app.test_cli_runner().invoke(args=["openapi", "verify"])

    assert (passed.exit_code, unknown.exit_code) == (0, 2), passed.output
    assert "matches the code" in passed.output


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
    # Swagger UI shows the OpenAPI 3 document, whose OAuth2 flow its dialog logs in with.
    assert 'data-spec-url="/api/v1/openapi.json"' in page
    assert "//cdn" not in page
    assert "unpkg.com" not in page
    assert "http://" not in page
    assert "https://" not in page


def test_every_field_is_described_with_an_example(spec):
    for name, definition in spec["definitions"].items():
        for field, schema in definition.get("properties", {}).items():
            if "$ref" in schema:
                continue  # described by the referenced model
            assert schema.get("description"), f"{name}.{field} has no description"
            assert "example" in schema or schema.get("type") == "array", f"{name}.{field}"


def test_every_tag_is_described(spec):
    assert all(tag.get("description") for tag in spec["tags"])


# --- the order of the story, and text that reflows ----------------------------------------

DOCUMENTS = [SPEC_FILE, OPENAPI3_FILE]
# The order a person works: log in; then, per collection, list, create, read,
# replace, update, delete.
STORY = {
    "auth": ["register", "login", "issueToken", "refreshToken", "getCurrentUser", "logout"],
    "products": [
        "listProducts",
        "createProduct",
        "getProduct",
        "replaceProduct",
        "updateProduct",
        "deleteProduct",
    ],
    "orders": ["listOrders", "createOrder", "getOrder", "updateOrderStatus"],
    "users": ["listUsers", "createUser", "getUser", "replaceUser", "updateUser", "deleteUser"],
    # Long work started elsewhere (imports, exports) is followed here.
    "jobs": ["listJobs", "getJob", "cancelJob"],
    "health": ["getHealth", "getReadiness"],
}
METHOD_ORDER = ["get", "post", "put", "patch", "delete"]


def _in_document_order(spec: dict):
    """Yield (tag, method, operation) as the file lists them."""
    for item in spec["paths"].values():
        for method, operation in item.items():
            if method in METHOD_ORDER:
                yield operation["tags"][0], method, operation


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.name)
def test_tags_and_operations_are_in_the_order_of_the_story(document):
    spec = json.loads(document.read_text(encoding="utf-8"))
    assert [tag["name"] for tag in spec["tags"]] == list(STORY)
    by_tag: dict[str, list[str]] = {}
    for tag, _method, operation in _in_document_order(spec):
        by_tag.setdefault(tag, []).append(operation["operationId"])
    assert list(by_tag) == list(STORY)  # a tag's operations are together, tags in order
    for tag, story in STORY.items():
        assert by_tag[tag][: len(story)] == story, tag
    for path, item in spec["paths"].items():
        methods = [method for method in item if method in METHOD_ORDER]
        assert methods == sorted(methods, key=METHOD_ORDER.index), path


def test_the_export_orders_what_it_is_given_and_sorts_the_rest(app):
    swagger = render_spec(app)
    text = serialize(swagger)
    assert text.index('"/api/v1/auth/register"') < text.index('"/api/v1/auth/login"')
    assert text.index('"/api/v1/products"') < text.index('"/api/v1/orders"')
    # Everything but the paths is sorted, as before: definitions, properties.
    definitions = list(json.loads(text)["definitions"])
    assert definitions == sorted(definitions)
    assert list(json.loads(text))[:3] == ["swagger", "info", "basePath"]


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.name)
def test_descriptions_are_markdown_paragraphs_that_reflow(document):
    spec = json.loads(document.read_text(encoding="utf-8"))
    texts = {"info": spec["info"]["description"]}
    texts.update({f"tag {tag['name']}": tag["description"] for tag in spec["tags"]})
    for _tag, method, operation in _in_document_order(spec):
        texts[f"{method} {operation['operationId']}"] = operation.get("description", "")
    for where, text in texts.items():
        for paragraph in text.split("\n\n"):
            # Only a list item or indented code may start a line of its own.
            for line in paragraph.split("\n")[1:]:
                assert re.match(r"(\s*([-*+]|\d+\.)\s|    )", line), f"{where}: {line!r}"


def test_reflow_joins_wrapped_lines_and_keeps_lists_and_paragraphs():
    text = "One sentence\nwrapped.\n\nA list:\n- first\n  continued\n- second\n\n    code\n    more"
    assert reflow(text) == (
        "One sentence wrapped.\n\nA list:\n- first continued\n- second\n\n    code\n    more"
    )
