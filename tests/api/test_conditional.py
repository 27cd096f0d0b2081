"""ETags, 304 Not Modified and 412 Precondition Failed on every single resource."""

import pytest

from tests.conftest import bearer

PRODUCT = "/api/v1/products/{}"


@pytest.fixture
def product(make_product):
    return PRODUCT.format(make_product())


def test_a_resource_carries_its_version_as_etag(client, product, admin_headers):
    first = client.get(product)
    assert first.headers["ETag"] == '"1"'

    changed = client.patch(product, json={"stock": 9}, headers=admin_headers)

    assert changed.headers["ETag"] == '"2"'
    assert client.get(product).headers["ETag"] == '"2"'


def test_if_none_match_with_the_current_etag_is_a_bodiless_304(client, product):
    etag = client.get(product).headers["ETag"]

    response = client.get(product, headers={"If-None-Match": etag})

    assert response.status_code == 304
    assert response.get_data() == b""
    assert response.headers["ETag"] == etag


def test_if_none_match_with_an_old_etag_gets_the_new_body(client, product, admin_headers):
    old = client.get(product).headers["ETag"]
    client.patch(product, json={"name": "Renamed"}, headers=admin_headers)

    response = client.get(product, headers={"If-None-Match": old})

    assert response.status_code == 200
    assert response.get_json()["name"] == "Renamed"


@pytest.mark.parametrize(
    ("method", "body"),
    [
        ("PUT", {"sku": "NEW-1", "name": "New", "price_cents": 5}),
        ("PATCH", {"stock": 1}),
        ("DELETE", None),
    ],
)
def test_a_stale_if_match_is_a_412_and_changes_nothing(
    client, product, admin_headers, method, body
):
    stale = client.get(product).headers["ETag"]
    client.patch(product, json={"name": "Someone else's edit"}, headers=admin_headers)
    before = client.get(product).get_json()

    response = client.open(
        product, method=method, json=body, headers={**admin_headers, "If-Match": stale}
    )

    assert response.status_code == 412
    assert "version 2" in response.get_json()["detail"]
    assert client.get(product).get_json() == before


@pytest.mark.parametrize("if_match", ['"1"', "*", '"7", "1"', "1"])
def test_a_current_or_wildcard_if_match_lets_the_write_through(
    client, product, admin_headers, if_match
):
    response = client.patch(
        product, json={"stock": 3}, headers={**admin_headers, "If-Match": if_match}
    )

    assert response.status_code == 200
    assert response.get_json()["stock"] == 3


def test_an_if_match_that_is_no_version_of_ours_never_matches(client, product, admin_headers):
    response = client.patch(
        product, json={"stock": 3}, headers={**admin_headers, "If-Match": '"abc"'}
    )

    assert response.status_code == 412


def test_two_editors_cannot_overwrite_each_other(client, product, admin_headers):
    etag = client.get(product).headers["ETag"]
    first = client.patch(
        product, json={"name": "Alice's"}, headers={**admin_headers, "If-Match": etag}
    )
    second = client.patch(
        product, json={"name": "Bob's"}, headers={**admin_headers, "If-Match": etag}
    )

    assert (first.status_code, second.status_code) == (200, 412)
    assert client.get(product).get_json()["name"] == "Alice's"


def test_users_orders_and_me_are_conditional_too(client, customer, make_product, admin_headers):
    headers = bearer(customer["access"])
    user = f"/api/v1/users/{customer['id']}"
    order = client.post(
        "/api/v1/orders",
        json={"items": [{"product_id": make_product(), "quantity": 1}]},
        headers=headers,
    ).get_json()
    order_url = f"/api/v1/orders/{order['id']}"

    for url in (user, order_url, "/api/v1/auth/me"):
        etag = client.get(url, headers=headers).headers["ETag"]
        assert client.get(url, headers={**headers, "If-None-Match": etag}).status_code == 304

    stale = client.get(order_url, headers=headers).headers["ETag"]
    client.patch(order_url, json={"status": "paid"}, headers=admin_headers)
    refused = client.patch(
        order_url, json={"status": "cancelled"}, headers={**headers, "If-Match": stale}
    )
    assert refused.status_code == 412

    stale = client.get(user, headers=headers).headers["ETag"]
    client.patch(user, json={"name": "New name"}, headers=headers)
    assert (
        client.patch(user, json={"age": 40}, headers={**headers, "If-Match": stale}).status_code
        == 412
    )
    assert client.delete(user, headers={**admin_headers, "If-Match": stale}).status_code == 412
