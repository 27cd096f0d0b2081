"""Orders: all-or-nothing placement, the status machine, visibility, idempotent retries."""

import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from models import IdempotencyKey, Order, Product, db
from models.base import utcnow
from models.order import MAX_ITEMS, MAX_QUANTITY
from models.product import MAX_STOCK, get_product
from tests.conftest import bearer
from tests.contract import SPEC_FILE
from tests.helpers import assert_problem

ORDERS = "/api/v1/orders"


def order_body(*lines: tuple[int, int]) -> dict:
    return {"items": [{"product_id": pid, "quantity": qty} for pid, qty in lines]}


def stock(in_app, product_id: int) -> int:
    return in_app(lambda: get_product(product_id).stock)


def order_count(in_app) -> int:
    return in_app(lambda: db.session.scalar(select(func.count()).select_from(Order)))


@pytest.fixture
def place(client, customer_headers):
    """POST an order as the customer (or other headers)."""

    def post(*lines, headers=None, key=None):
        extra = {"Idempotency-Key": key} if key else {}
        return client.post(
            ORDERS, json=order_body(*lines), headers={**(headers or customer_headers), **extra}
        )

    return post


# --- placing -------------------------------------------------------------------------------


def test_placing_an_order_takes_stock_and_captures_prices(place, make_product, in_app, client):
    mug = make_product(price_cents=1299, stock=10)
    tee = make_product(price_cents=2500, stock=3)

    response = place((mug, 2), (tee, 3))

    assert response.status_code == 201
    order = response.get_json()
    assert response.headers["Location"] == f"/api/v1/orders/{order['id']}"
    assert order["status"] == "pending"
    assert order["total_cents"] == 2 * 1299 + 3 * 2500
    assert [(i["product_id"], i["quantity"], i["unit_price_cents"]) for i in order["items"]] == [
        (mug, 2, 1299),
        (tee, 3, 2500),
    ]
    assert order["items"][0]["_links"]["self"] == f"/api/v1/products/{mug}"
    assert (stock(in_app, mug), stock(in_app, tee)) == (8, 0)


def test_a_placed_order_carries_its_etag(place, make_product, client, customer_headers):
    mug = make_product(stock=10)

    response = place((mug, 2))

    assert response.status_code == 201
    etag = response.headers["ETag"]
    assert etag == '"1"'
    location = response.headers["Location"]
    assert client.get(location, headers=customer_headers).headers["ETag"] == etag
    cached = client.get(location, headers={**customer_headers, "If-None-Match": etag})
    assert cached.status_code == 304


def test_a_replay_carries_the_etag_of_the_order_as_placed(
    place, make_product, client, admin_headers
):
    mug = make_product(stock=10)
    first = place((mug, 1), key="etag-1")
    client.patch(first.headers["Location"], json={"status": "paid"}, headers=admin_headers)

    again = place((mug, 1), key="etag-1")

    # The body is the order as placed, so the tag is that version's, now stale.
    assert again.get_json() == first.get_json()
    assert again.headers["ETag"] == first.headers["ETag"] == '"1"'


def test_an_xml_order_is_tagged_as_xml(place, make_product, client, customer_headers):
    response = client.post(
        ORDERS,
        json=order_body((make_product(stock=3), 1)),
        headers={**customer_headers, "Accept": "application/xml"},
    )

    assert response.status_code == 201
    assert response.headers["ETag"] == '"1-xml"'


def test_the_spec_documents_the_etag_of_a_placed_order():
    spec = json.loads(SPEC_FILE.read_text(encoding="utf-8"))

    placed = spec["paths"]["/api/v1/orders"]["post"]["responses"]["201"]

    assert set(placed["headers"]) == {"Location", "ETag"}


