"""CORS for the ``CORS_ORIGINS`` allow-list: preflights, responses and errors.

Other origins get no CORS headers, preflights cost no rate limit, and a malformed
origin stops the app at startup.
"""

import pytest

from api.config import ConfigError
from api.hooks.cors import EXPOSED_HEADERS

ORIGIN = "https://shop.example.com"


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
