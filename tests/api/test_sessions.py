"""Sessions: a password change ends every earlier session, and logout ends the one it is sent in.

A session is what one login starts: its refresh token and every access token
minted from it (at login or by ``POST /auth/refresh``) carry the same ``sid``.
``POST /auth/logout`` revokes that session; a password change (``POST
/auth/password``, or ``PATCH``/``PUT /users/{id}``) or an admin's reset revokes
every token of the user issued before it, and a login right after it works.
"""

import jwt
import pytest
from flask_jwt_extended import create_access_token, create_refresh_token

from models import User, db
from tests.conftest import PASSWORD, bearer
from tests.helpers import assert_problem

LOGIN = "/api/v1/auth/login"
REFRESH = "/api/v1/auth/refresh"
LOGOUT = "/api/v1/auth/logout"
PASSWORD_URL = "/api/v1/auth/password"
ME = "/api/v1/auth/me"
USERS = "/api/v1/users"
NEW_PASSWORD = "a brand new secret 42"


def login(client, email: str, password: str = PASSWORD) -> dict:
    response = client.post(LOGIN, json={"email": email, "password": password})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def refresh(client, refresh_token: str) -> str:
    response = client.post(REFRESH, headers=bearer(refresh_token))
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["access_token"]


def claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def works(client, access: str) -> bool:
    """Whether ``access`` is accepted as an access token (GET /auth/me)."""
    status = client.get(ME, headers=bearer(access)).status_code
    assert status in (200, 401)
    return status == 200


def refreshes(client, refresh_token: str) -> bool:
    """Whether ``refresh_token`` is accepted by POST /auth/refresh."""
    status = client.post(REFRESH, headers=bearer(refresh_token)).status_code
    assert status in (200, 401)
    return status == 200


