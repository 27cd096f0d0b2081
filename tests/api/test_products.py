"""The product catalog through the HTTP API: reads, writes, access rules, conflicts.

Every response is also checked against openapi/swagger.json by the test client.
Bad bodies and query strings of every kind live in test_bad_input.py.
"""

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from flask_jwt_extended import create_access_token
from sqlalchemy import select, update

from models import Product, User, db
from tests.conftest import bearer
from tests.helpers import assert_problem

API = "/api/v1/products"
RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
LINK = re.compile(r'<([^>]*)>;\s*rel="([^"]+)"')
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
# Ids that name no product: below the range, unused, the largest 64-bit id, past it.
UNKNOWN_IDS = (0, 424242, 2**63 - 1, 2**63, 10**30)


def item_url(product_id: int) -> str:
    return f"{API}/{product_id}"


def product_body(**overrides) -> dict:
    """A valid ProductInput body."""
    return {
        "sku": "NEW-001",
        "name": "New product",
        "description": "Brand new",
        "price_cents": 1999,
        "stock": 3,
        **overrides,
    }


def write(client, method: str, product_id: int | None, headers: dict | None, body=None):
    """Send a write: POST to the collection, anything else to ``product_id``."""
    url = API if method == "POST" else item_url(product_id)
    if body is None and method != "DELETE":
        body = product_body()
    return client.open(url, method=method, headers=headers or {}, json=body)


def links_of(response) -> dict[str, str]:
    """The RFC 8288 ``Link`` header as ``{rel: url}``."""
    return {rel: url for url, rel in LINK.findall(response.headers["Link"])}


def page_number(url: str) -> tuple[int, int]:
    """(page, per_page) of a page URL, which must point at the collection."""
    parts = urlsplit(url)
    assert parts.path == API
    query = parse_qs(parts.query)
    return int(query["page"][0]), int(query["per_page"][0])


def landing(client, url: str) -> tuple[int, list[int]]:
    """Follow a page link: the ``page`` number it answers with, and its product ids."""
    response = client.get(url)
    return response.get_json()["page"], ids(response)


def ids(response) -> list[int]:
    assert response.status_code == 200, response.get_data(as_text=True)
    return [item["id"] for item in response.get_json()["items"]]


def product_rows():
    """Every products row, deleted ones and server-owned columns included."""
    return db.session.execute(select(Product.__table__).order_by(Product.id)).all()


def catalog_state(client, in_app, product_ids=()) -> tuple:
    """What a client and the database see: the listing, each product, the raw rows."""
    listing = client.get(API, query_string={"per_page": 100})
    items = [client.get(item_url(pid)).get_data() for pid in product_ids]
    return listing.get_data(), items, in_app(product_rows)


def set_created_at(product_id: int, when: datetime) -> None:
    db.session.execute(update(Product).where(Product.id == product_id).values(created_at=when))
    db.session.commit()


# --- Tokens that must be refused --------------------------------------------


def _expired_token(admin: dict) -> str:
    user = db.session.get(User, admin["id"])
    return create_access_token(identity=user, expires_delta=timedelta(seconds=-60))


def _forged_token(admin: dict) -> str:
    """The admin's own claims, signed with a key the server does not know."""
    claims = jwt.decode(admin["access"], options={"verify_signature": False})
    return jwt.encode(claims, "not-the-server-key-not-the-server-key", algorithm="HS256")


BAD_CREDENTIALS = {
    "no header": lambda admin, in_app: {},
    "garbage token": lambda admin, in_app: bearer("garbage"),
    "empty bearer": lambda admin, in_app: {"Authorization": "Bearer "},
    "basic scheme": lambda admin, in_app: {"Authorization": "Basic YWRtaW46YWRtaW4="},
    "refresh token": lambda admin, in_app: bearer(admin["refresh"]),
    "expired token": lambda admin, in_app: bearer(in_app(_expired_token, admin)),
    "forged signature": lambda admin, in_app: bearer(_forged_token(admin)),
}


