"""User administration through the HTTP API: listing, creating, reading, editing, deleting.

Admins manage every account; a user reads and edits their own. Every response is
checked against the contract by the test client, and, in this module, also for
any password or password hash in its body: those must never be returned.
"""

import logging
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from api.hooks.observability import JsonFormatter
from models import User, db
from tests.conftest import PASSWORD, bearer
from tests.contract import ContractClient
from tests.helpers import assert_problem

API = "/api/v1/users"
LOGIN = "/api/v1/auth/login"
REFRESH = "/api/v1/auth/refresh"
ME = "/api/v1/auth/me"
ORDERS = "/api/v1/orders"
NEW_PASSWORD = "a brand new secret 42"
# What must never appear in a response body: every password used here, any hash.
SECRETS = (PASSWORD, NEW_PASSWORD, "$argon2")
# Ids no user has: unused, the largest 64-bit id, past it (the router's 404).
UNKNOWN_IDS = (999_999, 2**63 - 1, 2**63)


class SecretFreeClient(ContractClient):
    """The contract-checked client, which also fails on any secret in a response body."""

    def open(self, *args, **kwargs):
        """Send the request; fail if the response body holds a password or a hash."""
        response = super().open(*args, **kwargs)
        body = response.get_data(as_text=True)
        leaked = [secret for secret in SECRETS if secret in body]
        assert not leaked, f"{response.request.method} {response.request.path} leaked {leaked}"
        return response


@pytest.fixture
def client(app):
    """This module's client: contract-checked and secret-free."""
    return SecretFreeClient(app, app.response_class)


def item_url(user_id: int) -> str:
    return f"{API}/{user_id}"


def orders_url(user_id: int) -> str:
    return f"{API}/{user_id}/orders"


def user_body(**overrides) -> dict:
    """A valid UserCreate body."""
    return {"email": "new@example.com", "name": "New User", "password": PASSWORD, **overrides}


def login(client, email: str, password: str = PASSWORD):
    return client.post(LOGIN, json={"email": email, "password": password})


def ids(response) -> list[int]:
    assert response.status_code == 200, response.get_data(as_text=True)
    return [item["id"] for item in response.get_json()["items"]]


def user_row(user_id: int) -> tuple:
    """What the database holds for a user, hash and deletion mark included."""
    user = db.session.get(User, user_id)
    return (user.email, user.name, user.age, user.role, user.password_hash, user.deleted_at)


def set_created_at(user_id: int, when: datetime) -> None:
    db.session.execute(update(User).where(User.id == user_id).values(created_at=when))
    db.session.commit()


@pytest.fixture
def target(make_user) -> dict:
    """A customer whose account the tests read and change."""
    return make_user(email="target@example.com", name="Target")


@pytest.fixture
def product(make_product) -> int:
    """A product with plenty of stock, to place orders for."""
    return make_product(stock=100, price_cents=250)


def place_order(client, user: dict, product_id: int, quantity: int = 1) -> dict:
    """Place an order through the API as ``user``; return it."""
    items = [{"product_id": product_id, "quantity": quantity}]
    response = client.post(ORDERS, headers=bearer(user["access"]), json={"items": items})
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()


# --- Listing (admin) -------------------------------------------------------------


def test_list_returns_every_live_user_in_a_page_envelope(client, admin, admin_headers, target):
    response = client.get(API, headers=admin_headers)

    assert ids(response) == [admin["id"], target["id"]]
    body = response.get_json()
    assert (body["page"], body["per_page"], body["total"], body["pages"]) == (1, 20, 2, 1)
    assert set(body["_links"]) == {"self", "first", "last"}
    listed = body["items"][1]
    assert (listed["email"], listed["name"], listed["role"]) == (
        "target@example.com",
        "Target",
        "customer",
    )
    assert listed["_links"] == {"self": item_url(target["id"]), "orders": orders_url(target["id"])}
    assert not {"password", "password_hash"} & set(listed)


def test_list_pages_and_links(client, admin, admin_headers, make_user):
    users = [admin["id"]] + [make_user()["id"] for _ in range(4)]

    response = client.get(API, headers=admin_headers, query_string={"page": 2, "per_page": 2})

    assert ids(response) == users[2:4]
    body = response.get_json()
    assert (body["page"], body["per_page"], body["total"], body["pages"]) == (2, 2, 5, 3)
    assert set(body["_links"]) == {"self", "first", "prev", "next", "last"}
    assert 'rel="next"' in response.headers["Link"]


