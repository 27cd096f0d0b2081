"""Bad input of every kind, against every body-taking catalog and auth operation.

DESIGN.md's split: a body of the wrong shape (not JSON, not an object, missing or
unknown field, wrong JSON type) is a 400; a well-shaped value outside a schema
bound (length, range, pattern) is a 422; 413 too large, 415 not JSON media type.
Every rejection is a problem+json body and leaves every table as it was; none is
ever a 500 (the contract-checking client would fail it, and so do the asserts).
"""

import json
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from models import db
from tests.helpers import assert_problem

PRODUCTS = "/api/v1/products"
PRODUCT = {"sku": "BAD-001", "name": "Probe", "description": "Text", "price_cents": 100, "stock": 1}
REGISTER = {"email": "new@example.com", "password": "long enough pw", "name": "New Person"}
LOGIN = {"email": "login@example.com", "password": "the login password"}
TWO_MEGABYTES = 2 * 1024 * 1024
SQL = "'; DROP TABLE products; --"


@dataclass(frozen=True)
class Operation:
    """What a body-taking operation accepts: a valid body and its fields' rules."""

    body: dict
    strings: dict[str, int]  # string field -> maxLength
    integers: tuple[str, ...] = ()
    required: tuple[str, ...] = ()
    server_owned: tuple[str, ...] = ()
    out_of_bounds: tuple[tuple[str, object], ...] = ()  # (field, a well-typed bad value)
    success: int = 200


PRODUCT_OUT_OF_BOUNDS = (
    ("sku", ""),
    ("sku", "abc-1"),
    ("sku", "A B"),
    ("sku", "-LEADING"),
    ("sku", SQL),
    ("name", ""),
    ("price_cents", -1),
    ("price_cents", 1_000_000_001),
    ("price_cents", 10**12),
    ("stock", -1),
    ("stock", 10**12),
)
PRODUCT_RULES = {
    "body": PRODUCT,
    "strings": {"sku": 64, "name": 200, "description": 5000},
    "integers": ("price_cents", "stock"),
    "server_owned": ("id", "created_at", "updated_at", "deleted_at", "version", "_links", "role"),
    "out_of_bounds": PRODUCT_OUT_OF_BOUNDS,
}
PRODUCT_REQUIRED = ("sku", "name", "price_cents")
OPERATIONS = {
    "POST /products": Operation(**PRODUCT_RULES, required=PRODUCT_REQUIRED, success=201),
    "PUT /products/{id}": Operation(**PRODUCT_RULES, required=PRODUCT_REQUIRED),
    "PATCH /products/{id}": Operation(**PRODUCT_RULES),  # every field is optional
    "POST /auth/register": Operation(
        body=REGISTER,
        strings={"email": 254, "password": 128, "name": 100},
        required=("email", "password", "name"),
        server_owned=("role", "id", "created_at", "password_hash", "is_admin"),
        success=201,
        out_of_bounds=(
            ("email", "not-an-email"),
            ("email", "no-dot@example"),
            ("email", "two@@example.com"),
            ("email", "space in@example.com"),
            ("password", "7 chars"),
            ("name", ""),
        ),
    ),
    "POST /auth/login": Operation(
        body=LOGIN,
        strings={"email": 254, "password": 128},
        required=("email", "password"),
        server_owned=("role", "id"),
        out_of_bounds=(("email", ""), ("password", "")),
    ),
}
ALL = list(OPERATIONS)
PRODUCT_WRITES = [name for name in ALL if "/products" in name]
CREATES = ["POST /products", "POST /auth/register"]


@dataclass(frozen=True)
class Endpoint:
    """An operation bound to a URL and the headers that get past its auth check."""

    name: str
    operation: Operation
    path: str
    headers: dict

    def send(self, client, **kwargs):
        return client.open(self.path, method=self.name.split()[0], headers=self.headers, **kwargs)

    def body_with(self, **changes) -> dict:
        return {**self.operation.body, **changes}

    def raw_with(self, name: str, literal: str) -> bytes:
        """The valid body as JSON text, with ``name``'s value replaced by ``literal``."""
        text = json.dumps(self.body_with(**{name: "@@VALUE@@"}))
        return text.replace('"@@VALUE@@"', literal).encode()