@pytest.fixture(params=list(BAD_CREDENTIALS))
def bad_credentials(request, admin, in_app) -> dict:
    """Authorization headers (or none) that must not pass for the admin's."""
    return BAD_CREDENTIALS[request.param](admin, in_app)


@pytest.fixture
def as_role(admin_headers, customer_headers) -> dict:
    """Headers by who sends the request."""
    return {"admin": admin_headers, "customer": customer_headers, "nobody": {}}


@pytest.fixture
def snapshot(client, in_app):
    """Take the catalog state (see ``catalog_state``) for the given products."""
    return lambda *product_ids: catalog_state(client, in_app, product_ids)


# --- Listing ----------------------------------------------------------------


def test_list_returns_the_envelope_with_every_product(client, make_product):
    first = make_product(name="Mug", price_cents=1299, stock=4, description="Enamel")
    second = make_product()

    response = client.get(API)

    assert response.status_code == 200
    body = response.get_json()
    assert [item["id"] for item in body["items"]] == [first, second]
    assert (body["page"], body["per_page"], body["total"], body["pages"]) == (1, 20, 2, 1)
    mug = body["items"][0]
    assert {k: mug[k] for k in ("name", "price_cents", "stock", "description")} == {
        "name": "Mug",
        "price_cents": 1299,
        "stock": 4,
        "description": "Enamel",
    }
    assert mug["_links"] == {"self": item_url(first)}
    assert RFC3339_UTC.match(mug["created_at"])
    assert RFC3339_UTC.match(mug["updated_at"])
    assert set(body["_links"]) == {"self", "first", "last"}
    assert links_of(response) == body["_links"]


def test_list_of_an_empty_catalog_is_one_empty_page(client):
    response = client.get(API)

    body = response.get_json()
    assert (body["items"], body["total"], body["pages"]) == ([], 0, 0)
    assert set(links_of(response)) == {"self", "first", "last"}
    assert page_number(body["_links"]["last"]) == (1, 20)


@pytest.mark.parametrize(
    ("page", "expected_slice", "expected_rels"),
    [
        (1, slice(0, 2), {"self": 1, "first": 1, "next": 2, "last": 3}),
        (2, slice(2, 4), {"self": 2, "first": 1, "prev": 1, "next": 3, "last": 3}),
        (3, slice(4, 5), {"self": 3, "first": 1, "prev": 2, "last": 3}),
    ],
)
def test_pages_and_their_links(client, make_product, page, expected_slice, expected_rels):
    products = [make_product() for _ in range(5)]

    response = client.get(API, query_string={"page": page, "per_page": 2})

    assert ids(response) == products[expected_slice]
    body = response.get_json()
    assert (body["page"], body["per_page"], body["total"], body["pages"]) == (page, 2, 5, 3)
    header = links_of(response)
    assert header == body["_links"]
    # Every link leads to the page it names; ``next`` by keyset cursor, the rest by number.
    assert {rel: landing(client, url) for rel, url in header.items()} == {
        rel: (number, products[(number - 1) * 2 : number * 2])
        for rel, number in expected_rels.items()
    }
    assert {rel: page_number(url) for rel, url in header.items() if rel != "next"} == {
        rel: (number, 2) for rel, number in expected_rels.items() if rel != "next"
    }
    if "next" in header:
        assert "after" in parse_qs(urlsplit(header["next"]).query)


def test_page_past_the_end_is_an_empty_page_not_an_error(client, make_product):
    for _ in range(3):
        make_product()

    response = client.get(API, query_string={"page": 9, "per_page": 2})

    assert ids(response) == []
    body = response.get_json()
    assert (body["page"], body["total"], body["pages"]) == (9, 3, 2)
    header = links_of(response)
    assert "next" not in header
    assert page_number(header["last"]) == (2, 2)
    assert page_number(header["prev"]) == (2, 2)


def test_following_next_links_visits_each_match_once_keeping_filters(client, make_product):
    expected = [make_product(name=f"100% wool {n}", price_cents=900 - n) for n in range(5)]
    make_product(name="Cotton")
    seen, url = [], f"{API}?q=100%25&sort=price_cents&per_page=2"

    while url:
        response = client.get(url)
        seen += ids(response)
        url = links_of(response).get("next")

    assert seen == list(reversed(expected))