@pytest.mark.parametrize(
    ("email", "expected"),
    [
        ("ada@example.com", ["ada"]),
        ("ADA@Example.COM", ["ada"]),
        ("ada@example", []),  # exact, not a substring
        ("nobody@example.com", []),
    ],
)
def test_email_filter_is_exact_in_any_case(client, admin_headers, make_user, email, expected):
    users = {
        "ada": make_user(email="ada@example.com")["id"],
        "adam": make_user(email="adam@example.com")["id"],
    }

    response = client.get(API, headers=admin_headers, query_string={"email": email})

    assert ids(response) == [users[name] for name in expected]
    assert response.get_json()["total"] == len(expected)


@pytest.mark.parametrize("role", ["admin", "customer"])
def test_role_filter(client, admin, admin_headers, make_user, role):
    customers = [make_user()["id"], make_user()["id"]]
    admins = [admin["id"], make_user(role="admin")["id"]]

    response = client.get(API, headers=admin_headers, query_string={"role": role})

    assert ids(response) == {"admin": admins, "customer": customers}[role]


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("ada", ["Ada Lovelace", "Zoë Adams"]),
        ("ADA", ["Ada Lovelace", "Zoë Adams"]),
        ("élodie", ["Élodie Durand"]),
        ("ÉLODIE", ["Élodie Durand"]),
        ("ZOË", ["Zoë Adams"]),
        ("%", []),  # literal, not a wildcard
        ("zzz", []),
    ],
)
def test_q_matches_the_name_in_any_case_beyond_ascii(client, admin_headers, make_user, q, expected):
    for name in ("Ada Lovelace", "Élodie Durand", "Zoë Adams", "Bob"):
        make_user(name=name)

    response = client.get(API, headers=admin_headers, query_string={"q": q})

    assert [item["name"] for item in response.get_json()["items"]] == expected


def test_filters_combine(client, admin_headers, make_user):
    wanted = make_user(name="Ada Admin", role="admin")["id"]
    make_user(name="Ada Customer")
    make_user(name="Bob Admin", role="admin")

    response = client.get(API, headers=admin_headers, query_string={"q": "ada", "role": "admin"})

    assert ids(response) == [wanted]


# (name, email, minutes after T0 it was created), after the admin fixture's
# ("Test User", "admin@example.com", 3): ties on name and on created_at.
SORT_FIXTURE = [
    ("Cleo", "bravo@example.com", 2),
    ("Abe", "delta@example.com", 0),
    ("Bea", "alpha@example.com", 1),
    ("Abe", "charlie@example.com", 1),
]


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        (None, [0, 1, 2, 3, 4]),
        ("name", [2, 4, 3, 1, 0]),
        ("-name", [0, 1, 3, 4, 2]),
        ("email", [0, 3, 1, 4, 2]),
        ("-email", [2, 4, 1, 3, 0]),
        ("created_at", [2, 3, 4, 1, 0]),
        ("-created_at", [0, 1, 4, 3, 2]),
    ],
)
def test_sort_by_an_allowed_key_breaking_ties_by_id(
    client, admin, admin_headers, make_user, in_app, sort, expected
):
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    users = [admin["id"]]
    in_app(set_created_at, admin["id"], t0 + timedelta(minutes=3))
    for name, email, minutes in SORT_FIXTURE:
        users.append(make_user(name=name, email=email)["id"])
        in_app(set_created_at, users[-1], t0 + timedelta(minutes=minutes))
    query = {"sort": sort} if sort else {}

    response = client.get(API, headers=admin_headers, query_string=query)

    assert ids(response) == [users[i] for i in expected]


@pytest.mark.parametrize("sort", ["password", "password_hash", "-age", "id", "role", "name,email"])
def test_a_sort_outside_the_allow_list_is_a_400(client, admin_headers, sort):
    response = client.get(API, headers=admin_headers, query_string={"sort": sort})

    assert_problem(response, 400, fields={"sort"})


def test_an_unknown_role_filter_is_a_400(client, admin_headers):
    response = client.get(API, headers=admin_headers, query_string={"role": "superuser"})

    assert_problem(response, 400, fields={"role"})


@pytest.mark.parametrize(("who", "status"), [("nobody", 401), ("customer", 403)])
def test_only_an_admin_lists_users(client, customer_headers, who, status):
    headers = {"nobody": {}, "customer": customer_headers}[who]

    assert_problem(client.get(API, headers=headers), status)