def cases(names, values_of):
    """Parameters ``(operation, *values)``: each operation with each of ``values_of(it)``."""
    params = []
    for name in names:
        for value in values_of(OPERATIONS[name]):
            values = value if isinstance(value, tuple) else (value,)
            params.append(pytest.param(name, *values, id=f"{name}-{'-'.join(map(_short, values))}"))
    return params


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 20 else f"{text[:12]}...({len(text)})"


def long_string(name: str, length: int) -> str:
    """A string of ``length`` characters that breaks no rule of ``name`` but length."""
    if name == "email":
        return "a" * (length - len("@example.com")) + "@example.com"
    return ("A" if name == "sku" else "x") * length


def every_row() -> dict:
    """Every row of every table, server-owned columns included."""
    return {
        table.name: db.session.execute(select(table)).all() for table in db.metadata.sorted_tables
    }


@pytest.fixture
def endpoint(request, make_product, make_user) -> Endpoint:
    """The operation named by the (indirect) parameter, ready to send to."""
    name = request.param
    path = "/api/v1" + name.split()[1]
    headers = {}
    if name in PRODUCT_WRITES:
        headers = request.getfixturevalue("admin_headers")
        path = path.replace("{id}", str(make_product(sku="EXISTING-1")))
    if name == "POST /auth/login":
        make_user(email=LOGIN["email"], password=LOGIN["password"])
    return Endpoint(name, OPERATIONS[name], path, headers)


@pytest.fixture
def snapshot(client, in_app):
    """What a client sees of the catalog and what every table holds."""
    return lambda: (
        client.get(PRODUCTS, query_string={"per_page": 100}).get_data(),
        in_app(every_row),
    )


def indirect(names):
    return pytest.mark.parametrize("endpoint", names, indirect=True)


# --- The baseline: the valid body is accepted --------------------------------------


@indirect(ALL)
def test_the_valid_body_is_accepted(client, endpoint):
    # Every case below changes this body in one way; that change is what is refused.
    response = endpoint.send(client, json=endpoint.operation.body)

    assert response.status_code == endpoint.operation.success, response.get_data(as_text=True)


# --- Not JSON, not an object, not JSON media type, too large -----------------------


@pytest.mark.parametrize(
    "data",
    [b"", b"{not json", b'{"sku": ', b"\xff\xfe{}", b"sku=A&name=B", b"{'sku': 'A'}"],
    ids=["empty", "garbage", "truncated", "not utf-8", "form encoded", "single quotes"],
)
@indirect(ALL)
def test_a_body_that_is_not_json_is_400(client, endpoint, snapshot, data):
    before = snapshot()

    response = endpoint.send(client, data=data, content_type="application/json")

    assert_problem(response, 400)
    assert snapshot() == before


@pytest.mark.parametrize(
    "payload",
    [[], [PRODUCT], "a string", 42, None, True],
    ids=["empty array", "array of object", "string", "number", "null", "boolean"],
)
@indirect(ALL)
def test_a_body_that_is_not_an_object_is_400(client, endpoint, snapshot, payload):
    before = snapshot()

    response = endpoint.send(client, data=json.dumps(payload), content_type="application/json")

    assert_problem(response, 400, fields={"body"})
    assert snapshot() == before


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "application/xml", None],
    ids=["text-plain", "form", "xml", "no content type"],
)
@indirect(ALL)
def test_a_body_that_is_not_json_media_type_is_415(client, endpoint, snapshot, content_type):
    before = snapshot()
    kwargs = {"content_type": content_type} if content_type else {}

    response = endpoint.send(client, data=json.dumps(endpoint.operation.body), **kwargs)

    assert_problem(response, 415)
    assert snapshot() == before


