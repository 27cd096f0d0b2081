"""Cache-Control: tokens are never stored, and private data never lands in a shared cache.

RFC 6749 §5.1: a response carrying tokens is ``Cache-Control: no-store`` (and
``Pragma: no-cache``). A response to a request with credentials may hold that
user's data, so it is ``private``; public reads say nothing and stay cacheable.
"""

import pytest

from tests.conftest import PASSWORD, bearer

LOGIN = "/api/v1/auth/login"
REFRESH = "/api/v1/auth/refresh"
ME = "/api/v1/auth/me"


def test_login_answers_no_store(client, customer):
    response = client.post(LOGIN, json={"email": customer["email"], "password": PASSWORD})

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Pragma"] == "no-cache"


def test_refresh_answers_no_store(client, customer):
    response = client.post(REFRESH, headers=bearer(customer["refresh"]))

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Pragma"] == "no-cache"


@pytest.fixture
def private_urls(customer, make_product, client) -> list[str]:
    """Operations whose answer is one user's data."""
    product = make_product()
    order = client.post(
        "/api/v1/orders",
        headers=bearer(customer["access"]),
        json={"items": [{"product_id": product, "quantity": 1}]},
    ).get_json()
    return [
        ME,
        f"/api/v1/users/{customer['id']}",
        f"/api/v1/users/{customer['id']}/orders",
        "/api/v1/orders",
        f"/api/v1/orders/{order['id']}",
    ]


def test_private_data_is_cache_control_private(client, customer, private_urls):
    for url in private_urls:
        response = client.get(url, headers=bearer(customer["access"]))

        assert response.status_code == 200, url
        assert response.headers["Cache-Control"] == "private", url


def test_a_not_modified_answer_is_private_too(client, customer):
    etag = client.get(ME, headers=bearer(customer["access"])).headers["ETag"]

    response = client.get(ME, headers={**bearer(customer["access"]), "If-None-Match": etag})

    assert response.status_code == 304
    assert response.headers["Cache-Control"] == "private"


def test_a_write_with_credentials_is_private(client, customer):
    response = client.patch(
        f"/api/v1/users/{customer['id']}",
        headers=bearer(customer["access"]),
        json={"name": "Renamed"},
    )

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "private"


def test_a_public_read_without_credentials_sets_no_cache_control(client, make_product):
    make_product()

    response = client.get("/api/v1/products")

    assert response.status_code == 200
    assert "Cache-Control" not in response.headers