def test_a_later_price_change_does_not_change_the_order(
    place, make_product, client, admin_headers, customer_headers
):
    mug = make_product(price_cents=1000)
    order = place((mug, 1)).get_json()

    client.patch(f"/api/v1/products/{mug}", json={"price_cents": 5000}, headers=admin_headers)

    again = client.get(f"{ORDERS}/{order['id']}", headers=customer_headers).get_json()
    assert again["items"][0]["unit_price_cents"] == 1000
    assert again["total_cents"] == 1000


def test_the_same_product_twice_is_one_line(place, make_product, in_app):
    mug = make_product(stock=5)

    order = place((mug, 1), (mug, 2)).get_json()

    assert [(i["product_id"], i["quantity"]) for i in order["items"]] == [(mug, 3)]
    assert stock(in_app, mug) == 2


@pytest.mark.parametrize("deleted", [False, True])
def test_a_missing_product_is_a_404_naming_it_and_nothing_changes(
    place, make_product, in_app, client, admin_headers, deleted
):
    mug = make_product(stock=5)
    missing = 999_999
    if deleted:
        missing = make_product(stock=5)
        client.delete(f"/api/v1/products/{missing}", headers=admin_headers)

    response = place((mug, 2), (missing, 1))

    assert response.status_code == 404
    assert response.get_json()["detail"] == f"Product {missing} does not exist"
    assert stock(in_app, mug) == 5
    assert order_count(in_app) == 0


def test_short_stock_is_a_409_naming_the_product_and_what_is_left(place, make_product, in_app):
    mug = make_product(stock=5)
    pen = make_product(stock=1)

    response = place((mug, 2), (pen, 3))

    assert response.status_code == 409
    detail = response.get_json()["detail"]
    assert f"product {pen}" in detail
    assert "1 available" in detail
    assert (stock(in_app, mug), stock(in_app, pen)) == (5, 1)
    assert order_count(in_app) == 0


@pytest.mark.parametrize(
    ("lines", "status"),
    [
        ([MAX_QUANTITY // 2, MAX_QUANTITY // 2], 201),
        ([MAX_QUANTITY // 2, MAX_QUANTITY // 2 + 1], 409),
        ([MAX_QUANTITY] * (MAX_ITEMS - 1), 409),
    ],
    ids=["exactly the cap", "one past the cap", "every other line full"],
)
def test_lines_of_one_product_merge_within_the_per_line_cap(
    place, make_product, in_app, lines, status
):
    # Each line is within the schema's maximum; only their sum can break it,
    # which no schema can say, so it is a 409 naming the product and the cap.
    mug = make_product(stock=MAX_STOCK)
    other = make_product(stock=5)

    response = place((other, 1), *[(mug, quantity) for quantity in lines])

    assert response.status_code == status, response.get_data(as_text=True)
    if status == 409:
        detail = response.get_json()["detail"]
        assert f"product {mug}" in detail
        assert f"{MAX_QUANTITY:,}" in detail
        assert (stock(in_app, mug), stock(in_app, other)) == (MAX_STOCK, 5)
        assert order_count(in_app) == 0
    else:
        items = response.get_json()["items"]
        assert [i["quantity"] for i in items if i["product_id"] == mug] == [MAX_QUANTITY]


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"items": []}, 422, "items"),
        ({"items": [{"product_id": 1, "quantity": 0}]}, 422, "items.0.quantity"),
        ({"items": [{"product_id": 1, "quantity": 10_001}]}, 422, "items.0.quantity"),
        ({"items": [{"product_id": 0, "quantity": 1}]}, 422, "items.0.product_id"),
        ({"items": [{"product_id": 1, "quantity": 1}] * 101}, 422, "items"),
        ({"items": [{"product_id": 1}]}, 400, "items.0.quantity"),
        (
            {"items": [{"product_id": 1, "quantity": 1, "unit_price_cents": 1}]},
            400,
            "items.0.unit_price_cents",
        ),
        ({"items": [{"product_id": "1", "quantity": 1}]}, 400, "items.0.product_id"),
        ({"items": [], "user_id": 1}, 400, "user_id"),
        ({}, 400, "items"),
    ],
)
def test_invalid_order_bodies(client, customer_headers, make_product, in_app, body, status, field):
    make_product(stock=5)

    response = client.post(ORDERS, json=body, headers=customer_headers)

    assert response.status_code == status
    assert field in response.get_json()["errors"]
    assert order_count(in_app) == 0


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", ORDERS), ("POST", ORDERS), ("GET", f"{ORDERS}/1"), ("PATCH", f"{ORDERS}/1")],
)
def test_orders_need_a_token(client, method, path):
    response = client.open(path, method=method, json={"items": [{"product_id": 1, "quantity": 1}]})

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