@indirect(ALL)
def test_no_body_at_all_is_415(client, endpoint, snapshot):
    before = snapshot()

    response = endpoint.send(client)

    assert_problem(response, 415)
    assert snapshot() == before


@indirect(ALL)
def test_a_body_over_the_limit_is_413(client, endpoint, snapshot):
    before = snapshot()
    name = next(iter(endpoint.operation.strings))

    response = endpoint.send(client, json=endpoint.body_with(**{name: "x" * TWO_MEGABYTES}))

    assert_problem(response, 413)
    assert len(response.get_data()) < 1000
    assert snapshot() == before


@pytest.mark.parametrize("where", ["value", "key"])
@indirect(ALL)
def test_a_lone_surrogate_is_400(client, endpoint, snapshot, where):
    before = snapshot()
    if where == "key":
        raw = json.dumps(endpoint.operation.body).replace("{", '{"\\udc00": 1, ', 1).encode()
    else:
        raw = endpoint.raw_with(next(iter(endpoint.operation.strings)), '"ab\\ud800cd"')

    response = endpoint.send(client, data=raw, content_type="application/json")

    assert_problem(response, 400, fields={"body"})
    assert snapshot() == before


# --- Wrong shape: unknown, missing, wrongly typed fields (400) ---------------------


@pytest.mark.parametrize(
    ("endpoint", "name"),
    cases(ALL, lambda op: (*op.server_owned, "unexpected")),
    indirect=["endpoint"],
)
def test_an_unknown_or_server_owned_field_is_400(client, endpoint, snapshot, name):
    before = snapshot()

    response = endpoint.send(client, json=endpoint.body_with(**{name: 1}))

    assert_problem(response, 400, fields={name})
    assert snapshot() == before


@pytest.mark.parametrize(
    ("endpoint", "name"),
    cases(ALL, lambda op: op.required),
    indirect=["endpoint"],
)
def test_a_missing_required_field_is_400(client, endpoint, snapshot, name):
    before = snapshot()
    body = {k: v for k, v in endpoint.operation.body.items() if k != name}

    response = endpoint.send(client, json=body)

    assert_problem(response, 400, fields={name})
    assert snapshot() == before


STRING_MISMATCHES = (42, 1.5, True, None, ["text"], {"text": "x"})
INTEGER_MISMATCHES = ("100", 1.5, True, None, [100])


def _type_mismatches(operation: Operation):
    for name in operation.strings:
        yield from ((name, value) for value in STRING_MISMATCHES)
    for name in operation.integers:
        yield from ((name, value) for value in INTEGER_MISMATCHES)


@pytest.mark.parametrize(
    ("endpoint", "name", "value"), cases(ALL, _type_mismatches), indirect=["endpoint"]
)
def test_a_value_of_the_wrong_json_type_is_400(client, endpoint, snapshot, name, value):
    before = snapshot()

    response = endpoint.send(client, json=endpoint.body_with(**{name: value}))

    assert_problem(response, 400, fields={name})
    assert snapshot() == before


# --- Well-shaped values outside a bound (422) ----------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "name", "limit"),
    cases(ALL, lambda op: list(op.strings.items())),
    indirect=["endpoint"],
)
def test_a_string_over_its_max_length_is_422(client, endpoint, snapshot, name, limit):
    before = snapshot()
    value = long_string(name, limit + 1)

    response = endpoint.send(client, json=endpoint.body_with(**{name: value}))

    assert_problem(response, 422, fields={name})
    assert value not in response.get_data(as_text=True)  # never echoed back
    assert snapshot() == before


@pytest.mark.parametrize(
    ("endpoint", "name", "limit"),
    cases(CREATES, lambda op: list(op.strings.items())),
    indirect=["endpoint"],
)
def test_a_string_at_its_max_length_is_accepted(client, endpoint, name, limit):
    value = long_string(name, limit)

    response = endpoint.send(client, json=endpoint.body_with(**{name: value}))

    assert response.status_code == endpoint.operation.success, response.get_data(as_text=True)
    stored = response.get_json().get(name)
    assert stored is None or stored == value  # passwords are never returned


