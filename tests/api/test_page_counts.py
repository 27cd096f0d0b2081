"""Listing totals: exact when small, reused when large until a write or the TTL.

The apps here keep counts of ``MINIMUM`` rows or more for ``TTL`` seconds of a
clock the test moves. The ``app`` fixture's own engine (``make_product``,
``in_app``) plays another server process: its commits are not this app's.
"""

import threading
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from sqlalchemy import event

from api.http.page_counts import EXTENSION
from models import db
from models.order import Order
from tests.conftest import bearer
from tests.helpers import StatementCounter

PRODUCTS = "/api/v1/products"
ORDERS = "/api/v1/orders"
MINIMUM = 3
TTL = 10


class Clock:
    """A monotonic clock that moves only when told to."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def cached(build_app) -> Iterator[SimpleNamespace]:
    """An app keeping counts on a test clock: its client, clock, engine and statement counter."""
    # Without the response cache, which would answer repeated pages itself, and
    # forgets kept counts on another process's write (tests/api/test_response_cache.py).
    application = build_app(
        PAGE_COUNT_CACHE_MIN=MINIMUM, PAGE_COUNT_CACHE_SECONDS=TTL, RESPONSE_CACHE=False
    )
    clock = Clock()
    application.extensions[EXTENSION].clock = clock
    with application.app_context():
        engine = db.engine
    counter = StatementCounter(engine)
    yield SimpleNamespace(
        client=application.test_client(), clock=clock, engine=engine, counter=counter
    )
    counter.close()


def listing(app, url: str = PRODUCTS, headers=None, **query) -> tuple[int, int]:
    """GET a listing's first page of two: (its total, how many counts the request ran)."""
    with app.counter.counting() as statements:
        response = app.client.get(url, query_string={"per_page": 2, **query}, headers=headers or {})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["total"], sum("count(*)" in s.lower() for s in statements)


@pytest.fixture
def five_products(make_product) -> list[int]:
    return [make_product(price_cents=100 * n) for n in range(1, 6)]


def test_a_large_total_is_counted_once_then_reused(cached, five_products):
    assert listing(cached) == (5, 1)
    assert listing(cached) == (5, 0)
    cached.clock.now += TTL - 0.1
    assert listing(cached) == (5, 0)


def test_a_write_through_the_app_shows_in_the_next_total(cached, five_products, admin_headers):
    assert listing(cached) == (5, 1)

    created = cached.client.post(
        PRODUCTS,
        json={"sku": "NEW-1", "name": "New", "price_cents": 1},
        headers=admin_headers,
    )

    assert created.status_code == 201
    assert listing(cached) == (6, 1)
    deleted = cached.client.delete(f"{PRODUCTS}/{five_products[0]}", headers=admin_headers)
    assert deleted.status_code == 204
    assert listing(cached) == (5, 1)


def test_another_process_write_shows_once_the_ttl_is_over(cached, five_products, make_product):
    assert listing(cached) == (5, 1)

    make_product()

    assert listing(cached) == (5, 0)
    cached.clock.now += TTL - 0.1
    assert listing(cached) == (5, 0)
    cached.clock.now += 0.2
    assert listing(cached) == (6, 1)


def test_a_count_made_while_a_write_commits_is_not_kept(cached, five_products, admin_headers):
    """The commit event comes before the database commits: a count made in between
    still sees the old rows, and must not be served once the write has landed."""
    during = []

    def count_meanwhile(_connection):
        # Another thread, as another request would be: its own app context and session.
        if not during:
            reader = threading.Thread(target=lambda: during.append(listing(cached)))
            reader.start()
            reader.join()

    event.listen(cached.engine, "commit", count_meanwhile)
    try:
        cached.client.post(
            PRODUCTS, json={"sku": "NEW-1", "name": "New", "price_cents": 1}, headers=admin_headers
        )
    finally:
        event.remove(cached.engine, "commit", count_meanwhile)

    assert during == [(5, 1)]
    assert listing(cached) == (6, 1)


def test_a_small_total_is_always_exact(cached, make_product):
    for _ in range(MINIMUM - 1):
        make_product()
    assert listing(cached, per_page=1) == (MINIMUM - 1, 1)

    make_product()

    assert listing(cached, per_page=1) == (MINIMUM, 1)


def test_each_filter_has_its_own_total(cached, five_products):
    assert listing(cached) == (5, 1)
    assert listing(cached, min_price=200) == (4, 1)
    assert listing(cached, min_price=300) == (3, 1)
    assert listing(cached, min_price=200) == (4, 0)
    assert listing(cached, q="SKU") == (5, 1)


def test_each_viewer_has_their_own_total(cached, make_user, in_app, admin_headers):
    owners = [make_user(), make_user()]

    def place():
        for number in range(7):
            owner = owners[number % 2]["id"]
            db.session.add(Order(user_id=owner, status="pending", total_cents=100))
        db.session.commit()

    in_app(place)

    assert listing(cached, ORDERS, admin_headers) == (7, 1)
    assert listing(cached, ORDERS, bearer(owners[0]["access"])) == (4, 1)
    assert listing(cached, ORDERS, bearer(owners[1]["access"])) == (3, 1)
    assert listing(cached, ORDERS, bearer(owners[0]["access"])) == (4, 0)
    # The same rows by another route: the same statement, so the same kept count.
    nested = f"/api/v1/users/{owners[1]['id']}/orders"
    assert listing(cached, nested, admin_headers) == (3, 0)


def test_with_no_ttl_every_total_is_counted(build_app, five_products):
    application = build_app(
        PAGE_COUNT_CACHE_MIN=0, PAGE_COUNT_CACHE_SECONDS=0, RESPONSE_CACHE=False
    )
    with application.app_context():
        counter = StatementCounter(db.engine)
    app = SimpleNamespace(client=application.test_client(), counter=counter)
    try:
        assert listing(app) == (5, 1)
        assert listing(app) == (5, 1)
    finally:
        counter.close()


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"per_page": 20}, (5, 0)),  # the one page holds every row
        ({"page": 3}, (5, 0)),  # the last page: four before it, one on it
        ({"page": 2}, (5, 1)),  # rows follow: only a count knows how many
        ({"page": 4}, (5, 1)),  # past the end: nothing to count from
    ],
)
def test_a_last_page_knows_its_total_without_counting(cached, five_products, query, expected):
    assert listing(cached, **query) == expected