# --- idempotency ---------------------------------------------------------------------------


def test_a_retry_with_the_same_key_returns_the_original_response(place, make_product, in_app):
    mug = make_product(stock=10)

    first = place((mug, 2), key="order-123")
    retry = place((mug, 2), key="order-123")

    assert retry.status_code == first.status_code == 201
    assert retry.headers["Location"] == first.headers["Location"]
    assert retry.get_json() == first.get_json()
    assert order_count(in_app) == 1
    assert stock(in_app, mug) == 8


def test_a_retry_returns_the_original_body_even_after_the_order_changed(
    place, make_product, client, admin_headers
):
    mug = make_product(stock=10)
    first = place((mug, 1), key="k-1").get_json()
    client.patch(f"{ORDERS}/{first['id']}", json={"status": "paid"}, headers=admin_headers)

    retry = place((mug, 1), key="k-1").get_json()

    assert retry == first
    assert retry["status"] == "pending"


def test_the_same_key_with_another_body_is_a_409(place, make_product, in_app):
    mug = make_product(stock=10)
    place((mug, 1), key="k-2")

    response = place((mug, 2), key="k-2")

    assert response.status_code == 409
    assert "Idempotency-Key" in response.get_json()["detail"]
    assert order_count(in_app) == 1
    assert stock(in_app, mug) == 9


def test_keys_belong_to_one_user(place, make_product, make_user, in_app):
    mug = make_product(stock=10)
    other = bearer(make_user()["access"])

    place((mug, 1), key="shared")
    response = place((mug, 1), key="shared", headers=other)

    assert response.status_code == 201
    assert order_count(in_app) == 2


def test_a_failed_order_does_not_burn_its_key(place, make_product, in_app, client, admin_headers):
    mug = make_product(stock=1)
    assert place((mug, 2), key="k-3").status_code == 409

    client.patch(f"/api/v1/products/{mug}", json={"stock": 5}, headers=admin_headers)
    response = place((mug, 2), key="k-3")

    assert response.status_code == 201
    assert stock(in_app, mug) == 3


def test_keys_expire_after_24_hours(place, make_product, in_app):
    mug = make_product(stock=10)
    first = place((mug, 1), key="k-4").get_json()

    def age_the_key():
        db.session.execute(update(IdempotencyKey).values(created_at=utcnow() - timedelta(hours=25)))
        db.session.commit()

    in_app(age_the_key)
    second = place((mug, 2), key="k-4")

    assert second.status_code == 201
    assert second.get_json()["id"] != first["id"]
    assert order_count(in_app) == 2


@pytest.mark.parametrize(
    ("key", "status"), [("has space", 422), ("x" * 256, 422), ("ünïcode", 422)]
)
def test_malformed_keys_are_rejected(place, make_product, in_app, key, status):
    mug = make_product(stock=10)

    response = place((mug, 1), key=key)

    assert response.status_code == status
    assert "Idempotency-Key" in response.get_json()["errors"]
    assert response.get_json()["detail"] == "Invalid header"
    assert order_count(in_app) == 0


# --- the status machine --------------------------------------------------------------------

LEGAL = {
    "pending": {"paid", "cancelled"},
    "paid": {"shipped", "cancelled"},
    "shipped": {"delivered"},
    "delivered": set(),
    "cancelled": set(),
}
PATHS_TO = {
    "pending": [],
    "paid": ["paid"],
    "shipped": ["paid", "shipped"],
    "delivered": ["paid", "shipped", "delivered"],
    "cancelled": ["cancelled"],
}


