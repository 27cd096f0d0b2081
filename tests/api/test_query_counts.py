"""No N+1: a request's number of SQL statements does not grow with the size of its page.

Each test counts the statements the database receives while one request runs
(a ``before_cursor_execute`` listener on the app's engine), with a small data
set and a large one, and asserts the two counts are equal and small. Placing an
order costs one statement per product and a fixed few besides.
"""

import pytest

from models import User, db
from models.order import place_order
from tests.conftest import bearer
from tests.helpers import StatementCounter

ORDERS = "/api/v1/orders"
PRODUCTS = "/api/v1/products"
ITEMS_PER_ORDER = 3
# Auth's user lookup (which reads the session's revocation too), the page's
# rows, its items, its count (which a last page does without).
MAX_ORDER_LIST_QUERIES = 4
MAX_PRODUCT_LIST_QUERIES = 2
MAX_PRODUCT_QUERIES = 2
# Placing an order: auth's user lookup, the order, all its lines in one insert,
# plus one conditional stock update per product; an Idempotency-Key adds its
# claim and the recorded answer. A replay is the lookup, the claim and the answer.
PLACE_ORDER_QUERIES = 3
KEY_QUERIES = 2
REPLAY_QUERIES = 3


def get_counting(client, counter: StatementCounter, url: str, **kwargs) -> tuple[int, list]:
    """GET ``url``; return (number of statements it executed, its items)."""
    with counter.counting() as statements:
        response = client.get(url, **kwargs)
    assert response.status_code == 200, response.get_data(as_text=True)
    return len(statements), response.get_json().get("items")


@pytest.fixture
def add_orders(in_app, make_product, make_user):
    """Place ``count`` orders of three lines each, spread over three customers."""
    products = [make_product(stock=10_000) for _ in range(ITEMS_PER_ORDER)]
    owners = [make_user() for _ in range(3)]

    def place(count: int) -> None:
        def run():
            users = [db.session.get(User, owner["id"]) for owner in owners]
            for n in range(count):
                lines = [{"product_id": p, "quantity": 1 + n % 2} for p in products]
                place_order(user=users[n % len(users)], items=lines)

        in_app(run)

    place.owners = owners
    return place


def test_listing_orders_costs_the_same_for_5_and_100(client, counter, admin_headers, add_orders):
    query = {"per_page": 100}
    add_orders(5)
    small, small_items = get_counting(
        client, counter, ORDERS, headers=admin_headers, query_string=query
    )
    add_orders(95)

    large, large_items = get_counting(
        client, counter, ORDERS, headers=admin_headers, query_string=query
    )

    assert (len(small_items), len(large_items)) == (5, 100)
    assert all(len(order["items"]) == ITEMS_PER_ORDER for order in large_items)
    assert large == small
    assert large <= MAX_ORDER_LIST_QUERIES


def test_a_users_nested_orders_cost_the_same_for_few_and_many(
    client, counter, admin_headers, add_orders
):
    url = f"/api/v1/users/{add_orders.owners[0]['id']}/orders"
    query = {"per_page": 100}
    add_orders(6)
    small, small_items = get_counting(
        client, counter, url, headers=admin_headers, query_string=query
    )
    add_orders(150)

    large, large_items = get_counting(
        client, counter, url, headers=admin_headers, query_string=query
    )

    assert (len(small_items), len(large_items)) == (2, 52)
    assert large == small
    # One more than /orders: the nested route first looks the user up.
    assert large <= MAX_ORDER_LIST_QUERIES + 1


def test_a_customers_own_orders_cost_the_same_for_few_and_many(client, counter, add_orders):
    headers = bearer(add_orders.owners[1]["access"])
    query = {"per_page": 100}
    add_orders(6)
    small, _ = get_counting(client, counter, ORDERS, headers=headers, query_string=query)
    add_orders(150)

    large, items = get_counting(client, counter, ORDERS, headers=headers, query_string=query)

    assert len(items) == 52
    assert large == small <= MAX_ORDER_LIST_QUERIES


