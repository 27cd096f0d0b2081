"""The OAuth 2 token endpoint: the password grant (RFC 6749 §4.3) that Swagger UI's dialog sends.

A form ``grant_type=password&username=<email>&password=...`` answers the JSON
login's tokens, never cached; its errors are problems that carry RFC 6749
§5.2's ``error`` and ``error_description``; what it does not use (client
credentials, ``scope``) is ignored; it spends the login's rate limit.
"""

import pytest
from flask_jwt_extended import decode_token

from tests.conftest import PASSWORD, bearer
from tests.helpers import assert_problem

TOKEN = "/api/v1/auth/token"
LOGIN = "/api/v1/auth/login"
ME = "/api/v1/auth/me"
FORM = "application/x-www-form-urlencoded"
OFFICE = "198.51.100.7"


def grant(client, *, ip=OFFICE, headers=None, **form):
    return client.post(
        TOKEN, data=form, headers=headers or {}, environ_overrides={"REMOTE_ADDR": ip}
    )


def password_grant(client, email, password=PASSWORD, **extra):
    return grant(client, grant_type="password", username=email, password=password, **extra)


def assert_oauth_error(response, status: int, error: str) -> dict:
    body = assert_problem(response, status)
    assert body["error"] == error
    assert body["error_description"] == body["detail"]
    return body


def test_a_password_grant_answers_the_login_s_tokens_never_to_be_cached(client, customer, app):
    response = password_grant(client, customer["email"])

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Pragma"] == "no-cache"
    body = response.get_json()
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    with app.app_context():
        assert decode_token(body["refresh_token"])["type"] == "refresh"
    me = client.get(ME, headers=bearer(body["access_token"]))
    assert me.status_code == 200
    assert me.get_json()["email"] == customer["email"]


def test_the_email_matches_in_any_case(client, customer):
    assert password_grant(client, customer["email"].upper()).status_code == 200


def test_what_swagger_ui_also_sends_is_ignored(client, customer):
    # Empty client credentials in Basic (base64 of ":"), an empty scope, a client_id.
    response = password_grant(
        client,
        customer["email"],
        scope="",
        client_id="swagger-ui",
        client_secret="",
        headers={"Authorization": "Basic Og==", "X-Requested-With": "XMLHttpRequest"},
    )

    assert response.status_code == 200


def test_a_charset_on_the_form_is_fine(client, customer):
    form = f"grant_type=password&username={customer['email']}&password={PASSWORD}"
    response = client.post(
        TOKEN, data=form.replace(" ", "+"), content_type=f"{FORM}; charset=UTF-8"
    )

    assert response.status_code == 200


def test_wrong_credentials_are_a_401_invalid_grant(client, customer):
    response = password_grant(client, customer["email"], "wrong password!")

    body = assert_oauth_error(response, 401, "invalid_grant")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert body["detail"] == "Invalid email or password"
    assert "refresh_token" not in body


def test_an_unknown_email_is_the_same_401(client):
    body = assert_oauth_error(password_grant(client, "nobody@example.com"), 401, "invalid_grant")
    assert body["detail"] == "Invalid email or password"


@pytest.mark.parametrize("grant_type", ["client_credentials", "refresh_token", "PASSWORD", " "])
def test_another_grant_type_is_a_400_unsupported_grant_type(client, customer, grant_type):
    response = grant(client, grant_type=grant_type, username=customer["email"], password=PASSWORD)

    assert_oauth_error(response, 400, "unsupported_grant_type")


@pytest.mark.parametrize(
    ("form", "detail"),
    [
        ({"username": "a@example.com", "password": PASSWORD}, "grant_type is required"),
        ({"grant_type": "password", "password": PASSWORD}, "username is required"),
        ({"grant_type": "password", "username": "a@example.com"}, "password is required"),
        (
            {"grant_type": "password", "username": "", "password": PASSWORD},
            "username must not be empty",
        ),
        (
            {"grant_type": "password", "username": "a" * 255, "password": PASSWORD},
            "username must be at most 254 characters long",
        ),
        (
            {"grant_type": "password", "username": "a\x00@example.com", "password": PASSWORD},
            "username must not contain control characters",
        ),
    ],
)
def test_a_missing_or_malformed_field_is_a_400_invalid_request(client, form, detail):
    body = assert_oauth_error(grant(client, **form), 400, "invalid_request")

    assert body["detail"] == detail
    assert "\x00" not in body["detail"]


def test_a_repeated_field_is_a_400_invalid_request(client, customer):
    response = client.post(
        TOKEN,
        data=f"grant_type=password&username={customer['email']}&password=a&password=b",
        content_type=FORM,
    )

    body = assert_oauth_error(response, 400, "invalid_request")
    assert body["detail"] == "password is repeated"


def test_a_json_body_is_a_415(client, customer):
    response = client.post(
        TOKEN,
        json={"grant_type": "password", "username": customer["email"], "password": PASSWORD},
    )

    body = assert_problem(response, 415)
    assert FORM in body["detail"]


def test_the_password_is_never_echoed(client, customer):
    secret = "s3cret-\x01-never-shown"
    response = password_grant(client, customer["email"], secret)

    assert secret not in response.get_data(as_text=True)


def test_the_form_and_the_json_login_share_one_budget_of_guesses(build_app, customer):
    client = build_app(RATELIMIT_ENABLED=True, RATELIMIT_LOGIN="2 per minute").test_client()

    def json_login():
        return client.post(
            LOGIN,
            json={"email": customer["email"], "password": "wrong password!"},
            environ_overrides={"REMOTE_ADDR": OFFICE},
        ).status_code

    attempts = [
        json_login(),
        password_grant(client, customer["email"], "wrong password!").status_code,
        password_grant(client, customer["email"]).status_code,
        json_login(),
    ]

    assert attempts == [401, 401, 429, 429]
    refused = password_grant(client, customer["email"])
    assert_problem(refused, 429)
    assert "Retry-After" in refused.headers
    # Another address has a budget of its own.
    assert password_grant(client, customer["email"], ip="203.0.113.20").status_code == 200