@pytest.mark.parametrize(
    ("endpoint", "name"),
    cases(ALL, lambda op: list(op.strings)),
    indirect=["endpoint"],
)
def test_a_nul_character_in_a_string_is_422(client, endpoint, snapshot, name):
    before = snapshot()
    value = {"sku": "AB\x00C", "email": "a\x00b@example.com"}.get(name, "ab\x00cd-long")

    response = endpoint.send(client, json=endpoint.body_with(**{name: value}))

    assert_problem(response, 422, fields={name})
    assert snapshot() == before


@pytest.mark.parametrize(
    ("endpoint", "name", "value"),
    cases(ALL, lambda op: op.out_of_bounds),
    indirect=["endpoint"],
)
def test_a_value_outside_its_bounds_is_422(client, endpoint, snapshot, name, value):
    before = snapshot()

    response = endpoint.send(client, json=endpoint.body_with(**{name: value}))

    assert_problem(response, 422, fields={name})
    assert snapshot() == before


@pytest.mark.parametrize(
    ("name", "value"),
    [("price_cents", 0), ("price_cents", 1_000_000_000), ("stock", 0), ("stock", 1_000_000_000)],
)
@indirect(PRODUCT_WRITES)
def test_numbers_at_their_bounds_are_accepted(client, endpoint, name, value):
    response = endpoint.send(client, json=endpoint.body_with(**{name: value}))

    assert response.status_code == endpoint.operation.success, response.get_data(as_text=True)
    assert response.get_json()[name] == value


@pytest.mark.parametrize(
    "literal",
    ["1" + "0" * 400, "-1" + "0" * 400, "1e400", "-1e400", "NaN", "Infinity"],
    ids=["10**400", "-10**400", "1e400", "-1e400", "NaN", "Infinity"],
)
@pytest.mark.parametrize("name", PRODUCT_RULES["integers"])
@indirect(PRODUCT_WRITES)
def test_an_enormous_or_non_finite_number_is_refused_not_a_500(
    client, endpoint, snapshot, name, literal
):
    before = snapshot()

    response = endpoint.send(
        client, data=endpoint.raw_with(name, literal), content_type="application/json"
    )

    assert response.status_code in (400, 422), response.get_data(as_text=True)
    assert_problem(response, response.status_code, fields={name})
    assert snapshot() == before


# --- SQL-looking text is data ------------------------------------------------------


def test_sql_looking_text_is_stored_verbatim_and_harmless(client, admin_headers, make_product):
    other = make_product(name="Bystander")
    other_before = client.get(f"{PRODUCTS}/{other}").get_data()
    body = {
        "sku": "SQL-1",
        "name": SQL,
        "description": "Robert'); DROP TABLE users; -- \" OR 1=1 /*",
        "price_cents": 1,
    }

    created = client.post(PRODUCTS, headers=admin_headers, json=body)

    assert created.status_code == 201
    fetched = client.get(created.headers["Location"]).get_json()
    assert (fetched["name"], fetched["description"]) == (body["name"], body["description"])
    assert client.get(f"{PRODUCTS}/{other}").get_data() == other_before
    listing = client.get(PRODUCTS).get_json()
    assert [item["id"] for item in listing["items"]] == [other, fetched["id"]]
    searched = client.get(PRODUCTS, query_string={"q": SQL}).get_json()
    assert [item["id"] for item in searched["items"]] == [fetched["id"]]
    assert client.get(PRODUCTS, query_string={"q": "' OR '1'='1"}).get_json()["items"] == []