# --- Create (admin) -------------------------------------------------------------------


def test_admin_creates_a_user_with_role_and_age(client, admin_headers):
    response = client.post(
        API,
        headers=admin_headers,
        json=user_body(email="Grace@Example.com", name="Grace", role="admin", age=45),
    )

    assert response.status_code == 201
    body = response.get_json()
    assert response.headers["Location"] == item_url(body["id"]) == body["_links"]["self"]
    assert (body["email"], body["name"], body["role"], body["age"]) == (
        "grace@example.com",
        "Grace",
        "admin",
        45,
    )
    assert not {"password", "password_hash"} & set(body)
    assert client.get(response.headers["Location"], headers=admin_headers).get_json() == body
    tokens = login(client, "grace@example.com").get_json()
    me = client.get(ME, headers=bearer(tokens["access_token"])).get_json()
    assert (me["id"], me["role"]) == (body["id"], "admin")


def test_create_defaults_to_a_customer_without_age(client, admin_headers):
    response = client.post(API, headers=admin_headers, json=user_body())

    assert response.status_code == 201
    body = response.get_json()
    assert body["role"] == "customer"
    assert "age" not in body


@pytest.mark.parametrize("email", ["customer@example.com", "CUSTOMER@Example.COM"])
def test_create_with_a_taken_email_in_any_case_is_a_409(
    client, admin_headers, customer, in_app, email
):
    before = in_app(user_row, customer["id"])

    response = client.post(API, headers=admin_headers, json=user_body(email=email))

    assert "customer@example.com" in assert_problem(response, 409)["detail"]
    assert in_app(user_row, customer["id"]) == before
    assert client.get(API, headers=admin_headers).get_json()["total"] == 2


def test_create_refuses_a_password_hash_field(client, admin_headers):
    response = client.post(API, headers=admin_headers, json=user_body(password_hash="$x$"))

    assert_problem(response, 400, fields={"password_hash"})
    assert client.get(API, headers=admin_headers).get_json()["total"] == 1


@pytest.mark.parametrize(("who", "status"), [("nobody", 401), ("customer", 403)])
def test_only_an_admin_creates_users(client, customer_headers, who, status):
    headers = {"nobody": {}, "customer": customer_headers}[who]

    response = client.post(API, headers=headers, json=user_body(role="admin"))

    assert_problem(response, status)
    assert login(client, "new@example.com").status_code == 401


@pytest.fixture
def log_lines(app):
    """Every log line the app writes during the test, as its JSON handler would render it."""
    lines: list[str] = []
    formatter = JsonFormatter()

    class Collect(logging.Handler):
        def emit(self, record):
            lines.append(formatter.format(record))

    handler = Collect(logging.DEBUG)
    level = app.logger.level
    app.logger.setLevel(logging.DEBUG)
    for logger in (logging.getLogger(), app.logger):
        logger.addHandler(handler)
    yield lines
    for logger in (logging.getLogger(), app.logger):
        logger.removeHandler(handler)
    app.logger.setLevel(level)


def test_passwords_are_never_logged(client, admin_headers, log_lines):
    created = client.post(API, headers=admin_headers, json=user_body()).get_json()
    login(client, "new@example.com")
    login(client, "new@example.com", NEW_PASSWORD)  # a failed login
    client.patch(item_url(created["id"]), headers=admin_headers, json={"password": NEW_PASSWORD})
    client.post(API, headers=admin_headers, json=user_body(password=NEW_PASSWORD, bogus=1))

    assert any('"api.request"' in line for line in log_lines)  # the capture works
    assert not [line for line in log_lines if PASSWORD in line or NEW_PASSWORD in line]


# --- Read and edit one user: who may ------------------------------------------------------

# Who sends the request, and what they get on the target's account.
ACCESS_MATRIX = [
    ("anonymous", 401),
    ("customer-other", 403),
    ("customer-self", 200),
    ("admin", 200),
    ("admin-unknown-id", 404),
    # A customer learns nothing about ids that are not theirs, existing or not.
    ("customer-unknown-id", 403),
]


@pytest.fixture
def caller(admin_headers, customer_headers, target):
    """(headers, user id) for each kind of caller of ACCESS_MATRIX."""
    return {
        "anonymous": ({}, target["id"]),
        "customer-other": (customer_headers, target["id"]),
        "customer-self": (bearer(target["access"]), target["id"]),
        "admin": (admin_headers, target["id"]),
        "admin-unknown-id": (admin_headers, 999_999),
        "customer-unknown-id": (customer_headers, 999_999),
    }


