"""Authentication through the API: register, log in, refresh, log out, and every bad token."""

import base64
import json
from datetime import timedelta

import jwt
import pytest
from flask_jwt_extended import create_access_token

from models import User, db
from models.base import utcnow
from models.user import Role, find_user_by_email
from tests.conftest import PASSWORD, bearer

REGISTER = "/api/v1/auth/register"
LOGIN = "/api/v1/auth/login"
REFRESH = "/api/v1/auth/refresh"
LOGOUT = "/api/v1/auth/logout"
ME = "/api/v1/auth/me"
PRODUCTS = "/api/v1/products"
NEW_PRODUCT = {"sku": "MUG-100", "name": "Mug", "price_cents": 1200, "stock": 3}


def register(client, email="ada@example.com", password=PASSWORD, name="Ada Lovelace", **extra):
    return client.post(REGISTER, json={"email": email, "password": password, "name": name, **extra})


def login(client, email, password=PASSWORD):
    return client.post(LOGIN, json={"email": email, "password": password})


def assert_unauthorized(response, detail_fragment=None):
    """A 401 problem that names the Bearer scheme."""
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    body = response.get_json()
    assert body["status"] == 401
    assert body["title"] == "Unauthorized"
    if detail_fragment is not None:
        assert detail_fragment in body["detail"].lower()
    return body


def _b64(data: dict) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def _soft_delete_user(user_id: int) -> None:
    db.session.get(User, user_id).deleted_at = utcnow()
    db.session.commit()


# --- registration -------------------------------------------------------------------------


def test_register_creates_a_customer_and_returns_it(client, in_app):
    response = register(client, email="Ada@Example.com")

    assert response.status_code == 201
    body = response.get_json()
    assert response.headers["Location"].endswith(f"/api/v1/users/{body['id']}")
    assert body["email"] == "ada@example.com"
    assert body["name"] == "Ada Lovelace"
    assert body["role"] == "customer"
    assert body["_links"]["self"] == f"/api/v1/users/{body['id']}"
    assert body["_links"]["orders"] == f"/api/v1/users/{body['id']}/orders"
    assert not {"password", "password_hash"} & set(body)
    assert PASSWORD not in response.get_data(as_text=True)
    stored = in_app(find_user_by_email, "ada@example.com")
    assert stored.id == body["id"]
    assert stored.role == Role.CUSTOMER
    assert stored.password_hash != PASSWORD


def test_a_registered_user_can_log_in_and_see_themselves(client):
    created = register(client).get_json()

    tokens = login(client, "ada@example.com").get_json()
    me = client.get(ME, headers=bearer(tokens["access_token"]))

    assert me.status_code == 200
    assert me.get_json()["id"] == created["id"]
    assert me.get_json()["email"] == "ada@example.com"


def test_email_is_unique_whatever_its_case(client, in_app):
    assert register(client, email="ada@example.com").status_code == 201

    response = register(client, email="Ada@Example.com", name="Impostor")

    assert response.status_code == 409
    assert response.mimetype == "application/problem+json"
    assert "ada@example.com" in response.get_json()["detail"]
    assert in_app(find_user_by_email, "ada@example.com").name == "Ada Lovelace"


@pytest.mark.parametrize("email", ["ada@example.com", "ADA@EXAMPLE.COM", "Ada@Example.Com"])
def test_login_accepts_the_email_in_any_case(client, email):
    register(client, email="Ada@example.com")

    response = login(client, email)

    assert response.status_code == 200
    assert response.get_json()["access_token"]


@pytest.mark.parametrize("role", ["admin", "customer"])
def test_register_rejects_a_role_field_and_creates_nobody(client, in_app, role):
    response = register(client, email="mallory@example.com", role=role)

    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"
    assert "role" in response.get_json()["errors"]
    assert in_app(find_user_by_email, "mallory@example.com") is None


# --- login --------------------------------------------------------------------------------


def test_login_returns_an_access_and_a_refresh_token(app, client, customer):
    response = login(client, customer["email"])

    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert body["token_type"] == "Bearer"
    lifetime = app.config["JWT_ACCESS_TOKEN_EXPIRES"].total_seconds()
    assert body["expires_in"] == lifetime == 15 * 60  # JWT_ACCESS_MINUTES defaults to 15
    access = _claims(body["access_token"])
    assert access["exp"] - access["iat"] == body["expires_in"]
    assert access["type"] == "access"
    assert access["sub"] == str(customer["id"])
    assert _claims(body["refresh_token"])["type"] == "refresh"