def test_per_page_accepts_the_documented_maximum(client, make_product):
    products = [make_product() for _ in range(3)]

    response = client.get(API, query_string={"per_page": 100})

    assert ids(response) == products
    assert response.get_json()["per_page"] == 100


# --- Filters ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("q", "expected_names"),
    [
        ("mug", ["Enamel mug", "Travel MUG"]),
        ("MUG", ["Enamel mug", "Travel MUG"]),
        ("tee-0", ["Cotton tee"]),  # matches the SKU TEE-001, in any case
        ("%", ["100% cotton"]),
        ("0%", ["100% cotton"]),
        ("_", ["Snake_case pen"]),
        ("e_c", ["Snake_case pen"]),
        ("/", ["Either/or"]),
        ("\\", ["Back\\slash"]),
        ("zzz", []),
    ],
)
def test_q_matches_name_or_sku_literally_in_any_case(client, make_product, q, expected_names):
    for sku, name in [
        ("MUG-001", "Enamel mug"),
        ("MUG-002", "Travel MUG"),
        ("TEE-001", "Cotton tee"),
        ("CTN-100", "100% cotton"),
        ("CTN-1000", "1000 cottons"),
        ("PEN-001", "Snake_case pen"),
        ("PEN-002", "Snakeycase pen"),
        ("EO-1", "Either/or"),
        ("BS-1", "Back\\slash"),
    ]:
        make_product(sku=sku, name=name)

    response = client.get(API, query_string={"q": q})

    assert [item["name"] for item in response.get_json()["items"]] == expected_names
    assert response.get_json()["total"] == len(expected_names)


@pytest.mark.parametrize("q", ["crème", "CRÈME", "BRÛLÉE"])
def test_q_is_case_insensitive_beyond_ascii(client, make_product, q):
    wanted = make_product(name="Crème brûlée torch")
    make_product(name="Creme remover")

    assert ids(client.get(API, query_string={"q": q})) == [wanted]


@pytest.mark.parametrize(
    ("query", "expected_prices"),
    [
        ({"min_price": 200}, [200, 300]),
        ({"max_price": 200}, [100, 200]),
        ({"min_price": 200, "max_price": 200}, [200]),
        ({"min_price": 101, "max_price": 299}, [200]),
        ({"min_price": 0, "max_price": 1_000_000_000}, [100, 200, 300]),
        ({"min_price": 300, "max_price": 100}, []),
    ],
)
def test_price_bounds_are_inclusive(client, make_product, query, expected_prices):
    for price in (100, 200, 300):
        make_product(price_cents=price)

    response = client.get(API, query_string=query)

    assert response.status_code == 200
    body = response.get_json()
    assert [item["price_cents"] for item in body["items"]] == expected_prices
    assert body["total"] == len(expected_prices)


@pytest.mark.parametrize(
    ("in_stock", "expected"), [("true", [1, 5]), ("1", [1, 5]), ("false", [0]), ("0", [0])]
)
def test_in_stock_filter(client, make_product, in_stock, expected):
    for stock in (1, 0, 5):
        make_product(stock=stock)

    response = client.get(API, query_string={"in_stock": in_stock})

    assert [item["stock"] for item in response.get_json()["items"]] == expected


def test_filters_combine_and_total_counts_only_matches(client, make_product):
    match = make_product(name="Blue mug", price_cents=500, stock=2)
    make_product(name="Blue mug XL", price_cents=900, stock=2)  # too dear
    make_product(name="Blue mug S", price_cents=400, stock=0)  # sold out
    make_product(name="Red cap", price_cents=500, stock=2)  # no match for q

    response = client.get(
        API, query_string={"q": "blue", "max_price": 800, "in_stock": "true", "per_page": 1}
    )

    assert ids(response) == [match]
    assert (response.get_json()["total"], response.get_json()["pages"]) == (1, 1)


# --- Sorting ------------------------------------------------------------------