def test_one_product_costs_a_small_fixed_number(client, counter, make_product):
    product_id = make_product()

    with counter.counting() as statements:
        response = client.get(f"{PRODUCTS}/{product_id}")

    assert response.status_code == 200
    assert 1 <= len(statements) <= MAX_PRODUCT_QUERIES


def test_listing_products_costs_the_same_for_5_and_50(client, counter, make_product):
    query = {"per_page": 50}
    for _ in range(5):
        make_product()
    small, small_items = get_counting(client, counter, PRODUCTS, query_string=query)
    for _ in range(45):
        make_product()

    large, large_items = get_counting(client, counter, PRODUCTS, query_string=query)

    assert (len(small_items), len(large_items)) == (5, 50)
    assert large == small
    assert large <= MAX_PRODUCT_LIST_QUERIES


def follow_next(client, counter: StatementCounter, url: str, pages: int, **kwargs) -> list[int]:
    """Follow ``next`` from ``url`` through ``pages`` pages; the statements each one ran."""
    costs = []
    for _ in range(pages):
        with counter.counting() as statements:
            response = client.get(url, **kwargs)
        assert response.status_code == 200, response.get_data(as_text=True)
        costs.append(len(statements))
        url = response.get_json()["_links"]["next"]
    return costs


def test_a_cursor_page_costs_the_same_at_any_depth(client, counter, make_product):
    for _ in range(60):
        make_product()

    costs = follow_next(client, counter, f"{PRODUCTS}?per_page=5&sort=-price_cents", 11)

    # The numbered first page, then cursor pages two to eleven: one count each.
    assert set(costs) == {MAX_PRODUCT_LIST_QUERIES}


def test_a_cursor_page_of_orders_costs_the_same_at_any_depth(
    client, counter, admin_headers, add_orders
):
    add_orders(40)

    costs = follow_next(
        client, counter, f"{ORDERS}?per_page=3&sort=total_cents", 12, headers=admin_headers
    )

    assert set(costs) == {MAX_ORDER_LIST_QUERIES}


def post_counting(client, counter: StatementCounter, body: dict, headers: dict):
    """POST ``body`` to /orders; return (number of statements it executed, the response)."""
    with counter.counting() as statements:
        response = client.post(ORDERS, json=body, headers=headers)
    return len(statements), response


@pytest.mark.parametrize("key", [None, "count-1"], ids=["without a key", "with a key"])
@pytest.mark.parametrize("products", [1, 2, 5])
def test_placing_an_order_costs_one_statement_per_product_and_a_fixed_few(
    client, counter, customer_headers, make_product, products, key
):
    body = {"items": [{"product_id": make_product(), "quantity": 2} for _ in range(products)]}
    headers = {**customer_headers, **({"Idempotency-Key": key} if key else {})}

    cost, response = post_counting(client, counter, body, headers)

    assert response.status_code == 201, response.get_data(as_text=True)
    assert len(response.get_json()["items"]) == products
    assert cost <= PLACE_ORDER_QUERIES + products + (KEY_QUERIES if key else 0)


def test_a_replayed_order_costs_a_fixed_few(client, counter, customer_headers, make_product):
    body = {"items": [{"product_id": make_product(), "quantity": 1} for _ in range(3)]}
    headers = {**customer_headers, "Idempotency-Key": "count-2"}
    first = client.post(ORDERS, json=body, headers=headers)

    cost, again = post_counting(client, counter, body, headers)

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.get_json() == first.get_json()
    assert cost <= REPLAY_QUERIES


def test_a_revoked_token_is_refused_after_one_statement(client, counter, customer, make_product):
    headers = bearer(customer["access"])
    assert client.post("/api/v1/auth/logout", headers=headers).status_code == 204
    body = {"items": [{"product_id": make_product(), "quantity": 1}]}

    cost, response = post_counting(client, counter, body, headers)

    assert response.status_code == 401
    assert cost == 1
