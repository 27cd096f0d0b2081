"""Whom a rate limit counts: a user by their access token, anyone else by address.

Each test builds its own app with small limits, so counters start at zero; the
test client sets ``REMOTE_ADDR`` (the address ``ProxyFix`` would have corrected
behind a proxy) through ``environ_overrides``. The Redis test shares one Redis
between two apps, as two instances would, under a key prefix of its own.
"""

import uuid
from datetime import timedelta

import jwt
import pytest
import redis
from flask_jwt_extended import create_access_token

from api.ratelimit import client_key
from models import User, db
from tests.conftest import PASSWORD, bearer

ME = "/api/v1/auth/me"
LOGIN = "/api/v1/auth/login"
PRODUCTS = "/api/v1/products"
REDIS_URL = "redis://127.0.0.1:6379/0"
OFFICE, HOME, CAFE = "198.51.100.7", "203.0.113.20", "192.0.2.33"


@pytest.fixture
def limited(build_app):
    """An app allowing two requests a minute per client on each API operation and on login."""
    return build_app(RATELIMIT_ENABLED=True, RATELIMIT_DEFAULT="2 per minute")


def get(client, path, *, ip, token=None):
    headers = bearer(token) if token else {}
    return client.get(path, headers=headers, environ_overrides={"REMOTE_ADDR": ip})


def statuses(client, path, *, ip, token=None, times=3) -> list[int]:
    return [get(client, path, ip=ip, token=token).status_code for _ in range(times)]


def forged_token(user_id: int) -> str:
    """An access token for ``user_id`` signed with a key the app does not know."""
    claims = {"sub": str(user_id), "type": "access", "jti": uuid.uuid4().hex, "exp": 4102444800}
    return jwt.encode(claims, "not-the-server-key-" + "x" * 32, algorithm="HS256")


# --- authenticated callers count as their user --------------------------------------------


def test_two_users_behind_one_address_have_a_budget_each(limited, make_user):
    client = limited.test_client()
    alice, bob = make_user(), make_user()

    assert statuses(client, ME, ip=OFFICE, token=alice["access"]) == [200, 200, 429]
    assert statuses(client, ME, ip=OFFICE, token=bob["access"]) == [200, 200, 429]


def test_one_user_from_two_addresses_shares_one_budget(limited, make_user):
    client = limited.test_client()
    alice = make_user()

    first = get(client, ME, ip=OFFICE, token=alice["access"])
    second = get(client, ME, ip=HOME, token=alice["access"])
    third = get(client, ME, ip=CAFE, token=alice["access"])

    assert [r.status_code for r in (first, second, third)] == [200, 200, 429]
    assert [r.headers["X-RateLimit-Remaining"] for r in (first, second)] == ["1", "0"]
    assert 0 < int(third.headers["Retry-After"]) <= 60


def test_a_signed_in_user_does_not_share_the_budget_of_their_address(limited, make_user):
    client = limited.test_client()
    alice = make_user()

    assert statuses(client, PRODUCTS, ip=OFFICE) == [200, 200, 429]
    # The address is spent, yet a signed-in user there still has a budget of their own.
    assert statuses(client, PRODUCTS, ip=OFFICE, token=alice["access"]) == [200, 200, 429]


# --- anyone else counts as their address ---------------------------------------------------


def test_anonymous_callers_are_counted_by_address(limited):
    client = limited.test_client()

    assert statuses(client, PRODUCTS, ip=OFFICE) == [200, 200, 429]
    assert statuses(client, PRODUCTS, ip=HOME) == [200, 200, 429]


def test_an_invalid_token_counts_as_its_address_and_still_gets_its_401(limited, make_user):
    client = limited.test_client()
    alice = make_user()

    responses = [get(client, ME, ip=OFFICE, token="not-a-jwt") for _ in range(3)]

    assert [r.status_code for r in responses] == [401, 401, 429]
    assert responses[0].headers["WWW-Authenticate"].startswith("Bearer")
    assert responses[0].headers["X-RateLimit-Remaining"] == "1"
    # The address's budget was spent, not anyone's user budget.
    assert statuses(client, ME, ip=OFFICE, token=alice["access"]) == [200, 200, 429]


def test_a_forged_token_cannot_spend_its_victims_budget(limited, make_user):
    client = limited.test_client()
    victim = make_user()
    forged = forged_token(victim["id"])

    assert statuses(client, ME, ip=OFFICE, token=forged) == [401, 401, 429]
    assert statuses(client, ME, ip=HOME, token=victim["access"]) == [200, 200, 429]


