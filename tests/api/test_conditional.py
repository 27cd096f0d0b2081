"""ETags, 304 Not Modified and 412 Precondition Failed on every single resource."""

import importlib

import pytest
from sqlalchemy import update

from models import Order, Product, User, db
from tests.conftest import bearer
from tests.helpers import assert_problem

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


# --- If-Match under concurrency, and If-Match that names nothing --------------------------


@pytest.fixture
def resources(client, make_product, customer, customer_headers):
    """URL, table and owner's headers of a product, an order and a user, each at version 1."""
    product_id = make_product()
    order = client.post(
        "/api/v1/orders",
        json={"items": [{"product_id": make_product(), "quantity": 1}]},
        headers=customer_headers,
    ).get_json()
    return {
        "product": (PRODUCT.format(product_id), Product.__table__, product_id),
        "order": (f"/api/v1/orders/{order['id']}", Order.__table__, order["id"]),
        "user": (f"/api/v1/users/{customer['id']}", User.__table__, customer["id"]),
    }


def bump_version(table, row_id) -> None:
    """Another request's committed write: the row's version moves on, on its own connection."""
    with db.engine.begin() as connection:
        connection.execute(
            update(table).where(table.c.id == row_id).values(version=table.c.version + 1)
        )


RACES = [
    ("product", "PATCH", {"stock": 1}, "models.product", "admin"),
    (
        "product",
        "PUT",
        {"sku": "RACE-1", "name": "Race", "price_cents": 5},
        "models.product",
        "admin",
    ),
    ("product", "DELETE", None, "models.product", "admin"),
    ("order", "PATCH", {"status": "cancelled"}, "models.order", "owner"),
    ("user", "PATCH", {"name": "Racer"}, "models.user", "owner"),
    # Not DELETE user: it runs in a locking transaction (the last-admin rule), so no
    # other write to the row can land between its check and its commit; the real
    # race is run against live servers in tests/e2e/test_admin_concurrency.py.
]


@pytest.mark.parametrize(
    ("kind", "method", "body", "module", "who"), RACES, ids=[f"{r[1]} {r[0]}" for r in RACES]
)
def test_losing_an_if_match_race_is_a_412_not_a_409(
    client, resources, admin_headers, customer_headers, monkeypatch, kind, method, body, module, who
):
    url, table, row_id = resources[kind]
    headers = admin_headers if who == "admin" else customer_headers
    etag = client.get(url, headers=headers).headers["ETag"]
    checked = importlib.import_module(module).check_version

    def check_then_lose_the_race(obj, expected, *, entity):
        # The version matches; another request commits before this one writes.
        checked(obj, expected, entity=entity)
        bump_version(table, row_id)

    monkeypatch.setattr(f"{module}.check_version", check_then_lose_the_race)

    response = client.open(url, method=method, json=body, headers={**headers, "If-Match": etag})

    assert_problem(response, 412)
    assert "version 2" in response.get_json()["detail"]


def test_a_stale_write_without_if_match_stays_a_409(client, resources, admin_headers, monkeypatch):
    # No precondition was sent, so none failed: the write conflicted with another one.
    url, table, row_id = resources["product"]
    checked = importlib.import_module("models.product").check_version

    def check_then_lose_the_race(obj, expected, *, entity):
        checked(obj, expected, entity=entity)
        bump_version(table, row_id)

    monkeypatch.setattr("models.product.check_version", check_then_lose_the_race)

    response = client.patch(url, json={"stock": 1}, headers=admin_headers)

    assert_problem(response, 409)


@pytest.mark.parametrize(
    "if_match",
    [",,,", ",", "", " ", '"1', "garbage with spaces", 'W/"1"'],
    ids=["commas", "comma", "empty", "space", "unterminated", "unquoted words", "weak"],
)
def test_an_if_match_that_names_no_entity_tag_of_ours_is_a_412(
    client, product, admin_headers, if_match
):
    before = client.get(product).get_json()

    response = client.patch(
        product, json={"stock": 3}, headers={**admin_headers, "If-Match": if_match}
    )

    assert_problem(response, 412)
    assert client.get(product).get_json() == before
