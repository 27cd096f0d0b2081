"""Security headers on every response: nosniff, frames, referrer, CSP, and HSTS over https.

The API's policy allows nothing; the docs page's allows the app's own scripts and
styles and no inline code (it has none), and a policy a view sets itself is kept.
"""

import re

import pytest

from api.hooks.security_headers import API_POLICY, HSTS, _add_security_headers

NEW_PRODUCT = {"sku": "EDGE-001", "name": "Edge mug", "price_cents": 900, "stock": 2}


def _directives(policy: str) -> dict[str, str]:
    """A Content-Security-Policy as {directive: sources}."""
    return dict(part.strip().partition(" ")[::2] for part in policy.split(";"))


REQUESTS = [
    pytest.param("GET", "/health", id="probe"),
    pytest.param("GET", "/api/v1/products", id="collection"),
    pytest.param("GET", "/api/v1/products/999", id="404-problem"),
    pytest.param("GET", "/nowhere", id="unknown-url"),
    pytest.param("DELETE", "/health", id="405-problem"),
    pytest.param("GET", "/api/v1/swagger.json", id="spec"),
    pytest.param("GET", "/swaggerui/swagger-ui.css", id="static-file"),
    pytest.param("OPTIONS", "/api/v1/products", id="options"),
]


@pytest.mark.parametrize(("method", "path"), REQUESTS)
def test_every_response_carries_the_security_headers(client, method, path):
    with client.open(path, method=method) as response:
        response.get_data()

    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Content-Security-Policy"] == API_POLICY
    assert "Strict-Transport-Security" not in response.headers  # plain http


def test_created_and_deleted_responses_carry_them_too(client, admin_headers):
    created = client.post("/api/v1/products", json=NEW_PRODUCT, headers=admin_headers)
    deleted = client.delete(created.headers["Location"], headers=admin_headers)

    assert (created.status_code, deleted.status_code) == (201, 204)
    for response in (created, deleted):
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Content-Security-Policy"] == API_POLICY


def test_the_api_policy_allows_nothing():
    assert _directives(API_POLICY) == {"default-src": "'none'", "frame-ancestors": "'none'"}


def test_a_policy_set_by_the_view_is_kept(app):
    with app.test_request_context("/redoc"):
        response = app.response_class("<html></html>", mimetype="text/html")
        response.headers["Content-Security-Policy"] = "default-src 'self'"

        _add_security_headers(response)

    assert response.headers["Content-Security-Policy"] == "default-src 'self'"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_the_docs_page_has_no_inline_code_and_its_policy_allows_none(client):
    response = client.get("/docs")
    page = response.get_data(as_text=True)
    # Swagger UI's settings are a script file of the app's own (api/docs/static).
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", page) == []
    assert "<style" not in page
    assert re.findall(r"\sstyle=", page) == []
    assert re.findall(r"\son[a-z]+=", page) == []

    csp = _directives(response.headers["Content-Security-Policy"])

    assert csp["default-src"] == "'none'"
    assert csp["script-src"] == "'self'"
    assert csp["style-src"] == "'self'"
    assert csp["connect-src"] == "'self'"
    assert csp["img-src"] == "'self' data:"
    assert csp["frame-ancestors"] == "'none'"
    assert "'unsafe-inline'" not in response.headers["Content-Security-Policy"]
    assert "'unsafe-eval'" not in response.headers["Content-Security-Policy"]


def test_hsts_is_sent_over_https_only(client):
    secure = client.get("/health", base_url="https://localhost")
    plain = client.get("/health")

    assert secure.headers["Strict-Transport-Security"] == HSTS
    assert "Strict-Transport-Security" not in plain.headers