@pytest.mark.parametrize(
    ("email", "password"),
    [("customer@example.com", "wrong password!"), ("nobody@example.com", PASSWORD)],
    ids=["wrong-password", "unknown-email"],
)
def test_login_with_bad_credentials_is_a_401_that_reveals_nothing(
    client, customer, email, password
):
    response = login(client, email, password)

    body = assert_unauthorized(response)
    assert body["detail"] == "Invalid email or password"
    assert "access_token" not in body


def test_login_of_a_deleted_user_is_refused(client, customer, in_app):
    in_app(_soft_delete_user, customer["id"])

    assert_unauthorized(login(client, customer["email"]))


# --- tokens: me, refresh, logout ----------------------------------------------------------


def test_me_returns_the_caller_without_secrets(client, customer):
    response = client.get(ME, headers=bearer(customer["access"]))

    assert response.status_code == 200
    body = response.get_json()
    assert body["id"] == customer["id"]
    assert body["email"] == customer["email"]
    assert body["role"] == "customer"
    assert not {"password", "password_hash"} & set(body)


def test_refresh_token_gives_a_working_access_token(client, customer):
    tokens = login(client, customer["email"]).get_json()

    response = client.post(REFRESH, headers=bearer(tokens["refresh_token"]))

    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "Bearer"
    assert _claims(body["access_token"])["type"] == "access"
    me = client.get(ME, headers=bearer(body["access_token"]))
    assert me.status_code == 200
    assert me.get_json()["id"] == customer["id"]


def test_refresh_with_an_access_token_is_refused(client, customer):
    response = client.post(REFRESH, headers=bearer(customer["access"]))

    assert_unauthorized(response, "refresh")


def test_a_refresh_token_is_not_an_access_token(client, customer):
    response = client.get(ME, headers=bearer(customer["refresh"]))

    assert_unauthorized(response)


def test_logout_revokes_the_access_token(client, customer):
    headers = bearer(customer["access"])
    assert client.get(ME, headers=headers).status_code == 200

    response = client.post(LOGOUT, headers=headers)

    assert response.status_code == 204
    assert response.get_data() == b""
    # DESIGN.md: a 204 has no body, and no content type or one the operation lists.
    assert response.headers.get("Content-Type") in (None, "application/json")
    assert_unauthorized(client.get(ME, headers=headers), "revoked")
    assert_unauthorized(client.post(LOGOUT, headers=headers), "revoked")


def test_logout_of_the_refresh_token_makes_refresh_fail(client, customer):
    headers = bearer(customer["refresh"])
    assert client.post(REFRESH, headers=headers).status_code == 200

    assert client.post(LOGOUT, headers=headers).status_code == 204

    assert_unauthorized(client.post(REFRESH, headers=headers), "revoked")


def test_logout_revokes_only_the_token_sent(client, customer, make_user):
    other = make_user()
    client.post(LOGOUT, headers=bearer(customer["access"]))

    assert client.get(ME, headers=bearer(other["access"])).status_code == 200


# --- every kind of bad token --------------------------------------------------------------


def _expired(app, user_id, _token=None):
    with app.app_context():
        user = db.session.get(User, user_id)
        return create_access_token(identity=user, expires_delta=timedelta(seconds=-1))


def _signed_with_another_key(app, user_id, token):
    return jwt.encode(_claims(token), "another-key-that-is-long-enough-0123456789", "HS256")


def _unsigned(app, user_id, token):
    return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(_claims(token))}."


def _of_a_deleted_user(app, user_id, token):
    with app.app_context():
        _soft_delete_user(user_id)
    return token


def _forged_admin_role(app, user_id, token):
    # A customer edits the role claim of their own token: the signature breaks.
    header, _payload, signature = token.split(".")
    return f"{header}.{_b64({**_claims(token), 'role': 'admin'})}.{signature}"


BAD_TOKENS = {
    "expired": (_expired, "expired"),
    "bad-signature": (_signed_with_another_key, "invalid"),
    "alg-none": (_unsigned, "invalid"),
    "tampered-claims": (_forged_admin_role, "invalid"),
    "deleted-user": (_of_a_deleted_user, "no longer exists"),
    "malformed": (lambda app, uid, token: "abc.def", "invalid"),
    "not-a-jwt": (lambda app, uid, token: "x" * 40, "invalid"),
}


def send(client, operation, headers, **ids):
    """Send ``operation`` = (method, path template, JSON body) with ``headers``."""
    method, path, body = operation
    return client.open(path.format(**ids), method=method, json=body, headers=headers)


# The 401 comes first: an admin operation with an invalid body still answers 401.
PROTECTED = [("GET", ME, None), ("POST", PRODUCTS, {"not": "a valid product"})]


