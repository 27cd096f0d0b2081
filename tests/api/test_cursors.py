"""Keyset cursors: following ``next`` links, cursor pages' envelopes, and forged cursors.

The ``next`` link of every page but the last carries an ``after`` cursor. A
client that follows them from the first page sees every row exactly once, in
the listing's order, whatever the sort and its direction and however many rows
share a sort value; a cursor this API did not make is a 400 problem.
"""

import base64
import json
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import update

from api.http.cursors import MAX_CURSOR_LENGTH
from api.http.pagination import MAX_PAGE
from api.restx.fields import MAX_ID
from models import Order, Product, db
from models.order import Status
from tests.conftest import bearer
from tests.helpers import assert_problem

PRODUCTS = "/api/v1/products"
ORDERS = "/api/v1/orders"
LINK = re.compile(r'<([^>]*)>;\s*rel="([^"]+)"')
T0 = datetime(2026, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)
# (name, price_cents, created_at): ties on every sort column, timestamps a
# microsecond apart and equal ones, upper and lower case.
CATALOG = [
    ("Mug", 500, T0),
    ("Apron", 900, T0 + MICROSECOND),
    ("Mug", 500, T0 + MICROSECOND),
    ("bowl", 100, T0),
    ("Apron", 500, T0 + 2 * MICROSECOND),
    ("Cup", 900, T0 + timedelta(seconds=1)),
    ("Mug", 100, T0 - MICROSECOND),
    ("Cup", 500, T0 + timedelta(days=1, microseconds=999_999)),
    ("Apron", 900, T0 + MICROSECOND),
    ("Zest", 100, T0 + timedelta(seconds=1)),
    ("Mug", 500, T0),
]
PRODUCT_SORTS = [None, "name", "-name", "price_cents", "-price_cents", "created_at", "-created_at"]
ORDER_SORTS = [None, "created_at", "-created_at", "total_cents", "-total_cents"]