def order_in(state, place, make_product, client, admin_headers) -> int:
    order_id = place((make_product(stock=10), 2)).get_json()["id"]
    for step in PATHS_TO[state]:
        assert (
            client.patch(
                f"{ORDERS}/{order_id}", json={"status": step}, headers=admin_headers
            ).status_code
            == 200
        )
    return order_id


@pytest.mark.parametrize("current", list(LEGAL))
@pytest.mark.parametrize("target", list(LEGAL))
def test_admins_move_orders_along_legal_transitions_only(
    place, make_product, client, admin_headers, current, target
):
    order_id = order_in(current, place, make_product, client, admin_headers)

    response = client.patch(f"{ORDERS}/{order_id}", json={"status": target}, headers=admin_headers)

    if target in LEGAL[current]:
        assert response.status_code == 200
        assert response.get_json()["status"] == target
    else:
        assert response.status_code == 409
        detail = response.get_json()["detail"]
        assert f"is {current}" in detail
        for allowed in LEGAL[current]:
            assert allowed in detail


@pytest.mark.parametrize("current", ["pending", "paid"])
def test_owners_may_cancel_and_the_stock_comes_back(
    place, make_product, client, admin_headers, customer_headers, in_app, current
):
    mug = make_product(stock=10)
    order_id = place((mug, 4)).get_json()["id"]
    for step in PATHS_TO[current]:
        client.patch(f"{ORDERS}/{order_id}", json={"status": step}, headers=admin_headers)
    assert stock(in_app, mug) == 6

    response = client.patch(
        f"{ORDERS}/{order_id}", json={"status": "cancelled"}, headers=customer_headers
    )

    assert response.status_code == 200
    assert response.get_json()["status"] == "cancelled"
    assert stock(in_app, mug) == 10


@pytest.mark.parametrize("target", ["paid", "shipped", "delivered", "pending"])
def test_owners_may_only_cancel(place, make_product, client, customer_headers, target):
    order_id = place((make_product(stock=10), 1)).get_json()["id"]

    response = client.patch(
        f"{ORDERS}/{order_id}", json={"status": target}, headers=customer_headers
    )

    assert response.status_code == 403


def test_cancelling_restocks_a_product_deleted_since(
    place, make_product, client, admin_headers, customer_headers, in_app
):
    mug = make_product(stock=3)
    order_id = place((mug, 3)).get_json()["id"]
    client.delete(f"/api/v1/products/{mug}", headers=admin_headers)

    client.patch(f"{ORDERS}/{order_id}", json={"status": "cancelled"}, headers=customer_headers)

    assert in_app(lambda: db.session.get(Product, mug).stock) == 3


def test_an_unknown_status_is_a_422(place, make_product, client, admin_headers):
    order_id = place((make_product(stock=10), 1)).get_json()["id"]

    response = client.patch(f"{ORDERS}/{order_id}", json={"status": "lost"}, headers=admin_headers)

    assert response.status_code == 422
    assert "status" in response.get_json()["errors"]


# --- who sees what -------------------------------------------------------------------------


def test_another_customers_order_does_not_exist_for_you(place, make_product, make_user, client):
    order_id = place((make_product(stock=10), 1)).get_json()["id"]
    stranger = bearer(make_user()["access"])

    assert client.get(f"{ORDERS}/{order_id}", headers=stranger).status_code == 404
    response = client.patch(f"{ORDERS}/{order_id}", json={"status": "cancelled"}, headers=stranger)
    assert response.status_code == 404
    assert response.get_json()["detail"] == f"Order {order_id} does not exist"


