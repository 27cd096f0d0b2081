"""Bulk catalog operations through the HTTP API: many products created or deleted at once.

Creation is all or nothing: any bad item, any SKU conflict, and not a single row
is written. Every response is checked against the contract by the test client.
"""

import pytest
from sqlalchemy import func, select

from models import Product, db
from tests.helpers import assert_problem

API = "/api/v1/products"
BULK = f"{API}/bulk"
MAX_BULK = 500


def item_url(product_id: int) -> str:
    return f"{API}/{product_id}"


def item(n: int, **overrides) -> dict:
    """A valid ProductInput, distinct for each ``n``."""
    return {
        "sku": f"BULK-{n:04d}",
        "name": f"Bulk product {n}",
        "description": f"Number {n}",
        "price_cents": 100 + n,
        "stock": n % 7,
        **overrides,
    }


def items(count: int) -> list[dict]:
    return [item(n) for n in range(count)]


def product_count() -> int:
    """Every products row, soft-deleted ones included."""
    return db.session.scalar(select(func.count()).select_from(Product))


def listed_ids(client) -> list[int]:
    response = client.get(API, query_string={"per_page": 100})
    assert response.status_code == 200
    return [product["id"] for product in response.get_json()["items"]]


@pytest.fixture
def as_role(admin_headers, customer_headers) -> dict:
    """Headers by who sends the request."""
    return {"admin": admin_headers, "customer": customer_headers, "nobody": {}}


@pytest.fixture
def rows(in_app):
    """How many product rows the database holds now."""
    return lambda: in_app(product_count)


# --- Bulk create ------------------------------------------------------------------------


def test_bulk_create_returns_every_product_in_order_and_each_exists(client, admin_headers):
    sent = items(3)

    response = client.post(BULK, headers=admin_headers, json={"items": sent})

    assert response.status_code == 201
    assert response.headers["Location"]
    created = response.get_json()["items"]
    assert [{k: product[k] for k in sent[0]} for product in created] == sent
    assert len({product["id"] for product in created}) == 3
    for product in created:
        assert product["_links"]["self"] == item_url(product["id"])
        fetched = client.get(item_url(product["id"]))
        assert fetched.status_code == 200
        assert fetched.get_json() == product
    assert listed_ids(client) == [product["id"] for product in created]


def test_bulk_create_defaults_description_and_stock(client, admin_headers):
    bare = {"sku": "BARE-1", "name": "Bare", "price_cents": 5}

    response = client.post(BULK, headers=admin_headers, json={"items": [bare]})

    assert response.status_code == 201
    (created,) = response.get_json()["items"]
    assert (created["description"], created["stock"]) == ("", 0)


def test_bulk_create_takes_the_maximum_of_500(client, admin_headers, rows):
    response = client.post(BULK, headers=admin_headers, json={"items": items(MAX_BULK)})

    assert response.status_code == 201
    created = response.get_json()["items"]
    assert [product["sku"] for product in created] == [f"BULK-{n:04d}" for n in range(MAX_BULK)]
    assert rows() == MAX_BULK
    assert client.get(API).get_json()["total"] == MAX_BULK


@pytest.mark.parametrize(
    ("body", "status", "fields"),
    [
        ({"items": items(MAX_BULK + 1)}, 422, {"items"}),
        ({"items": []}, 422, {"items"}),
        ({}, 400, {"items"}),
        ({"items": items(1), "extra": 1}, 400, {"extra"}),
        ({"items": "BULK-0001"}, 400, {"items"}),
    ],
    ids=["501-items", "no-items", "missing-items", "unknown-field", "items-not-a-list"],
)
def test_a_malformed_batch_writes_nothing(
    client, admin_headers, make_product, rows, body, status, fields
):
    make_product()

    response = client.post(BULK, headers=admin_headers, json=body)

    assert_problem(response, status, fields=fields)
    assert rows() == 1


@pytest.mark.parametrize(
    ("bad", "status", "expected"),
    [
        (
            {1: {"price_cents": -1}, 3: {"sku": "lower-case"}},
            422,
            {"items.1.price_cents", "items.3.sku"},
        ),
        (
            {0: {"name": ""}, 2: {"stock": -5}, 4: {"price_cents": 1_000_000_001}},
            422,
            {"items.0.name", "items.2.stock", "items.4.price_cents"},
        ),
        ({4: {"sku": "X" * 65, "name": "n" * 201}}, 422, {"items.4.sku", "items.4.name"}),
        # A wrong type is a 400, still naming every bad item.
        (
            {1: {"price_cents": "12"}, 3: {"stock": -1}},
            400,
            {"items.1.price_cents", "items.3.stock"},
        ),
        ({2: {"color": "red"}}, 400, {"items.2.color"}),
    ],
    ids=["two-items", "three-items", "two-fields-of-one-item", "type-and-bound", "unknown-field"],
)
def test_invalid_items_are_each_named_and_nothing_is_written(
    client, admin_headers, make_product, rows, bad, status, expected
):
    make_product()
    batch = [{**item(n), **bad.get(n, {})} for n in range(5)]

    response = client.post(BULK, headers=admin_headers, json={"items": batch})

    assert_problem(response, status, fields=expected)
    assert rows() == 1


def test_a_missing_field_in_an_item_is_named(client, admin_headers, rows):
    batch = items(3)
    del batch[2]["name"]

    response = client.post(BULK, headers=admin_headers, json={"items": batch})

    assert_problem(response, 400, fields={"items.2.name"})
    assert rows() == 0