def forge(data) -> str:
    """A cursor with any content, encoded as the API encodes its own."""
    text = json.dumps(data, separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()


def ids(response) -> list[int]:
    assert response.status_code == 200, response.get_data(as_text=True)
    return [item["id"] for item in response.get_json()["items"]]


def walk(client, url: str, headers=None) -> tuple[list[int], list[dict]]:
    """Follow ``next`` links from ``url``: every id seen, and every page's envelope."""
    seen, pages = [], []
    while url:
        response = client.get(url, headers=headers or {})
        seen += ids(response)
        body = response.get_json()
        pages.append(body)
        url = body["_links"].get("next")
        assert len(pages) <= 100, "the walk does not end"
    return seen, pages


def query_of(url: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


def assert_walk_matches_listing(client, url, query, headers=None) -> None:
    """Walking ``next`` from page 1 shows the listing's rows once each, in its order."""
    whole = ids(client.get(url, query_string={**query, "per_page": 100}, headers=headers or {}))
    start = f"{url}?{'&'.join(f'{k}={v}' for k, v in {**query, 'per_page': 3}.items())}"

    seen, pages = walk(client, start, headers)

    assert seen == whole
    assert len(set(seen)) == len(seen)
    assert [page["page"] for page in pages] == list(range(1, len(pages) + 1))
    assert {page["total"] for page in pages} == {len(whole)}
    for page in pages[:-1]:
        # Filters and sort carried on; the cursor replaces the page number.
        assert query_of(page["_links"]["next"]).keys() == {*query, "per_page", "after"}
        assert {k: v for k, v in query_of(page["_links"]["next"]).items() if k in query} == {
            k: str(v) for k, v in query.items()
        }


@pytest.fixture
def catalog(make_product, in_app) -> list[int]:
    """The products of ``CATALOG``, with their creation times set."""
    made = [
        make_product(name=name, price_cents=price, stock=number % 3)
        for number, (name, price, _) in enumerate(CATALOG)
    ]

    def backdate():
        for product_id, (_, _, created) in zip(made, CATALOG, strict=True):
            db.session.execute(
                update(Product).where(Product.id == product_id).values(created_at=created)
            )
        db.session.commit()

    in_app(backdate)
    return made


# --- following next ---------------------------------------------------------------------


@pytest.mark.parametrize("sort", PRODUCT_SORTS)
@pytest.mark.parametrize("filters", [{}, {"min_price": 500}, {"q": "p", "in_stock": "true"}])
def test_following_next_visits_every_product_once_in_order(client, catalog, sort, filters):
    query = {**filters, **({"sort": sort} if sort else {})}

    assert_walk_matches_listing(client, PRODUCTS, query)


@pytest.fixture
def order_book(in_app, make_user) -> dict:
    """Orders of two customers with ties on total and creation time; their owners."""
    owners = [make_user(), make_user()]
    totals = [700, 300, 700, 300, 700, 100, 300, 700, 900, 100, 700]

    def place():
        for number, total in enumerate(totals):
            created = T0 + (number % 4) * MICROSECOND + timedelta(hours=number % 2)
            status = Status.PAID if number % 3 else Status.PENDING
            db.session.add(
                Order(
                    user_id=owners[number % 2]["id"],
                    status=status.value,
                    total_cents=total,
                    created_at=created,
                )
            )
        db.session.commit()

    in_app(place)
    return {"owners": owners}


@pytest.mark.parametrize("sort", ORDER_SORTS)
@pytest.mark.parametrize("filters", [{}, {"status": "paid"}])
def test_following_next_visits_every_order_once_in_order(
    client, order_book, admin_headers, sort, filters
):
    query = {**filters, **({"sort": sort} if sort else {})}
    owner = order_book["owners"][0]

    assert_walk_matches_listing(client, ORDERS, query, admin_headers)
    assert_walk_matches_listing(client, ORDERS, query, bearer(owner["access"]))
    assert_walk_matches_listing(
        client, f"/api/v1/users/{owner['id']}/orders", query, bearer(owner["access"])
    )


def test_a_cursor_made_for_one_customer_shows_another_only_their_own(client, order_book):
    first, second = order_book["owners"]
    page = client.get(ORDERS, query_string={"per_page": 2}, headers=bearer(first["access"]))
    theirs = ids(client.get(ORDERS, headers=bearer(second["access"])))

    after = client.get(page.get_json()["_links"]["next"], headers=bearer(second["access"]))

    assert set(ids(after)) <= set(theirs)


# --- a cursor page --------------------------------------------------------------------------


def test_a_cursor_page_has_its_number_and_links_to_pages_by_number(client, catalog):
    first = client.get(PRODUCTS, query_string={"sort": "-price_cents", "per_page": 4})
    url = first.get_json()["_links"]["next"]

    response = client.get(url)

    body = response.get_json()
    by_number = client.get(
        PRODUCTS, query_string={"sort": "-price_cents", "per_page": 4, "page": 2}
    )
    assert ids(response) == ids(by_number)
    assert (body["page"], body["per_page"], body["total"], body["pages"]) == (2, 4, 11, 3)
    links = body["_links"]
    assert links["self"] == url
    assert {rel: query_of(links[rel]) for rel in ("first", "prev", "last")} == {
        rel: {"sort": "-price_cents", "page": str(number), "per_page": "4"}
        for rel, number in (("first", 1), ("prev", 1), ("last", 3))
    }
    assert query_of(links["next"]).keys() == {"sort", "after", "per_page"}
    assert {rel: target for target, rel in LINK.findall(response.headers["Link"])} == links


def test_the_next_cursor_of_a_deep_numbered_page_opens_the_page_after_it(client, catalog):
    query = {"sort": "name", "per_page": 2}
    fourth = client.get(PRODUCTS, query_string={**query, "page": 4}).get_json()

    response = client.get(fourth["_links"]["next"])

    assert ids(response) == ids(client.get(PRODUCTS, query_string={**query, "page": 5}))
    assert response.get_json()["page"] == 5
    assert query_of(response.get_json()["_links"]["prev"])["page"] == "4"


def test_the_last_page_after_a_cursor_has_no_next(client, catalog):
    url = client.get(PRODUCTS, query_string={"per_page": 10}).get_json()["_links"]["next"]

    body = client.get(url).get_json()

    assert [item["id"] for item in body["items"]] == catalog[10:]
    assert "next" not in body["_links"]


def test_rows_removed_before_a_cursor_do_not_move_it(client, catalog, admin_headers):
    url = client.get(PRODUCTS, query_string={"per_page": 3}).get_json()["_links"]["next"]
    for product_id in catalog[:3]:
        client.delete(f"{PRODUCTS}/{product_id}", headers=admin_headers)

    response = client.get(url)

    # By number, page 2 now starts at the seventh product; the cursor keeps its place.
    assert ids(response) == catalog[3:6]
    assert response.get_json()["total"] == len(catalog) - 3


def test_the_longest_names_fit_in_a_cursor(client, make_product):
    longest = "\U0001f600" * 200  # four UTF-8 bytes each, the most a character takes
    made = [make_product(name=longest), make_product(name=longest), make_product(name='"\\' * 100)]

    seen, pages = walk(client, f"{PRODUCTS}?sort=-name&per_page=1")

    assert seen == [made[1], made[0], made[2]]  # descending, ties by id descending too
    assert all(
        len(query_of(page["_links"]["next"])["after"]) <= MAX_CURSOR_LENGTH for page in pages[:-1]
    )


def test_the_bench_reads_a_cursor_from_a_numbered_page(client, catalog):
    """bench/run.py's _deep_cursor takes after= from the Link header of a numbered page."""
    response = client.get(PRODUCTS, query_string={"per_page": 2, "page": 3})
    found = re.search(r"[?&]after=([^&>\s\"]+)", response.headers["Link"])

    deep = client.get(PRODUCTS, query_string={"per_page": 2, "after": found.group(1)})
    assert ids(deep) == catalog[6:8]


# --- forged cursors -------------------------------------------------------------------------


def _cursor(sort=None, value=None, row_id=1, page=2) -> dict:
    return {"s": sort, "v": value, "i": row_id, "p": page}


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ({"after": "notacursor"}, "not base64 of JSON"),
        ({"after": "A"}, "not base64 at all"),
        ({"after": forge([1, 2])}, "not an object"),
        ({"after": forge({"s": None, "v": None, "i": 1})}, "a field missing"),
        ({"after": forge({**_cursor(), "x": 1})}, "an unknown field"),
        ({"after": forge(_cursor(value=5))}, "a value, sorted by id"),
        ({"after": forge(_cursor(row_id=0))}, "id below 1"),
        ({"after": forge(_cursor(row_id=MAX_ID + 1))}, "id past MAX_ID"),
        ({"after": forge(_cursor(row_id="1"))}, "id as text"),
        ({"after": forge(_cursor(row_id=True))}, "id as a boolean"),
        ({"after": forge(_cursor(page=1))}, "a cursor never opens page 1"),
        ({"after": forge(_cursor(page=MAX_PAGE + 1))}, "page past MAX_PAGE"),
        ({"after": forge(_cursor(page=2.0))}, "page as a float"),
        ({"sort": "price_cents", "after": forge(_cursor("price_cents", "cheap"))}, "text price"),
        ({"sort": "price_cents", "after": forge(_cursor("price_cents", 1.5))}, "float price"),
        ({"sort": "price_cents", "after": forge(_cursor("price_cents", True))}, "boolean price"),
        ({"sort": "price_cents", "after": forge(_cursor("price_cents", 2**70))}, "huge price"),
        ({"sort": "price_cents", "after": forge(_cursor("price_cents"))}, "no price"),
        ({"sort": "name", "after": forge(_cursor("name", 5))}, "number name"),
        ({"sort": "name", "after": forge(_cursor("name", "a\u0000b"))}, "NUL in name"),
        ({"sort": "name", "after": forge(_cursor("name", "\ud800"))}, "unpaired surrogate"),
        ({"sort": "created_at", "after": forge(_cursor("created_at", 12))}, "number time"),
        (
            {"sort": "created_at", "after": forge(_cursor("created_at", "2026-01-01T00:00:00"))},
            "no offset",
        ),
        ({"sort": "created_at", "after": forge(_cursor("created_at", "yesterday"))}, "not a time"),
        ({"sort": "name", "after": forge(_cursor("price_cents", 5))}, "made for another sort"),
        ({"sort": "name", "after": forge(_cursor())}, "made for the default sort"),
        ({"after": forge(_cursor("name", "Mug"))}, "made for a sort, used without"),
        ({"sort": "-name", "after": forge(_cursor("name", "Mug"))}, "made for the other direction"),
        ({"page": 2, "after": forge(_cursor())}, "with page"),
        ({"page": 1, "after": forge(_cursor())}, "with page 1"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_a_forged_cursor_is_a_400(client, catalog, query, reason):
    response = client.get(PRODUCTS, query_string=query)

    body = assert_problem(response, 400, fields=["after"])
    assert body["errors"]["after"][0]


# Each sort value a cursor can hold, just past its column's range (price_cents is a
# 32-bit Integer, name a String(200), created_at a timestamp that must stay within
# years 1 to 9999 once in UTC).
PAST_THE_COLUMN = [
    ("price_cents", 2**31, "price past a 32-bit column"),
    ("price_cents", -(2**31) - 1, "price below a 32-bit column"),
    ("name", "x" * 201, "name longer than its column"),
    ("created_at", "0001-01-01T00:00:00+01:00", "before year 1 in UTC"),
    ("created_at", "9999-12-31T23:59:59-01:00", "after year 9999 in UTC"),
    ("created_at", "2026-01-01T00:00:00+24:00", "offset of a day"),
]
AT_THE_COLUMN_BOUNDS = [
    ("price_cents", 2**31 - 1),
    ("price_cents", -(2**31)),
    ("name", "x" * 200),
    ("created_at", "0001-01-01T00:00:00Z"),
    ("created_at", "0001-01-01T01:00:00+01:00"),
    ("created_at", "9999-12-31T23:59:59.999999Z"),
    ("created_at", "9999-12-31T22:59:59-01:00"),
]


@pytest.mark.parametrize("direction", ["", "-"])
@pytest.mark.parametrize(("sort", "value", "reason"), PAST_THE_COLUMN, ids=lambda v: str(v)[:24])
def test_a_cursor_value_outside_its_column_is_a_400(
    client, catalog, direction, sort, value, reason
):
    sort = direction + sort

    response = client.get(
        PRODUCTS, query_string={"sort": sort, "after": forge(_cursor(sort, value))}
    )

    assert_problem(response, 400, fields=["after"])


@pytest.mark.parametrize("direction", ["", "-"])
@pytest.mark.parametrize(("sort", "value"), AT_THE_COLUMN_BOUNDS, ids=lambda v: str(v)[:24])
def test_a_cursor_value_at_its_column_bounds_is_a_page(client, catalog, direction, sort, value):
    sort = direction + sort

    response = client.get(
        PRODUCTS, query_string={"sort": sort, "after": forge(_cursor(sort, value))}
    )

    assert response.status_code == 200, response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("value", "status"),
    [(2**63 - 1, 200), (-(2**63), 200), (2**63, 400), (-(2**63) - 1, 400)],
    ids=["int64 max", "int64 min", "past int64", "below int64"],
)
def test_an_order_total_in_a_cursor_is_bounded_by_its_64_bit_column(
    client, customer_headers, value, status
):
    sort = "-total_cents"
    query = {"sort": sort, "after": forge(_cursor(sort, value))}

    response = client.get(ORDERS, query_string=query, headers=customer_headers)

    assert response.status_code == status, response.get_data(as_text=True)


def test_a_cursor_nested_deeply_is_a_400(client):
    deep = base64.urlsafe_b64encode(b"[" * 890).rstrip(b"=").decode()

    assert_problem(client.get(PRODUCTS, query_string={"after": deep}), 400, fields=["after"])


@pytest.mark.parametrize(
    "after",
    ["x" * (MAX_CURSOR_LENGTH + 1), "abc=", "a+b", "a/b", "", "a b"],
    ids=["too long", "padding", "plus", "slash", "empty", "space"],
)
def test_a_cursor_out_of_the_documented_bounds_is_a_422(client, after):
    response = client.get(PRODUCTS, query_string={"after": after})

    assert_problem(response, 422, fields=["after"])


def test_orders_refuse_a_forged_cursor_too(client, customer, customer_headers):
    url = f"/api/v1/users/{customer['id']}/orders"
    bad = {"sort": "total_cents", "after": forge(_cursor("total_cents", "much"))}

    assert_problem(
        client.get(ORDERS, query_string=bad, headers=customer_headers), 400, fields=["after"]
    )
    assert_problem(
        client.get(url, query_string=bad, headers=customer_headers), 400, fields=["after"]
    )


def test_a_cursor_from_a_customer_listing_works_for_an_admin(client, order_book, admin_headers):
    owner = order_book["owners"][1]
    page = client.get(ORDERS, query_string={"per_page": 2}, headers=bearer(owner["access"]))
    cursor = query_of(page.get_json()["_links"]["next"])["after"]

    response = client.get(ORDERS, query_string={"after": cursor}, headers=admin_headers)

    assert response.status_code == 200
    assert all(order["id"] > ids(page)[-1] for order in response.get_json()["items"])


def test_users_are_paged_by_number_only(client, admin_headers, make_user):
    for _ in range(3):
        make_user()

    response = client.get("/api/v1/users", query_string={"per_page": 2}, headers=admin_headers)

    assert query_of(response.get_json()["_links"]["next"]) == {"page": "2", "per_page": "2"}
