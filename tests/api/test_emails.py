"""Emails through the API: one account per address however it is spelt, and no hidden characters.

An address is stored and compared NFKC-normalised and lower-cased, so case and
full-width letters name the same account; characters that do not show or that
reorder text are refused where an address is stored, and ignored where one is
looked up. An address too long once normalised is a 422 that names the rule.
"""

import pytest

from models import User, db
from models.emails import EMAIL_PATTERN
from tests.conftest import PASSWORD, bearer
from tests.helpers import assert_problem

REGISTER = "/api/v1/auth/register"
LOGIN = "/api/v1/auth/login"
USERS = "/api/v1/users"
ME = "/api/v1/auth/me"

ZERO_WIDTH_SPACE = "\u200b"
RIGHT_TO_LEFT_OVERRIDE = "\u202e"
# Grows from 250 characters to 490 when lower-cased: "İ" is "i" and a combining dot.
GROWS_WHEN_LOWERED = "\u0130" * 240 + "@x.example"


def register(client, email, name="Ada Lovelace"):
    return client.post(REGISTER, json={"email": email, "password": PASSWORD, "name": name})


def login(client, email):
    return client.post(LOGIN, json={"email": email, "password": PASSWORD})


def stored_emails() -> list[str]:
    return list(db.session.scalars(db.select(User.email).order_by(User.id)))


def test_an_address_too_long_once_normalised_is_a_422_naming_the_rule(client, in_app):
    response = register(client, GROWS_WHEN_LOWERED)

    body = assert_problem(response, 422, fields=["email"])
    assert body["errors"]["email"] == [
        "must be at most 254 characters long once normalised (NFKC, lower-cased)"
    ]
    assert in_app(stored_emails) == []


def test_an_admin_cannot_store_such_an_address_either(client, admin_headers, admin, in_app):
    body = {"email": GROWS_WHEN_LOWERED, "password": PASSWORD, "name": "Long"}
    created = client.post(USERS, headers=admin_headers, json=body)
    changed = client.patch(
        f"{USERS}/{admin['id']}", headers=admin_headers, json={"email": GROWS_WHEN_LOWERED}
    )

    assert_problem(created, 422, fields=["email"])
    assert_problem(changed, 422, fields=["email"])
    assert in_app(stored_emails) == ["admin@example.com"]


def test_an_address_is_stored_in_its_normal_form(client):
    created = register(client, "\uff21\uff44\uff41@Example.COM")  # full-width "Ada"

    assert created.status_code == 201
    assert created.get_json()["email"] == "ada@example.com"


@pytest.mark.parametrize(
    "email",
    [
        "\u5409\u91ce@\u4f8b\u3048.jp",
        "\u0434\u0430@\u043f\u0440\u0438\u043c\u0435\u0440.\u0440\u0444",
    ],
)
def test_international_addresses_are_welcome(client, email):
    created = register(client, email)

    assert created.status_code == 201
    assert created.get_json()["email"] == email


@pytest.mark.parametrize(
    "look_alike",
    [
        "ADA@EXAMPLE.COM",
        "\uff41\uff44\uff41@example.com",  # full-width letters
        "\uff21\uff24\uff21@\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45.com",
    ],
)
def test_a_look_alike_of_a_registered_address_is_the_same_account(client, in_app, look_alike):
    first = register(client, "ada@example.com")

    again = register(client, look_alike, name="Impostor")
    logged_in = login(client, look_alike)

    assert assert_problem(again, 409)["detail"] == (
        "A user with email ada@example.com already exists"
    )
    assert logged_in.status_code == 200
    me = client.get(ME, headers=bearer(logged_in.get_json()["access_token"]))
    assert me.get_json()["id"] == first.get_json()["id"]
    assert in_app(stored_emails) == ["ada@example.com"]


@pytest.mark.parametrize(
    "hidden",
    [
        ZERO_WIDTH_SPACE,
        RIGHT_TO_LEFT_OVERRIDE,
        "\u200d",  # zero-width joiner
        "\u2066",  # left-to-right isolate
        "\ufeff",  # byte order mark
        "\u00ad",  # soft hyphen
        "\u0085",  # a C1 control
        "\u00a0",  # no-break space
        "\ufe0f",  # a variation selector
        "\u3164",  # Hangul filler
        "\U000e0041",  # TAG LATIN CAPITAL LETTER A: invisible ASCII smuggling
        "\U000e0100",  # VARIATION SELECTOR-17
        "\U0001d173",  # MUSICAL SYMBOL BEGIN BEAM, a format character
        "\U0001f600",  # an emoji: the pattern names nothing beyond U+FFFF
    ],
)
def test_invisible_bidi_and_astral_characters_are_refused_by_the_pattern(client, in_app, hidden):
    response = register(client, f"ad{hidden}a@example.com")

    body = assert_problem(response, 422, fields=["email"])
    assert body["errors"]["email"] == [f"must match the pattern {EMAIL_PATTERN}"]
    assert in_app(stored_emails) == []


@pytest.mark.parametrize(
    "email",
    [
        "ada\uff20example.com@x.com",  # full-width "@": two once normalised
        "ad\u00b4a@example.com",  # the acute accent is a space and a combining mark
    ],
)
def test_characters_that_normalise_to_an_at_sign_or_a_space_are_refused(client, in_app, email):
    response = register(client, email)

    body = assert_problem(response, 422, fields=["email"])
    assert body["errors"]["email"] == [f"must match the pattern {EMAIL_PATTERN}"]
    assert in_app(stored_emails) == []


@pytest.mark.parametrize("hidden", [ZERO_WIDTH_SPACE, RIGHT_TO_LEFT_OVERRIDE, "\U000e0041"])
def test_logging_in_with_hidden_characters_finds_the_account(client, hidden):
    created = register(client, "ada@example.com").get_json()

    response = login(client, f"ad{hidden}a@example.com")

    assert response.status_code == 200
    me = client.get(ME, headers=bearer(response.get_json()["access_token"]))
    assert me.get_json()["id"] == created["id"]


def test_changing_to_a_look_alike_of_another_users_address_is_a_409(client, make_user, in_app):
    make_user(email="ada@example.com")
    grace = make_user(email="grace@example.com")

    response = client.patch(
        f"{USERS}/{grace['id']}",
        headers=bearer(grace["access"]),
        json={"email": "\uff41\uff44\uff41@example.com", "current_password": PASSWORD},
    )

    assert_problem(response, 409)
    assert sorted(in_app(stored_emails)) == ["ada@example.com", "grace@example.com"]


def test_the_email_filter_finds_a_look_alike(client, admin_headers, make_user):
    ada = make_user(email="ada@example.com")

    listing = client.get(
        USERS, headers=admin_headers, query_string={"email": "\uff21DA@example.com"}
    )

    assert [user["id"] for user in listing.get_json()["items"]] == [ada["id"]]


def test_the_email_field_states_the_rule_a_schema_cannot(client):
    spec = client.get("/api/v1/swagger.json").get_json()

    for model in ("RegisterInput", "UserCreate", "UserReplace", "UserPatch"):
        description = spec["definitions"][model]["properties"]["email"]["description"]
        assert "NFKC" in description
        assert "the one case where a request the schema allows is a 422" in description
