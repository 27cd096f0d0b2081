"""The edges: security headers, CSP, HSTS behind a proxy, CORS, compression."""

import base64
import gzip
import hashlib
import re

import brotli
import pytest
from flask.testing import FlaskClient

from api.config import ConfigError
from api.hooks.cors import EXPOSED_HEADERS
from api.hooks.security_headers import API_POLICY, HSTS, _add_security_headers

ORIGIN = "https://shop.example.com"
NEW_PRODUCT = {"sku": "EDGE-001", "name": "Edge mug", "price_cents": 900, "stock": 2}
# The Swagger UI page loads its spec from this attribute of its inline script.
SPEC_URL = re.compile(r'url: "([^"]*)"')


def _directives(policy: str) -> dict[str, str]:
    """A Content-Security-Policy as {directive: sources}."""
    return dict(part.strip().partition(" ")[::2] for part in policy.split(";"))


def _sha256(text: str) -> str:
    return f"'sha256-{base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()}'"


# --- security headers ---------------------------------------------------------------------


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


def test_the_docs_policy_allows_exactly_the_inline_code_of_the_page(client):
    response = client.get("/docs")
    page = response.get_data(as_text=True)
    (script,) = re.findall(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", page, re.DOTALL)
    (style,) = re.findall(r"<style[^>]*>(.*?)</style>", page, re.DOTALL)
    (style_attribute,) = re.findall(r'\sstyle="([^"]*)"', page)

    csp = _directives(response.headers["Content-Security-Policy"])

    assert csp["default-src"] == "'none'"
    assert csp["script-src"] == f"'self' {_sha256(script)}"
    assert csp["style-src"] == f"'self' {_sha256(style)} 'unsafe-hashes' {_sha256(style_attribute)}"
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


# --- behind a proxy -----------------------------------------------------------------------


FORWARDED_HTTPS = {
    "X-Forwarded-For": "203.0.113.9",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "api.example.com",
}


def test_behind_a_proxy_docs_load_the_spec_over_the_clients_https(build_app):
    client = build_app(BEHIND_PROXY=True).test_client()

    response = client.get("/docs", headers=FORWARDED_HTTPS)

    assert response.status_code == 200
    assert response.headers["Strict-Transport-Security"] == HSTS
    page = response.get_data(as_text=True)
    # Relative: the browser resolves it against the https page it is on.
    assert SPEC_URL.search(page).group(1) == "/api/v1/swagger.json"
    assert "http://api.example.com" not in page
    assert "http://localhost" not in page


def test_behind_a_proxy_with_a_prefix_docs_find_the_spec_under_it(build_app):
    client = build_app(BEHIND_PROXY=True).test_client()

    response = client.get("/docs", headers={**FORWARDED_HTTPS, "X-Forwarded-Prefix": "/shop"})

    page = response.get_data(as_text=True)
    assert SPEC_URL.search(page).group(1) == "/shop/api/v1/swagger.json"
    assert 'href="/shop/swaggerui/swagger-ui.css"' in page


def test_forwarded_headers_are_ignored_unless_behind_a_proxy(client):
    response = client.get("/docs", headers=FORWARDED_HTTPS)

    assert "Strict-Transport-Security" not in response.headers


# --- CORS ---------------------------------------------------------------------------------


@pytest.fixture
def cors_client(build_app):
    return build_app(CORS_ORIGINS=[ORIGIN, "http://localhost:3000"]).test_client()


def _preflight(client, path="/api/v1/products", origin=ORIGIN, method="POST"):
    return client.options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )


def test_a_preflight_from_an_allowed_origin_is_answered(cors_client):
    response = _preflight(cors_client)

    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    allowed_methods = response.headers["Access-Control-Allow-Methods"].split(", ")
    assert {"GET", "POST", "PUT", "PATCH", "DELETE"} <= set(allowed_methods)
    allowed_headers = response.headers["Access-Control-Allow-Headers"].lower()
    assert {"authorization", "content-type"} <= set(allowed_headers.split(", "))
    assert response.headers["Access-Control-Max-Age"] == "600"
    assert "Access-Control-Allow-Credentials" not in response.headers


def test_a_preflight_for_a_protected_operation_needs_no_token(cors_client, make_product):
    product_id = make_product()

    response = _preflight(cors_client, f"/api/v1/products/{product_id}", method="PATCH")

    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN


def test_a_response_to_an_allowed_origin_exposes_the_headers_clients_read(cors_client):
    response = cors_client.get("/api/v1/products", headers={"Origin": ORIGIN})

    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    exposed = set(response.headers["Access-Control-Expose-Headers"].split(", "))
    expected = {"Location", "ETag", "Link", "X-Request-ID", "Retry-After"}
    expected |= {"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"}
    assert expected <= exposed == set(EXPOSED_HEADERS)
    assert "Origin" in response.headers["Vary"]