def test_expired_and_refresh_tokens_count_as_their_address(limited, make_user, in_app):
    client = limited.test_client()
    alice = make_user()
    expired = in_app(
        lambda: create_access_token(
            identity=db.session.get(User, alice["id"]), expires_delta=timedelta(seconds=-60)
        )
    )

    assert get(client, ME, ip=OFFICE, token=expired).status_code == 401
    assert get(client, ME, ip=OFFICE, token=alice["refresh"]).status_code == 401
    assert get(client, ME, ip=OFFICE).status_code == 429  # the third request from OFFICE
    assert statuses(client, ME, ip=HOME, token=alice["access"]) == [200, 200, 429]


@pytest.mark.parametrize(
    "authorization",
    [
        "",
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "Bearer a.b.c",
        "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.",  # alg "none"
        "Bearer \u00e9t\u00e9",
        "Bearer " + "A" * 5000,
    ],
)
def test_the_key_never_fails_on_a_bad_authorization_header(limited, authorization):
    headers = {"Authorization": authorization}
    with limited.test_request_context(headers=headers, environ_base={"REMOTE_ADDR": OFFICE}):
        assert client_key() == f"ip:{OFFICE}"


def test_the_key_of_a_valid_access_token_is_its_user(limited, make_user):
    alice = make_user()
    for scheme in ("Bearer", "bearer"):
        headers = {"Authorization": f"{scheme} {alice['access']}"}
        with limited.test_request_context(headers=headers, environ_base={"REMOTE_ADDR": OFFICE}):
            assert client_key() == f"user:{alice['id']}"


# --- login is anonymous: always counted by address ------------------------------------------


def test_login_is_limited_by_address_whatever_token_comes_with_it(build_app, make_user):
    client = build_app(RATELIMIT_ENABLED=True, RATELIMIT_LOGIN="2 per minute").test_client()
    alice, bob = make_user(), make_user()

    def login(ip, token=None):
        return client.post(
            LOGIN,
            json={"email": alice["email"], "password": PASSWORD},
            headers=bearer(token) if token else {},
            environ_overrides={"REMOTE_ADDR": ip},
        ).status_code

    # A token per attempt would otherwise buy a fresh budget of password guesses each time.
    attempts = [login(OFFICE, alice["access"]), login(OFFICE, bob["access"]), login(OFFICE)]
    assert attempts == [200, 200, 429]
    assert login(OFFICE, make_user()["access"]) == 429
    assert login(HOME) == 200


# --- Redis: every instance counts in one place ----------------------------------------------


@pytest.fixture
def redis_prefix():
    """A rate-limit key prefix of this test's own in the shared Redis, removed afterwards."""
    client = redis.Redis.from_url(REDIS_URL)
    client.ping()  # fail, never skip, when Redis is down
    prefix = f"test-rate-limits-{uuid.uuid4().hex[:12]}"
    yield prefix
    for key in client.scan_iter(match=f"*/{prefix}/*"):
        client.delete(key)
    client.close()


def test_apps_sharing_redis_share_each_users_budget(build_app, make_user, redis_prefix):
    settings = {
        "RATELIMIT_ENABLED": True,
        "RATELIMIT_DEFAULT": "3 per minute",
        "RATELIMIT_STORAGE_URI": REDIS_URL,
        "RATELIMIT_KEY_PREFIX": redis_prefix,
    }
    one, two = build_app(**settings).test_client(), build_app(**settings).test_client()
    alice, bob = make_user(), make_user()

    assert [
        get(one, ME, ip=OFFICE, token=alice["access"]).status_code,
        get(two, ME, ip=HOME, token=alice["access"]).status_code,
        get(one, ME, ip=CAFE, token=alice["access"]).status_code,
        get(two, ME, ip=OFFICE, token=alice["access"]).status_code,
    ] == [200, 200, 200, 429]
    assert get(two, ME, ip=OFFICE, token=bob["access"]).status_code == 200


def test_limits_still_hold_in_process_when_redis_is_unreachable(build_app):
    # Nothing listens on port 1: every storage call fails, and the limiter
    # falls back to counting in memory instead of failing requests with 500s.
    app = build_app(
        RATELIMIT_ENABLED=True,
        RATELIMIT_DEFAULT="2 per minute",
        RATELIMIT_STORAGE_URI="redis://127.0.0.1:1/0",
    )

    assert statuses(app.test_client(), "/api/v1/products", ip="10.9.9.9", times=4) == [
        200,
        200,
        429,
        429,
    ]