def test_customers_list_their_own_orders_and_admins_everyones(
    place, make_product, make_user, client, admin_headers, customer_headers
):
    mug = make_product(stock=50)
    mine = [place((mug, 1)).get_json()["id"] for _ in range(2)]
    other = make_user()
    theirs = place((mug, 1), headers=bearer(other["access"])).get_json()["id"]

    own = client.get(ORDERS, headers=customer_headers).get_json()
    everyone = client.get(ORDERS, headers=admin_headers).get_json()
    filtered = client.get(
        ORDERS, query_string={"user_id": other["id"]}, headers=admin_headers
    ).get_json()

    assert [o["id"] for o in own["items"]] == mine
    assert own["total"] == 2
    assert [o["id"] for o in everyone["items"]] == [*mine, theirs]
    assert [o["id"] for o in filtered["items"]] == [theirs]


def test_orders_filter_by_status_and_date(place, make_product, client, admin_headers, in_app):
    mug = make_product(stock=50)
    old, new = (place((mug, 1)).get_json()["id"] for _ in range(2))
    client.patch(f"{ORDERS}/{new}", json={"status": "paid"}, headers=admin_headers)

    def backdate():
        db.session.execute(
            update(Order).where(Order.id == old).values(created_at=utcnow() - timedelta(days=10))
        )
        db.session.commit()

    in_app(backdate)
    since = (utcnow() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")

    def ids(**query):
        response = client.get(ORDERS, query_string=query, headers=admin_headers)
        assert response.status_code == 200
        return [o["id"] for o in response.get_json()["items"]]

    assert ids(status="paid") == [new]
    assert ids(status="pending") == [old]
    assert ids(created_from=since) == [new]
    assert ids(created_to=since) == [old]
    assert ids(sort="-created_at") == [new, old]


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ({"created_from": "yesterday"}, 400),
        ({"status": "lost"}, 400),
        ({"sort": "user_id"}, 400),
        ({"user_id": 0}, 422),
    ],
)
def test_malformed_order_filters(client, admin_headers, query, status):
    response = client.get(ORDERS, query_string=query, headers=admin_headers)

    assert response.status_code == status


@pytest.mark.parametrize(
    "value",
    [
        "2026-W01",
        "2026-W01-1T00:00:00",
        "20260101T000000Z",
        "2026-01-01",
        "2026-01-01T00:00",
        "\uff12026-01-01T00:00:00Z",
        " 2026-01-01T00:00:00Z",
        "2026-01-01T00:00:00+0100",
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-01:00",
    ],
    ids=repr,
)
@pytest.mark.parametrize("name", ["created_from", "created_to"])
def test_a_date_filter_is_an_rfc_3339_date_time(client, admin_headers, name, value):
    # fromisoformat reads week dates, compact forms and bare dates; the spec says date-time.
    response = client.get(ORDERS, query_string={name: value}, headers=admin_headers)

    body = assert_problem(response, 400, fields={name})
    assert "RFC 3339" in body["errors"][name][0]


@pytest.mark.parametrize(
    "value",
    [
        "2026-01-01T00:00:00Z",
        "2026-01-01t00:00:00z",
        "2026-01-01 00:00:00",
        "2026-01-01T00:00:00.123456+05:30",
        "2026-01-01T00:00:00.123456789-08:00",
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59.999999Z",
    ],
)
def test_an_rfc_3339_date_time_filters(client, admin_headers, value):
    response = client.get(ORDERS, query_string={"created_from": value}, headers=admin_headers)

    assert response.status_code == 200, response.get_data(as_text=True)


def test_a_retry_may_list_the_same_lines_in_another_order(place, make_product, in_app):
    mug, tee = make_product(stock=10), make_product(stock=10)

    first = place((mug, 1), (tee, 2), key="k-5")
    again = place((tee, 2), (mug, 1), key="k-5")

    assert again.status_code == 201
    assert again.get_json() == first.get_json()
    assert order_count(in_app) == 1


def test_totals_beyond_32_bits_are_exact(place, make_product):
    product = make_product(price_cents=1_000_000_000, stock=10)

    response = place((product, 3))

    assert response.status_code == 201
    assert response.get_json()["total_cents"] == 3_000_000_000