@pytest.mark.parametrize(
    ("email", "password"),
    [
        ("victim@example.com' --", "anything"),
        ("' OR '1'='1", "' OR '1'='1"),
        ("victim@example.com", "' OR '1'='1"),
    ],
)
def test_sql_looking_credentials_log_nobody_in(client, make_user, email, password):
    make_user(email="victim@example.com")

    response = client.post("/api/v1/auth/login", json={"email": email, "password": password})

    assert_problem(response, 401)
    assert "access_token" not in response.get_data(as_text=True)


def test_a_sql_looking_name_registers_verbatim(client):
    body = {"email": "bobby@example.com", "password": "long enough pw", "name": SQL}

    response = client.post("/api/v1/auth/register", json=body)

    assert response.status_code == 201
    assert response.get_json()["name"] == SQL
    login = client.post("/api/v1/auth/login", json={k: body[k] for k in ("email", "password")})
    assert login.status_code == 200


# --- Query strings -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ({"page": "abc"}, 400),
        ({"page": "1.5"}, 400),
        ({"page": ""}, 400),
        ({"page": "0"}, 422),
        ({"page": "-1"}, 422),
        ({"page": str(2**64)}, 422),
        ({"per_page": "0"}, 422),
        ({"per_page": "101"}, 422),
        ({"per_page": "ten"}, 400),
        ({"sort": "password_hash"}, 400),
        ({"sort": "id"}, 400),
        ({"sort": "--name"}, 400),
        ({"sort": "name; DROP TABLE products"}, 400),
        ({"sort": ""}, 400),
        ({"min_price": "-1"}, 422),
        ({"min_price": "abc"}, 400),
        ({"max_price": "1000000001"}, 422),
        ({"max_price": "1e3"}, 400),
        ({"in_stock": "maybe"}, 400),
        ({"in_stock": ""}, 400),
        ({"q": "x" * 101}, 422),
        ({"q": "a\x00b"}, 422),
    ],
    ids=lambda value: _short(value) if isinstance(value, dict) else str(value),
)
def test_an_invalid_query_parameter_is_a_problem(client, make_product, query, status):
    make_product()

    response = client.get(PRODUCTS, query_string=query)

    assert_problem(response, status, fields=set(query))


LOOSE_INTEGERS = ["1_0", "\uff11", "\u0663", " 5", "5 ", "+5", "5\n", "\t5", "0x10", "- 5", "--5"]


@pytest.mark.parametrize("value", LOOSE_INTEGERS, ids=repr)
@pytest.mark.parametrize("name", ["page", "per_page", "min_price", "max_price"])
def test_a_query_integer_is_ascii_digits_only(client, make_product, name, value):
    # int() takes all of these; the spec's `integer` means plain digits.
    make_product()

    response = client.get(PRODUCTS, query_string={name: value})

    body = assert_problem(response, 400, fields={name})
    assert body["errors"][name] == ["must be of type integer"]


@pytest.mark.parametrize("value", LOOSE_INTEGERS, ids=repr)
def test_an_id_filter_is_ascii_digits_only(client, admin_headers, value):
    response = client.get("/api/v1/orders", query_string={"user_id": value}, headers=admin_headers)

    assert_problem(response, 400, fields={"user_id"})


@pytest.mark.parametrize(("value", "page"), [("007", 7), ("1", 1), ("0001000000", 1_000_000)])
def test_leading_zeros_are_still_the_number(client, make_product, value, page):
    make_product()

    response = client.get(PRODUCTS, query_string={"page": value})

    assert response.status_code == 200
    assert response.get_json()["page"] == page


# --- The problem carries the request id -------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "echoed"),
    [("trace-123.abc", True), ("has spaces", False), ("x" * 200, False)],
    ids=["valid id", "unsafe id", "too long id"],
)
def test_a_problem_carries_the_request_id(client, sent, echoed):
    response = client.post(
        "/api/v1/auth/login", json=["not an object"], headers={"X-Request-ID": sent}
    )

    body = assert_problem(response, 400, fields={"body"})
    assert (body["request_id"] == sent) is echoed
    assert body["request_id"]