# (name, price_cents, minutes after T0 it was created): ties on every key, and
# an id order that no key reproduces.
SORT_FIXTURE = [("Cup", 300, 2), ("Apron", 100, 0), ("Bowl", 300, 1), ("Apron", 200, 1)]


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        (None, [0, 1, 2, 3]),
        ("name", [1, 3, 2, 0]),
        ("-name", [0, 2, 3, 1]),
        ("price_cents", [1, 3, 0, 2]),
        ("-price_cents", [2, 0, 3, 1]),
        ("created_at", [1, 2, 3, 0]),
        ("-created_at", [0, 3, 2, 1]),
    ],
)
def test_sort_orders_by_the_key_and_breaks_ties_by_id(client, make_product, in_app, sort, expected):
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    products = []
    for name, price, minutes in SORT_FIXTURE:
        products.append(make_product(name=name, price_cents=price))
        in_app(set_created_at, products[-1], t0 + timedelta(minutes=minutes))
    query = {"sort": sort} if sort else {}

    whole = ids(client.get(API, query_string=query))
    one_by_one = [
        ids(client.get(API, query_string={**query, "page": page, "per_page": 1}))[0]
        for page in range(1, 5)
    ]

    assert whole == [products[i] for i in expected]
    assert one_by_one == whole


# --- Create -------------------------------------------------------------------


def test_post_creates_a_product_at_its_location(client, admin_headers):
    response = client.post(API, headers=admin_headers, json=product_body())

    assert response.status_code == 201
    body = response.get_json()
    assert response.headers["Location"] == item_url(body["id"]) == body["_links"]["self"]
    assert {k: body[k] for k in product_body()} == product_body()
    assert RFC3339_UTC.match(body["created_at"])
    assert body["updated_at"] == body["created_at"]
    fetched = client.get(response.headers["Location"])
    assert fetched.status_code == 200
    assert fetched.get_json() == body
    assert ids(client.get(API)) == [body["id"]]


def test_post_defaults_description_to_empty_and_stock_to_zero(client, admin_headers):
    body = {"sku": "BARE-1", "name": "Bare", "price_cents": 0}

    response = client.post(API, headers=admin_headers, json=body)

    assert response.status_code == 201
    assert (response.get_json()["description"], response.get_json()["stock"]) == ("", 0)


def test_get_returns_one_product(client, make_product):
    product_id = make_product(sku="MUG-001", name="Mug", price_cents=1299, stock=4)

    response = client.get(item_url(product_id))

    assert response.status_code == 200
    body = response.get_json()
    assert (body["id"], body["sku"], body["name"]) == (product_id, "MUG-001", "Mug")
    assert (body["price_cents"], body["stock"], body["description"]) == (1299, 4, "")
    assert body["_links"] == {"self": item_url(product_id)}


# --- Replace and update --------------------------------------------------------


def test_put_replaces_every_field(client, admin_headers, make_product):
    product_id = make_product()
    before = client.get(item_url(product_id)).get_json()

    response = client.put(item_url(product_id), headers=admin_headers, json=product_body())

    assert response.status_code == 200
    body = response.get_json()
    assert {k: body[k] for k in product_body()} == product_body()
    assert (body["id"], body["created_at"]) == (product_id, before["created_at"])
    assert client.get(item_url(product_id)).get_json() == body


def test_put_resets_omitted_description_and_stock(client, admin_headers, make_product):
    product_id = make_product(description="Old text", stock=7)
    body = {"sku": "SKU-KEPT", "name": "Renamed", "price_cents": 500}

    response = client.put(item_url(product_id), headers=admin_headers, json=body)

    assert response.status_code == 200, response.get_data(as_text=True)
    replaced = response.get_json()
    assert (replaced["description"], replaced["stock"]) == ("", 0)
    assert client.get(item_url(product_id)).get_json() == replaced


