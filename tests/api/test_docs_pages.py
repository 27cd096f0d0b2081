"""The docs pages and their assets, through the test client (the browser test renders them)."""

import pytest

from api.docs.pages import BUNDLE_KEY, SWAGGER_UI_KEY


@pytest.mark.parametrize(("path", "status"), [("/", 302), ("/docs/", 308)])
def test_the_root_and_docs_with_a_slash_redirect_to_the_docs(client, path, status):
    response = client.get(path)
    assert response.status_code == status
    assert response.headers["Location"] == "/docs"


def test_behind_a_proxy_the_redirect_stays_under_its_prefix(build_app):
    client = build_app(BEHIND_PROXY=True).test_client()
    response = client.get("/", headers={"X-Forwarded-Prefix": "/shop"})
    assert response.headers["Location"] == "/shop/docs"


def test_swagger_ui_loads_its_bundle_and_settings_from_the_app(client):
    response = client.get("/docs")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert '<script src="/swaggerui/swagger-ui-bundle.js">' in page
    assert '<script src="/docs/static/swagger-ui-init.js">' in page
    with client.get("/docs/static/swagger-ui-init.js") as init:
        settings = init.get_data(as_text=True)
    assert init.status_code == 200
    assert "persistAuthorization: true" in settings
    assert "validatorUrl: null" in settings  # never a request to validator.swagger.io
    with client.get("/swaggerui/swagger-ui-bundle.js") as bundle:
        assert bundle.status_code == 200
        # Swagger UI 5 (drf-spectacular-sidecar): OpenAPI 3 and the OAuth2 password flow.
        assert b'PACKAGE_VERSION:"5.' in bundle.get_data()


def test_the_redoc_page_loads_the_spec_and_the_local_bundle(client):
    response = client.get("/redoc")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert '<redoc spec-url="/api/v1/openapi.json">' in page
    assert '<script src="/redoc/redoc.standalone.js">' in page
    assert "http://" not in page
    assert "https://" not in page
    # The browser may fetch nothing from elsewhere (Redoc's CDN logo included).
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]


def test_the_redoc_script_is_served_and_revalidated_by_etag(client):
    # buffered: read the file and close it, as a WSGI server does after sending it.
    script = client.get("/redoc/redoc.standalone.js", buffered=True)
    assert script.status_code == 200
    assert script.mimetype == "text/javascript"
    assert script.content_length > 500_000
    assert b"Redoc" in script.get_data()[:1000]
    # Its only request elsewhere, Redocly's logo, points at an inline image instead.
    assert b"cdn.redoc.ly" not in script.get_data()
    again = client.get(
        "/redoc/redoc.standalone.js",
        headers={"If-None-Match": script.headers["ETag"]},
        buffered=True,
    )
    assert again.status_code == 304


@pytest.mark.parametrize(
    ("key", "path"),
    [
        (BUNDLE_KEY, "/redoc"),
        (BUNDLE_KEY, "/redoc/redoc.standalone.js"),
        (SWAGGER_UI_KEY, "/docs"),
        (SWAGGER_UI_KEY, "/swaggerui/swagger-ui-bundle.js"),
    ],
)
def test_without_the_assets_the_pages_answer_a_problem_saying_how_to_install_them(
    app, client, monkeypatch, key, path
):
    monkeypatch.setitem(app.extensions, key, None)
    response = client.get(path)
    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"
    assert "make assets" in response.json["detail"]