@pytest.mark.parametrize(("who", "status"), ACCESS_MATRIX)
@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH"])
def test_who_may_read_and_edit_an_account(client, in_app, caller, target, method, who, status):
    headers, user_id = caller[who]
    body = {
        "GET": None,
        "PUT": {"email": "target@example.com", "name": "Renamed"},
        "PATCH": {"name": "Renamed"},
    }[method]
    before = in_app(user_row, target["id"])

    response = client.open(item_url(user_id), method=method, headers=headers, json=body)

    if status != 200:
        assert_problem(response, status)
        assert in_app(user_row, target["id"]) == before
        return
    assert response.status_code == 200
    got = response.get_json()
    assert (got["id"], got["email"]) == (target["id"], "target@example.com")
    assert got["name"] == ("Target" if method == "GET" else "Renamed")
    assert in_app(user_row, target["id"])[1] == got["name"]


@pytest.mark.parametrize("user_id", UNKNOWN_IDS)
@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE"])
def test_unknown_users_are_404(client, admin_headers, method, user_id):
    body = {"email": "x@example.com", "name": "X"} if method in ("PUT", "PATCH") else None

    response = client.open(item_url(user_id), method=method, headers=admin_headers, json=body)

    assert_problem(response, 404)


# --- Roles: only an admin changes them ----------------------------------------------------


@pytest.mark.parametrize("role", ["customer", "admin"])
@pytest.mark.parametrize("method", ["PUT", "PATCH"])
def test_a_customer_sending_any_role_is_403_and_nothing_changes(
    client, in_app, target, method, role
):
    before = in_app(user_row, target["id"])
    body = {"email": "target@example.com", "name": "Renamed", "role": role}

    response = client.open(
        item_url(target["id"]), method=method, headers=bearer(target["access"]), json=body
    )

    assert_problem(response, 403)
    assert in_app(user_row, target["id"]) == before


def test_an_admin_promotes_a_customer(client, admin_headers, target):
    response = client.patch(item_url(target["id"]), headers=admin_headers, json={"role": "admin"})

    assert response.status_code == 200
    assert response.get_json()["role"] == "admin"
    tokens = login(client, "target@example.com").get_json()
    assert client.get(API, headers=bearer(tokens["access_token"])).status_code == 200


def test_an_admin_demotes_an_admin(client, admin_headers, make_user):
    other = make_user(role="admin")

    response = client.patch(item_url(other["id"]), headers=admin_headers, json={"role": "customer"})

    assert response.get_json()["role"] == "customer"
    assert_problem(client.get(API, headers=bearer(other["access"])), 403)


# --- PUT and PATCH semantics ---------------------------------------------------------------


@pytest.fixture
def grace(client, admin_headers) -> dict:
    """An admin created with an age, through the API."""
    body = user_body(email="grace@example.com", name="Grace", role="admin", age=45)
    response = client.post(API, headers=admin_headers, json=body)
    assert response.status_code == 201
    return response.get_json()


def test_put_clears_an_omitted_age_and_keeps_role_and_password(client, admin_headers, grace):
    body = {"email": "grace@example.com", "name": "Grace Hopper"}

    response = client.put(item_url(grace["id"]), headers=admin_headers, json=body)

    assert response.status_code == 200
    replaced = response.get_json()
    assert "age" not in replaced
    assert (replaced["name"], replaced["role"]) == ("Grace Hopper", "admin")
    assert client.get(item_url(grace["id"]), headers=admin_headers).get_json() == replaced
    assert login(client, "grace@example.com").status_code == 200


def test_put_by_the_user_themself_replaces_their_profile(client, target):
    headers = bearer(target["access"])
    # A new email of one's own needs the current password (test_sessions.py).
    body = {
        "email": "Renamed@Example.com",
        "name": "Renamed",
        "age": 33,
        "current_password": PASSWORD,
    }

    response = client.put(item_url(target["id"]), headers=headers, json=body)

    assert response.status_code == 200
    got = response.get_json()
    assert (got["email"], got["name"], got["age"], got["role"]) == (
        "renamed@example.com",
        "Renamed",
        33,
        "customer",
    )
    assert login(client, "renamed@example.com").status_code == 200