def assert_revoked(response) -> None:
    body = assert_problem(response, 401)
    assert "revoked" in body["detail"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.fixture
def session(client, customer) -> dict:
    """A logged-in customer: the login's two tokens, and an access token refreshed from it."""
    tokens = login(client, customer["email"])
    return {
        "access": tokens["access_token"],
        "refresh": tokens["refresh_token"],
        "refreshed": refresh(client, tokens["refresh_token"]),
    }


# --- the session id -----------------------------------------------------------------------


def test_every_token_of_a_login_carries_one_session_id_and_refresh_keeps_it(client, session):
    ids = {claims(token)["sid"] for token in session.values()}

    assert len(ids) == 1
    assert all(ids)


def test_each_login_starts_a_session_of_its_own(client, customer):
    first, second = login(client, customer["email"]), login(client, customer["email"])

    assert claims(first["access_token"])["sid"] != claims(second["access_token"])["sid"]


# --- logout ends the session --------------------------------------------------------------


@pytest.mark.parametrize("sent", ["access", "refresh", "refreshed"])
def test_logout_with_any_token_of_a_session_ends_all_of_it(client, session, sent):
    assert client.post(LOGOUT, headers=bearer(session[sent])).status_code == 204

    assert not works(client, session["access"])
    assert not works(client, session["refreshed"])
    assert not refreshes(client, session["refresh"])
    assert_revoked(client.get(ME, headers=bearer(session["access"])))


def test_logout_leaves_the_users_other_sessions_alone(client, customer, session):
    other = login(client, customer["email"])

    client.post(LOGOUT, headers=bearer(session["access"]))

    assert works(client, other["access_token"])
    assert refreshes(client, other["refresh_token"])


def test_a_login_after_logout_works(client, customer, session):
    client.post(LOGOUT, headers=bearer(session["refresh"]))

    assert works(client, login(client, customer["email"])["access_token"])


# Tokens minted before sessions existed carry no ``sid`` (nor ``ver``): they keep
# working, and logout revokes the one sent, as it always did.
def _legacy_token(app, user_id: int, *, refresh: bool = False) -> str:
    with app.app_context():
        user = db.session.get(User, user_id)
        token = (create_refresh_token if refresh else create_access_token)(identity=user)
    old = {k: v for k, v in claims(token).items() if k not in ("sid", "ver")}
    return jwt.encode(old, app.config["JWT_SECRET_KEY"], "HS256")


def test_a_token_from_before_sessions_still_works_and_logs_out(app, client, customer):
    access = _legacy_token(app, customer["id"])
    assert works(client, access)

    assert client.post(LOGOUT, headers=bearer(access)).status_code == 204

    assert_revoked(client.get(ME, headers=bearer(access)))


def test_access_tokens_refreshed_from_an_old_refresh_token_end_with_it(app, client, customer):
    old_refresh = _legacy_token(app, customer["id"], refresh=True)
    access = refresh(client, old_refresh)

    assert client.post(LOGOUT, headers=bearer(access)).status_code == 204

    assert not refreshes(client, old_refresh)


# --- POST /auth/password ------------------------------------------------------------------


def change_password(client, access: str, current: str = PASSWORD, new: str = NEW_PASSWORD):
    return client.post(
        PASSWORD_URL,
        headers=bearer(access),
        json={"current_password": current, "new_password": new},
    )


def test_changing_ones_password_answers_fresh_tokens_and_revokes_every_earlier_one(
    client, customer, session
):
    other_device = login(client, customer["email"])

    response = change_password(client, session["access"])

    assert response.status_code == 200
    fresh = response.get_json()
    assert set(fresh) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert fresh["token_type"] == "Bearer"
    assert response.headers["Cache-Control"] == "no-store"
    for token in (session["access"], session["refreshed"], other_device["access_token"]):
        assert not works(client, token)
    for token in (session["refresh"], other_device["refresh_token"]):
        assert not refreshes(client, token)
    assert works(client, fresh["access_token"])
    assert works(client, refresh(client, fresh["refresh_token"]))


def test_the_new_password_logs_in_at_once_and_the_old_one_no_longer(client, customer, session):
    change_password(client, session["access"])

    assert works(client, login(client, customer["email"], NEW_PASSWORD)["access_token"])
    assert_problem(client.post(LOGIN, json={"email": customer["email"], "password": PASSWORD}), 401)


@pytest.mark.parametrize("current", ["not my password", PASSWORD.upper()])
def test_a_wrong_current_password_is_a_403_and_changes_nothing(client, customer, session, current):
    response = change_password(client, session["access"], current=current)

    assert "current password" in assert_problem(response, 403)["detail"].lower()
    assert works(client, session["access"])
    assert refreshes(client, session["refresh"])
    assert login(client, customer["email"])["access_token"]


@pytest.mark.parametrize(
    ("body", "status", "fields"),
    [
        ({"new_password": NEW_PASSWORD}, 400, {"current_password"}),
        ({"current_password": PASSWORD}, 400, {"new_password"}),
        ({"current_password": PASSWORD, "new_password": "short"}, 422, {"new_password"}),
        ({"current_password": PASSWORD, "new_password": NEW_PASSWORD, "role": "admin"}, 400, ...),
    ],
    ids=["no-current", "no-new", "new-too-short", "unknown-field"],
)
def test_a_malformed_password_change_is_refused(client, session, body, status, fields):
    response = client.post(PASSWORD_URL, headers=bearer(session["access"]), json=body)

    assert_problem(response, status, fields=fields)
    assert works(client, session["access"])


@pytest.mark.parametrize("token", ["refresh", None])
def test_changing_a_password_needs_an_access_token(client, session, token):
    headers = bearer(session[token]) if token else {}

    response = client.post(
        PASSWORD_URL,
        headers=headers,
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
    )

    assert_problem(response, 401)


# --- the same rules through /users/{id} ---------------------------------------------------


def user_url(user: dict) -> str:
    return f"{USERS}/{user['id']}"


@pytest.mark.parametrize("method", ["PATCH", "PUT"])
@pytest.mark.parametrize(
    "change",
    [{"password": NEW_PASSWORD}, {"email": "renamed@example.com"}],
    ids=["password", "email"],
)
@pytest.mark.parametrize("current", [None, "not my password"], ids=["missing", "wrong"])
def test_changing_ones_own_password_or_email_needs_the_current_password(
    client, customer, session, method, change, current
):
    body = {"email": customer["email"], "name": "Test User", **change}
    if current is not None:
        body["current_password"] = current

    response = client.open(
        user_url(customer), method=method, headers=bearer(session["access"]), json=body
    )

    assert "current_password" in assert_problem(response, 403)["detail"]
    assert works(client, session["access"])
    assert (
        client.get(ME, headers=bearer(session["access"])).get_json()["email"] == (customer["email"])
    )
    assert login(client, customer["email"])["access_token"]


@pytest.mark.parametrize("method", ["PATCH", "PUT"])
def test_ones_own_password_change_through_users_revokes_earlier_tokens(
    client, customer, session, method
):
    body = {
        "email": customer["email"],
        "name": "Test User",
        "password": NEW_PASSWORD,
        "current_password": PASSWORD,
    }

    response = client.open(
        user_url(customer), method=method, headers=bearer(session["access"]), json=body
    )

    assert response.status_code == 200, response.get_data(as_text=True)
    assert not works(client, session["access"])
    assert not refreshes(client, session["refresh"])
    assert works(client, login(client, customer["email"], NEW_PASSWORD)["access_token"])


def test_ones_own_email_change_with_the_current_password_keeps_the_session(
    client, customer, session
):
    body = {"email": "renamed@example.com", "current_password": PASSWORD}

    response = client.patch(user_url(customer), headers=bearer(session["access"]), json=body)

    assert response.status_code == 200
    assert response.get_json()["email"] == "renamed@example.com"
    assert works(client, session["access"])


def test_an_unchanged_email_needs_no_current_password(client, customer, session):
    body = {"email": customer["email"].upper(), "name": "Renamed"}

    response = client.put(user_url(customer), headers=bearer(session["access"]), json=body)

    assert response.status_code == 200
    assert response.get_json()["name"] == "Renamed"


@pytest.mark.parametrize("method", ["PATCH", "PUT"])
def test_an_admin_resets_a_users_password_without_theirs_and_ends_the_users_sessions(
    client, admin_headers, customer, session, method
):
    body = {"email": customer["email"], "name": "Test User", "password": NEW_PASSWORD}

    response = client.open(user_url(customer), method=method, headers=admin_headers, json=body)

    assert response.status_code == 200, response.get_data(as_text=True)
    assert not works(client, session["access"])
    assert not works(client, session["refreshed"])
    assert not refreshes(client, session["refresh"])
    assert works(client, login(client, customer["email"], NEW_PASSWORD)["access_token"])
    # The admin's own session is not the user's: it goes on.
    assert client.get(ME, headers=admin_headers).status_code == 200


def test_an_admin_changing_their_own_password_needs_it_too(client, admin, admin_headers):
    response = client.patch(user_url(admin), headers=admin_headers, json={"password": NEW_PASSWORD})

    assert_problem(response, 403)
    assert client.get(ME, headers=admin_headers).status_code == 200


def test_a_name_change_keeps_every_session(client, customer, session):
    response = client.patch(
        user_url(customer), headers=bearer(session["access"]), json={"name": "N"}
    )

    assert response.status_code == 200
    assert works(client, session["access"])
    assert refreshes(client, session["refresh"])