@pytest.mark.parametrize("kind", BAD_TOKENS)
@pytest.mark.parametrize("operation", PROTECTED, ids=["me", "create-product"])
def test_every_bad_token_is_a_401(app, client, customer, kind, operation):
    make, detail = BAD_TOKENS[kind]
    token = make(app, customer["id"], customer["access"])

    response = send(client, operation, bearer(token))

    assert_unauthorized(response, detail)


def test_an_unsigned_token_is_refused_even_with_every_right_claim(app, client, admin):
    claims = _claims(admin["access"])
    assert claims["role"] == "admin"
    token = _unsigned(app, admin["id"], admin["access"])

    response = client.post(PRODUCTS, json=NEW_PRODUCT, headers=bearer(token))

    assert_unauthorized(response)
    assert client.get(PRODUCTS).get_json()["total"] == 0


@pytest.mark.parametrize(
    ("authorization", "detail"),
    [
        (None, "missing"),
        ("", "missing"),
        ("Bearer", "invalid"),
        ("Basic dXNlcjpwYXNz", "missing"),
        ("Bearer abc.def", "invalid"),
        ("Bearer a b", "invalid"),
        ("Token abc.def.ghi", "missing"),
        ("bearer abc.def", "invalid"),
        ("abc.def.ghi", "must be 'bearer <token>'"),
    ],
    ids=["absent", "empty", "bearer-only", "basic", "malformed", "two", "token", "lower", "raw"],
)
@pytest.mark.parametrize(
    ("method", "path"), [("GET", ME), ("POST", REFRESH), ("POST", LOGOUT), ("POST", PRODUCTS)]
)
def test_a_missing_or_malformed_authorization_header_is_a_401(
    client, authorization, detail, method, path
):
    headers = {} if authorization is None else {"Authorization": authorization}

    response = client.open(path, method=method, json={}, headers=headers)

    assert_unauthorized(response, detail)


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "bEaReR"])
def test_the_bearer_scheme_is_case_insensitive(client, customer, scheme):
    # RFC 9110 §11.1: the authentication scheme is a case-insensitive token.
    tokens = login(client, customer["email"]).get_json()

    me = client.get(ME, headers={"Authorization": f"{scheme} {tokens['access_token']}"})
    refreshed = client.post(
        REFRESH, headers={"Authorization": f"{scheme} {tokens['refresh_token']}"}
    )

    assert me.status_code == 200
    assert me.get_json()["id"] == customer["id"]
    assert refreshed.status_code == 200


def test_a_raw_token_without_its_scheme_is_a_401_saying_what_is_wrong(client, customer):
    response = client.get(ME, headers={"Authorization": customer["access"]})

    body = assert_unauthorized(response)
    assert "Authorization header must be 'Bearer <token>'" in body["detail"]
    assert customer["access"] not in response.get_data(as_text=True)


def test_an_expired_token_is_refused_with_the_reason(app, client, customer):
    response = client.get(ME, headers=bearer(_expired(app, customer["id"])))

    body = assert_unauthorized(response)
    assert body["detail"] == "The token has expired"


def test_a_token_for_a_user_that_never_existed_is_refused(app, client):
    with app.app_context():
        token = create_access_token(identity=User(id=999_999, role="customer"))

    assert_unauthorized(client.get(ME, headers=bearer(token)), "no longer exists")


# --- authorization ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "operation",
    [
        ("POST", PRODUCTS, NEW_PRODUCT),
        ("POST", PRODUCTS, {"bogus": True}),
        ("PUT", PRODUCTS + "/{id}", NEW_PRODUCT),
        ("PATCH", PRODUCTS + "/{id}", {"stock": 0}),
        ("DELETE", PRODUCTS + "/{id}", None),
    ],
    ids=["create", "create-invalid-body", "replace", "update", "delete"],
)
def test_a_customer_cannot_call_admin_operations(client, customer_headers, make_product, operation):
    product_id = make_product(stock=7)

    response = send(client, operation, customer_headers, id=product_id)

    assert response.status_code == 403
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["status"] == 403
    assert "WWW-Authenticate" not in response.headers
    assert client.get(f"{PRODUCTS}/{product_id}").get_json()["stock"] == 7
    assert client.get(PRODUCTS).get_json()["total"] == 1


def test_an_admin_can_call_admin_operations(client, admin_headers):
    response = client.post(PRODUCTS, json=NEW_PRODUCT, headers=admin_headers)

    assert response.status_code == 201


def test_a_demoted_admin_loses_admin_rights_at_once(client, admin, in_app):
    # The role comes from the user's row, not from the claim in the token.
    def demote():
        db.session.get(User, admin["id"]).role = Role.CUSTOMER.value
        db.session.commit()

    in_app(demote)

    response = client.post(PRODUCTS, json=NEW_PRODUCT, headers=bearer(admin["access"]))

    assert response.status_code == 403