def test_patch_changes_only_the_fields_sent(client, admin_headers, grace):
    response = client.patch(item_url(grace["id"]), headers=admin_headers, json={"name": "G."})

    assert response.status_code == 200
    got = response.get_json()
    assert (got["name"], got["age"], got["role"], got["email"]) == (
        "G.",
        45,
        "admin",
        "grace@example.com",
    )


@pytest.mark.parametrize("who", ["self", "admin"])
def test_patch_with_a_new_password_replaces_the_old_one(client, admin_headers, target, who):
    headers = {"self": bearer(target["access"]), "admin": admin_headers}[who]
    # One's own password needs the current one; an admin's reset does not (test_sessions.py).
    current = {"self": {"current_password": PASSWORD}, "admin": {}}[who]

    response = client.patch(
        item_url(target["id"]), headers=headers, json={"password": NEW_PASSWORD, **current}
    )

    assert response.status_code == 200
    assert login(client, "target@example.com", NEW_PASSWORD).status_code == 200
    assert_problem(login(client, "target@example.com", PASSWORD), 401)


@pytest.mark.parametrize("email", ["customer@example.com", "Customer@EXAMPLE.com"])
@pytest.mark.parametrize("method", ["PUT", "PATCH"])
def test_changing_to_a_taken_email_is_a_409(client, in_app, customer, target, method, email):
    before = in_app(user_row, target["id"])
    body = {"email": email, "name": "Renamed", "current_password": PASSWORD}

    response = client.open(
        item_url(target["id"]), method=method, headers=bearer(target["access"]), json=body
    )

    assert "customer@example.com" in assert_problem(response, 409)["detail"]
    assert in_app(user_row, target["id"]) == before


def test_keeping_ones_own_email_in_another_case_is_no_conflict(client, target):
    response = client.patch(
        item_url(target["id"]),
        headers=bearer(target["access"]),
        json={"email": "TARGET@example.com"},
    )

    assert response.status_code == 200
    assert response.get_json()["email"] == "target@example.com"


# --- Age bounds ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("age", "status"),
    [(0, None), (150, None), (151, 422), (-1, 422), ("x", 400), (1.5, 400), (True, 400)],
)
@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH"])
def test_age_is_an_integer_from_0_to_150(
    client, admin_headers, in_app, target, method, age, status
):
    before = in_app(user_row, target["id"])
    if method == "POST":
        url, body = API, user_body(age=age)
    else:
        url, body = item_url(target["id"]), {"email": "target@example.com", "name": "T", "age": age}

    response = client.open(url, method=method, headers=admin_headers, json=body)

    if status is None:
        assert response.status_code == (201 if method == "POST" else 200)
        assert response.get_json()["age"] == age
        return
    assert_problem(response, status, fields={"age"})
    assert in_app(user_row, target["id"]) == before
    assert login(client, "new@example.com").status_code == 401


# --- Delete (admin): a soft delete ---------------------------------------------------------


def test_delete_is_soft_logins_and_tokens_stop_but_orders_stay(
    client, admin_headers, in_app, target, product
):
    order = place_order(client, target, product, quantity=2)
    refresh = login(client, "target@example.com").get_json()["refresh_token"]

    response = client.delete(item_url(target["id"]), headers=admin_headers)

    assert response.status_code == 204
    assert response.get_data() == b""
    assert_problem(login(client, "target@example.com"), 401)
    assert_problem(client.get(ME, headers=bearer(target["access"])), 401)
    assert_problem(client.post(REFRESH, headers=bearer(target["refresh"])), 401)
    assert_problem(client.post(REFRESH, headers=bearer(refresh)), 401)
    assert_problem(client.get(item_url(target["id"]), headers=admin_headers), 404)
    assert target["id"] not in ids(client.get(API, headers=admin_headers))
    listed = client.get(ORDERS, headers=admin_headers, query_string={"user_id": target["id"]})
    assert ids(listed) == [order["id"]]
    kept = client.get(f"{ORDERS}/{order['id']}", headers=admin_headers)
    assert (kept.status_code, kept.get_json()["user_id"]) == (200, target["id"])
    assert in_app(user_row, target["id"])[5] is not None  # the row itself is kept


def test_a_deleted_users_email_can_be_registered_again(client, admin_headers, target):
    client.delete(item_url(target["id"]), headers=admin_headers)

    response = client.post(API, headers=admin_headers, json=user_body(email="target@example.com"))

    assert response.status_code == 201
    assert response.get_json()["id"] != target["id"]
    assert login(client, "target@example.com").get_json()["access_token"]