@pytest.mark.parametrize(
    ("skus", "named"),
    [
        (["A-1", "B-1", "A-1"], ["A-1"]),
        (["A-1", "B-1", "B-1", "A-1", "C-1"], ["A-1", "B-1"]),
    ],
)
def test_a_sku_repeated_in_the_batch_is_a_409_naming_it(
    client, admin_headers, make_product, rows, skus, named
):
    make_product(sku="KEEP-1")
    batch = [item(n, sku=sku) for n, sku in enumerate(skus)]

    response = client.post(BULK, headers=admin_headers, json={"items": batch})

    detail = assert_problem(response, 409)["detail"]
    assert all(sku in detail for sku in named)
    assert "C-1" not in detail
    assert rows() == 1


def test_skus_of_live_products_are_a_409_naming_them(client, admin_headers, make_product, rows):
    make_product(sku="TAKEN-1")
    make_product(sku="TAKEN-2")
    batch = [item(0, sku="FREE-1"), item(1, sku="TAKEN-2"), item(2, sku="TAKEN-1")]

    response = client.post(BULK, headers=admin_headers, json={"items": batch})

    detail = assert_problem(response, 409)["detail"]
    assert "TAKEN-1" in detail
    assert "TAKEN-2" in detail
    assert "FREE-1" not in detail
    assert rows() == 2


def test_a_deleted_products_sku_is_reusable(client, admin_headers, make_product):
    deleted = make_product(sku="REUSE-1")
    assert client.delete(item_url(deleted), headers=admin_headers).status_code == 204

    response = client.post(BULK, headers=admin_headers, json={"items": [item(0, sku="REUSE-1")]})

    assert response.status_code == 201
    (created,) = response.get_json()["items"]
    assert created["id"] != deleted
    assert client.get(item_url(created["id"])).get_json()["sku"] == "REUSE-1"


@pytest.mark.parametrize(("who", "status"), [("nobody", 401), ("customer", 403)])
@pytest.mark.parametrize("body", [{"items": items(2)}, {"items": "junk"}], ids=["valid", "junk"])
def test_only_an_admin_creates_in_bulk(client, as_role, rows, who, status, body):
    response = client.post(BULK, headers=as_role[who], json=body)

    assert_problem(response, status)
    assert rows() == 0


# --- Bulk delete ------------------------------------------------------------------------


def bulk_delete(client, headers, ids):
    return client.delete(BULK, headers=headers, json={"ids": ids})


def test_bulk_delete_soft_deletes_and_reports(client, admin_headers, make_product, rows):
    doomed = [make_product(), make_product()]
    kept = make_product()
    already = make_product()
    assert client.delete(item_url(already), headers=admin_headers).status_code == 204

    response = bulk_delete(client, admin_headers, [doomed[1], 999_999, already, doomed[0]])

    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"deleted", "deleted_ids", "not_found"}
    assert body["deleted"] == 2
    assert sorted(body["deleted_ids"]) == doomed
    assert sorted(body["not_found"]) == sorted([999_999, already])
    for product_id in doomed:
        assert client.get(item_url(product_id)).status_code == 404
    assert client.get(item_url(kept)).status_code == 200
    assert listed_ids(client) == [kept]
    assert client.get(API).get_json()["total"] == 1
    assert rows() == 4  # soft: the rows stay


def test_duplicate_ids_are_counted_once(client, admin_headers, make_product):
    product_id = make_product()

    response = bulk_delete(client, admin_headers, [product_id, product_id, 777, 777])

    body = response.get_json()
    assert (body["deleted"], body["deleted_ids"], body["not_found"]) == (1, [product_id], [777])


def test_deleting_again_finds_nothing(client, admin_headers, make_product):
    product_ids = [make_product(), make_product()]
    bulk_delete(client, admin_headers, product_ids)

    body = bulk_delete(client, admin_headers, product_ids).get_json()

    assert (body["deleted"], body["deleted_ids"]) == (0, [])
    assert sorted(body["not_found"]) == product_ids


def test_bulk_deleted_skus_become_reusable(client, admin_headers, make_product):
    make_product(sku="AGAIN-1")
    product_id = make_product(sku="AGAIN-2")
    bulk_delete(client, admin_headers, [product_id])

    response = client.post(BULK, headers=admin_headers, json={"items": [item(0, sku="AGAIN-2")]})

    assert response.status_code == 201


@pytest.mark.parametrize(
    ("body", "status", "fields"),
    [
        ({"ids": []}, 422, {"ids"}),
        ({"ids": [0]}, 422, {"ids.0"}),
        ({"ids": list(range(1, MAX_BULK + 2))}, 422, {"ids"}),
        ({"ids": ["1"]}, 400, {"ids.0"}),
        ({}, 400, {"ids"}),
    ],
    ids=["empty", "zero-id", "501-ids", "string-id", "no-ids"],
)
def test_bad_delete_bodies_delete_nothing(
    client, admin_headers, make_product, body, status, fields
):
    product_id = make_product()

    assert_problem(client.delete(BULK, headers=admin_headers, json=body), status, fields=fields)

    assert listed_ids(client) == [product_id]


@pytest.mark.parametrize(("who", "status"), [("nobody", 401), ("customer", 403)])
def test_only_an_admin_deletes_in_bulk(client, as_role, make_product, who, status):
    product_id = make_product()

    assert_problem(bulk_delete(client, as_role[who], [product_id]), status)

    assert client.get(item_url(product_id)).status_code == 200