def test_errors_carry_cors_headers_so_the_browser_can_read_the_problem(cors_client):
    response = cors_client.get("/api/v1/products/999", headers={"Origin": ORIGIN})

    assert response.status_code == 404
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN


@pytest.mark.parametrize(
    "origin",
    ["https://evil.example.com", "http://shop.example.com", "https://shop.example.com.evil"],
)
def test_other_origins_get_no_cors_headers(cors_client, origin):
    preflight = _preflight(cors_client, origin=origin)
    simple = cors_client.get("/api/v1/products", headers={"Origin": origin})

    for response in (preflight, simple):
        assert "Access-Control-Allow-Origin" not in response.headers
        assert "Access-Control-Allow-Methods" not in response.headers


def test_without_cors_origins_no_origin_is_allowed(client):
    response = _preflight(client)

    assert "Access-Control-Allow-Origin" not in response.headers


def test_preflights_do_not_use_up_the_rate_limit(build_app):
    client = build_app(
        CORS_ORIGINS=[ORIGIN], RATELIMIT_ENABLED=True, RATELIMIT_DEFAULT="2 per minute"
    ).test_client()

    preflights = [_preflight(client, method="GET").status_code for _ in range(5)]
    requests = [client.get("/api/v1/products", headers={"Origin": ORIGIN}) for _ in range(3)]

    assert preflights == [200] * 5
    assert [r.status_code for r in requests] == [200, 200, 429]
    assert requests[2].headers["Access-Control-Allow-Origin"] == ORIGIN


@pytest.mark.parametrize(
    "origin",
    [
        "https://shop.example.com/",
        "https://shop.example.com/app",
        "shop.example.com",
        "https://*.example.com",
        "ftp://shop.example.com",
        "https://shop.example.com:port",
    ],
)
def test_a_malformed_cors_origin_is_refused_at_startup(build_app, origin):
    with pytest.raises(ConfigError, match="CORS_ORIGINS"):
        build_app(CORS_ORIGINS=[origin])


# --- compression --------------------------------------------------------------------------


def test_large_responses_are_compressed_for_clients_that_accept_it(client):
    plain = client.get("/api/v1/swagger.json")
    zipped = client.get("/api/v1/swagger.json", headers={"Accept-Encoding": "gzip"})
    broken = client.get("/api/v1/swagger.json", headers={"Accept-Encoding": "br"})

    assert "Content-Encoding" not in plain.headers
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert broken.headers["Content-Encoding"] == "br"
    assert gzip.decompress(zipped.get_data()) == plain.get_data()
    assert brotli.decompress(broken.get_data()) == plain.get_data()
    assert len(zipped.get_data()) < len(plain.get_data()) / 3
    for response in (plain, zipped, broken):
        assert "Accept-Encoding" in response.headers["Vary"]


def test_a_compressed_representation_has_its_own_etag_and_revalidates(client):
    headers = {"Accept-Encoding": "gzip"}
    plain_etag = client.get("/api/v1/swagger.json").headers["ETag"]
    zipped = client.get("/api/v1/swagger.json", headers=headers)

    again = client.get(
        "/api/v1/swagger.json", headers={**headers, "If-None-Match": zipped.headers["ETag"]}
    )

    assert zipped.headers["ETag"] == plain_etag.removesuffix('"') + ':gzip"'
    assert again.status_code == 304
    assert again.get_data() == b""


def test_swagger_ui_assets_are_compressed(client):
    bundle = "/swaggerui/swagger-ui-bundle.js"
    with client.get(bundle, headers={"Accept-Encoding": "br"}) as response:
        body = brotli.decompress(response.get_data())

    assert response.status_code == 200
    assert response.headers["Content-Encoding"] == "br"
    assert body.startswith(b"/*")


def test_small_responses_are_not_compressed(client):
    response = client.get("/health", headers={"Accept-Encoding": "gzip, br"})

    assert response.status_code == 200
    assert "Content-Encoding" not in response.headers
    assert response.get_json() == {"status": "ok"}


def test_a_compressed_copy_revalidates_and_is_edited_with_its_own_etag(
    app, client, admin_headers, make_product
):
    path = f"/api/v1/products/{make_product(description='A long story. ' * 200)}"
    # Read compressed, as a browser would; the contract client cannot read compressed bodies.
    browser = FlaskClient(app)
    read = browser.get(path, headers={"Accept-Encoding": "gzip"})
    tag = read.headers["ETag"]

    revalidated = browser.get(path, headers={"Accept-Encoding": "gzip", "If-None-Match": tag})
    edited = client.patch(path, json={"stock": 1}, headers={**admin_headers, "If-Match": tag})
    stale = client.patch(path, json={"stock": 2}, headers={**admin_headers, "If-Match": tag})

    assert read.headers["Content-Encoding"] == "gzip"
    assert tag == '"1:gzip"'
    assert revalidated.status_code == 304
    assert edited.status_code == 200
    assert stale.status_code == 412