def test_deleting_twice_is_a_404(client, admin_headers, target):
    assert client.delete(item_url(target["id"]), headers=admin_headers).status_code == 204

    assert_problem(client.delete(item_url(target["id"]), headers=admin_headers), 404)


@pytest.mark.parametrize(
    ("who", "status"), [("anonymous", 401), ("customer-other", 403), ("customer-self", 403)]
)
def test_only_an_admin_deletes_users(client, in_app, caller, target, who, status):
    headers, user_id = caller[who]
    before = in_app(user_row, target["id"])

    assert_problem(client.delete(item_url(user_id), headers=headers), status)

    assert in_app(user_row, target["id"]) == before
    assert login(client, "target@example.com").status_code == 200


# --- A user's orders ----------------------------------------------------------------------


@pytest.fixture
def orders_of(client, target, customer, product) -> dict:
    """Orders of the target (one pending, one cancelled) and of another customer."""
    pending = place_order(client, target, product)
    cancelled = place_order(client, target, product)
    response = client.patch(
        f"{ORDERS}/{cancelled['id']}",
        headers=bearer(target["access"]),
        json={"status": "cancelled"},
    )
    assert response.status_code == 200
    other = place_order(client, customer, product)
    return {"pending": pending["id"], "cancelled": cancelled["id"], "other": other["id"]}


@pytest.mark.parametrize("who", ["customer-self", "admin"])
def test_user_orders_lists_that_users_orders_only(client, caller, target, orders_of, who):
    headers, user_id = caller[who]

    response = client.get(orders_url(user_id), headers=headers)

    assert ids(response) == [orders_of["pending"], orders_of["cancelled"]]
    body = response.get_json()
    assert body["total"] == 2
    assert {order["user_id"] for order in body["items"]} == {target["id"]}


def test_an_admin_sees_any_users_orders(client, admin_headers, customer, orders_of):
    response = client.get(orders_url(customer["id"]), headers=admin_headers)

    assert ids(response) == [orders_of["other"]]


@pytest.mark.parametrize(
    ("status", "expected"), [("pending", "pending"), ("cancelled", "cancelled"), ("paid", None)]
)
@pytest.mark.parametrize("who", ["customer-self", "admin"])
def test_user_orders_filter_by_status(client, caller, orders_of, who, status, expected):
    headers, user_id = caller[who]

    response = client.get(orders_url(user_id), headers=headers, query_string={"status": status})

    assert ids(response) == ([orders_of[expected]] if expected else [])


@pytest.mark.parametrize(("who", "status"), [("anonymous", 401), ("customer-other", 403)])
def test_user_orders_of_someone_else_are_refused(client, caller, orders_of, who, status):
    headers, user_id = caller[who]

    body = assert_problem(client.get(orders_url(user_id), headers=headers), status)

    assert "items" not in body


@pytest.mark.parametrize("who", ["customer-self", "admin"])
def test_user_orders_keep_to_the_user_of_the_path(client, caller, customer, orders_of, who):
    headers, user_id = caller[who]

    response = client.get(
        orders_url(user_id), headers=headers, query_string={"user_id": customer["id"]}
    )

    assert ids(response) == [orders_of["pending"], orders_of["cancelled"]]


def test_user_orders_of_an_unknown_user_are_404_for_an_admin(client, admin_headers):
    assert_problem(client.get(orders_url(999_999), headers=admin_headers), 404)


def test_user_orders_reject_a_bad_status_filter(client, target):
    response = client.get(
        orders_url(target["id"]), headers=bearer(target["access"]), query_string={"status": "lost"}
    )

    assert_problem(response, 400, fields={"status"})


def test_the_last_admin_can_be_neither_deleted_nor_demoted(client, admin, admin_headers, make_user):
    me = f"{API}/{admin['id']}"

    deleted = client.delete(me, headers=admin_headers)
    demoted = client.patch(me, json={"role": "customer"}, headers=admin_headers)

    assert (deleted.status_code, demoted.status_code) == (409, 409)
    assert "last admin" in deleted.get_json()["detail"]
    assert client.get(me, headers=admin_headers).get_json()["role"] == "admin"

    make_user(role="admin")
    assert client.patch(me, json={"role": "customer"}, headers=admin_headers).status_code == 200