def test_put_may_keep_the_products_own_sku(client, admin_headers, make_product):
    product_id = make_product(sku="OWN-1")

    response = client.put(
        item_url(product_id), headers=admin_headers, json=product_body(sku="OWN-1")
    )

    assert response.status_code == 200
    assert response.get_json()["sku"] == "OWN-1"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("sku", "PATCHED-1"),
        ("name", "Patched"),
        ("description", "Patched text"),
        ("price_cents", 4321),
        ("stock", 0),
    ],
)
def test_patch_changes_only_the_given_field(client, admin_headers, make_product, field, value):
    product_id = make_product(description="Original", stock=9)
    before = client.get(item_url(product_id)).get_json()

    response = client.patch(item_url(product_id), headers=admin_headers, json={field: value})

    assert response.status_code == 200
    after = response.get_json()
    assert after[field] == value
    unchanged = set(before) - {field, "updated_at"}
    assert {k: after[k] for k in unchanged} == {k: before[k] for k in unchanged}
    assert client.get(item_url(product_id)).get_json() == after


@pytest.mark.parametrize("body", [{}, {"sku": "SAME-1"}], ids=["empty", "own sku"])
def test_patch_without_changes_is_a_no_op(client, admin_headers, make_product, in_app, body):
    product_id = make_product(sku="SAME-1")
    before = client.get(item_url(product_id)).get_data()
    rows = in_app(product_rows)

    response = client.patch(item_url(product_id), headers=admin_headers, json=body)

    assert response.status_code == 200
    assert response.get_data() == before
    assert in_app(product_rows) == rows


# --- Delete ---------------------------------------------------------------------


def test_delete_answers_204_with_nothing(client, admin_headers, make_product):
    product_id = make_product()

    response = client.delete(item_url(product_id), headers=admin_headers)

    assert response.status_code == 204
    assert response.get_data() == b""
    # DESIGN.md: a 204 has no body and either no Content-Type or one the operation lists.
    assert response.headers.get("Content-Type") in (None, "application/json")


def test_delete_is_soft_the_row_is_kept_for_history(client, admin_headers, make_product, in_app):
    product_id = make_product()

    client.delete(item_url(product_id), headers=admin_headers)

    deleted = in_app(lambda: db.session.get(Product, product_id).deleted_at)
    assert deleted is not None


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE"])
def test_a_deleted_product_is_gone(client, admin_headers, make_product, method):
    product_id = make_product()
    assert client.delete(item_url(product_id), headers=admin_headers).status_code == 204
    body = None if method in ("GET", "DELETE") else product_body()

    response = client.open(item_url(product_id), method=method, headers=admin_headers, json=body)

    assert_problem(response, 404)
    assert str(product_id) in response.get_json()["detail"]


def test_a_deleted_product_leaves_listings_and_totals(client, admin_headers, make_product):
    kept, deleted = make_product(), make_product()

    client.delete(item_url(deleted), headers=admin_headers)

    response = client.get(API)
    assert ids(response) == [kept]
    assert (response.get_json()["total"], response.get_json()["pages"]) == (1, 1)
    assert ids(client.get(API, query_string={"q": "SKU"})) == [kept]


def test_a_deleted_products_sku_can_be_reused(client, admin_headers, make_product):
    deleted = make_product(sku="REUSE-1")
    other = make_product(sku="OTHER-1")
    client.delete(item_url(deleted), headers=admin_headers)

    created = client.post(API, headers=admin_headers, json=product_body(sku="REUSE-1"))
    assert created.status_code == 201
    new_id = created.get_json()["id"]
    assert new_id != deleted
    assert client.delete(item_url(new_id), headers=admin_headers).status_code == 204

    patched = client.patch(item_url(other), headers=admin_headers, json={"sku": "REUSE-1"})
    assert patched.status_code == 200
    assert patched.get_json()["sku"] == "REUSE-1"


# --- Access: 401 and 403 ------------------------------------------------------------


@pytest.mark.parametrize("method", WRITE_METHODS)
def test_writes_without_a_valid_token_are_401(
    client, make_product, snapshot, method, bad_credentials
):
    product_id = make_product()
    before = snapshot(product_id)

    response = write(client, method, product_id, bad_credentials)

    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert snapshot(product_id) == before


@pytest.mark.parametrize("method", WRITE_METHODS)
def test_writes_by_a_customer_are_403(client, customer_headers, make_product, snapshot, method):
    product_id = make_product()
    before = snapshot(product_id)

    response = write(client, method, product_id, customer_headers)

    assert_problem(response, 403)
    assert snapshot(product_id) == before


@pytest.mark.parametrize("who", ["nobody", "customer"])
@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH"])
def test_access_is_checked_before_the_body(client, as_role, make_product, method, who):
    product_id = make_product()

    response = write(client, method, product_id, as_role[who], body=["not", "an", "object"])

    assert_problem(response, {"nobody": 401, "customer": 403}[who])


def test_reads_need_no_token(client, make_product):
    product_id = make_product()

    assert client.get(API).status_code == 200
    assert client.get(item_url(product_id)).status_code == 200


# --- 404 and 409 ---------------------------------------------------------------------


@pytest.mark.parametrize("product_id", UNKNOWN_IDS)
@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE"])
def test_unknown_ids_are_404(client, admin_headers, make_product, method, product_id):
    make_product()  # the table is not empty
    body = None if method in ("GET", "DELETE") else product_body()

    response = client.open(item_url(product_id), method=method, headers=admin_headers, json=body)

    assert_problem(response, 404)


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH"])
def test_a_sku_of_another_live_product_is_409(
    client, admin_headers, make_product, snapshot, method
):
    taken = make_product(sku="TAKEN-1")
    product_id = make_product(sku="MINE-1")
    before = snapshot(taken, product_id)
    body = {"sku": "TAKEN-1"} if method == "PATCH" else product_body(sku="TAKEN-1")

    response = write(client, method, product_id, admin_headers, body=body)

    problem = assert_problem(response, 409)
    assert "TAKEN-1" in problem["detail"]
    assert snapshot(taken, product_id) == before


# --- A rejected write changes nothing --------------------------------------------------

REJECTED_WRITES = [
    # (method, target, who, body, status)
    ("POST", None, "admin", ["not an object"], 400),
    ("POST", None, "admin", product_body(unexpected=1), 400),
    ("POST", None, "nobody", product_body(), 401),
    ("POST", None, "customer", product_body(), 403),
    ("POST", None, "admin", product_body(sku="B-001"), 409),
    ("POST", None, "admin", product_body(price_cents=-1), 422),
    ("PUT", "a", "admin", {"sku": "A-001", "name": "No price"}, 400),
    ("PUT", "a", "nobody", product_body(), 401),
    ("PUT", "a", "customer", product_body(), 403),
    ("PUT", "missing", "admin", product_body(), 404),
    ("PUT", "a", "admin", product_body(sku="B-001"), 409),
    ("PUT", "a", "admin", product_body(name="x" * 201), 422),
    ("PATCH", "a", "admin", {"price_cents": "12"}, 400),
    ("PATCH", "a", "nobody", {"name": "Renamed"}, 401),
    ("PATCH", "a", "customer", {"name": "Renamed"}, 403),
    ("PATCH", "missing", "admin", {"name": "Renamed"}, 404),
    ("PATCH", "a", "admin", {"name": "Renamed", "sku": "B-001"}, 409),
    ("PATCH", "a", "admin", {"name": "Renamed", "stock": -1}, 422),
    ("DELETE", "a", "nobody", None, 401),
    ("DELETE", "a", "customer", None, 403),
    ("DELETE", "missing", "admin", None, 404),
]


@pytest.mark.parametrize(
    "case", REJECTED_WRITES, ids=[f"{c[0]}-{c[4]}-{i}" for i, c in enumerate(REJECTED_WRITES)]
)
def test_a_rejected_write_leaves_the_catalog_unchanged(
    client, as_role, make_product, snapshot, case
):
    method, target, who, body, status = case
    a = make_product(sku="A-001", description="First", stock=2)
    b = make_product(sku="B-001", price_cents=50)
    product_id = {"a": a, "missing": 999_999, None: None}[target]
    before = snapshot(a, b)

    response = write(client, method, product_id, as_role[who], body=body)

    assert_problem(response, status, fields=...)
    assert snapshot(a, b) == before
    assert len(before[2]) == 2
