"""Rate limits: the login and default limits, their 429 problem and ``X-RateLimit-*`` headers.

Also whom a limit counts (a user by their access token, anyone else by address),
what is not counted, and counters shared through Redis.

Each test builds its own app with small limits, so counters start at zero; the
test client sets ``REMOTE_ADDR`` (the address ``ProxyFix`` would have corrected
behind a proxy) through ``environ_overrides``. The Redis test shares one Redis
between two apps, as two instances would, under a key prefix of its own.
"""

import json
import time
import uuid
from datetime import timedelta

import jwt
import pytest
import redis
from flask_jwt_extended import create_access_token

from api.config import ConfigError
from api.hooks import ratelimit
from api.hooks.ratelimit import LocalWindows, client_key
from models import User, db
from tests.conftest import PASSWORD, bearer
from tests.helpers import assert_problem

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


def _login(client, email, password=PASSWORD):
    return client.post("/api/v1/auth/login", json={"email": email, "password": password})


# --- the login limit and the default limit, their 429 and headers -------------------------


def test_the_login_rate_limit_answers_429_with_retry_after(build_app, customer):
    client = build_app(RATELIMIT_ENABLED=True, RATELIMIT_LOGIN="2 per minute").test_client()

    first, second, third = (_login(client, customer["email"]) for _ in range(3))

    assert first.status_code == second.status_code == 200
    assert [r.headers["X-RateLimit-Remaining"] for r in (first, second)] == ["1", "0"]
    assert "Retry-After" not in first.headers
    body = assert_problem(third, 429)
    assert "access_token" not in body
    assert third.headers["X-RateLimit-Limit"] == "2"
    assert third.headers["X-RateLimit-Remaining"] == "0"
    assert 0 < int(third.headers["X-RateLimit-Reset"]) - time.time() <= 61
    assert 0 < int(third.headers["Retry-After"]) <= 60


def test_a_login_rate_limit_counts_failed_attempts_too(build_app, customer):
    client = build_app(RATELIMIT_ENABLED=True, RATELIMIT_LOGIN="2 per minute").test_client()

    statuses = [_login(client, customer["email"], "wrong password!").status_code for _ in range(3)]
    statuses.append(_login(client, customer["email"]).status_code)

    assert statuses == [401, 401, 429, 429]


def test_with_rate_limiting_disabled_nothing_is_limited(build_app, customer):
    client = build_app(RATELIMIT_ENABLED=False, RATELIMIT_LOGIN="2 per minute").test_client()

    responses = [_login(client, customer["email"]) for _ in range(8)]

    assert [r.status_code for r in responses] == [200] * 8
    assert not any("X-RateLimit-Limit" in r.headers for r in responses)


def test_each_app_keeps_its_own_rate_limit_settings(build_app, customer):
    limited = build_app(RATELIMIT_ENABLED=True, RATELIMIT_LOGIN="2 per minute")
    build_app(RATELIMIT_ENABLED=False)  # another app in the same process

    client = limited.test_client()
    statuses = [_login(client, customer["email"]).status_code for _ in range(3)]

    assert statuses == [200, 200, 429]


def test_the_default_limit_covers_the_api_but_not_the_probes(build_app, customer):
    client = build_app(RATELIMIT_ENABLED=True, RATELIMIT_DEFAULT="2 per minute").test_client()
    headers = bearer(customer["access"])

    products = [client.get("/api/v1/products").status_code for _ in range(3)]
    me = [client.get("/api/v1/auth/me", headers=headers).status_code for _ in range(3)]
    probes = [client.get(path).status_code for path in ("/health", "/ready") * 3]

    assert products == me == [200, 200, 429]
    assert probes == [200] * 6


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


def test_a_remembered_token_stops_counting_as_its_user_once_it_expires(
    limited, make_user, in_app, monkeypatch
):
    alice = make_user()
    token = in_app(
        lambda: create_access_token(
            identity=db.session.get(User, alice["id"]), expires_delta=timedelta(seconds=30)
        )
    )
    headers = {"Authorization": f"Bearer {token}"}

    def key_at(now: float) -> str:
        monkeypatch.setattr(ratelimit.time, "time", lambda: now)
        with limited.test_request_context(headers=headers, environ_base={"REMOTE_ADDR": OFFICE}):
            return client_key()

    issued = time.time()
    assert key_at(issued) == f"user:{alice['id']}"  # verified, then remembered
    assert key_at(issued + 10) == f"user:{alice['id']}"
    assert key_at(issued + 31) == f"ip:{OFFICE}"


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


# --- what counts, and what the headers say ------------------------------------------------


def test_each_endpoint_has_a_budget_of_its_own_and_the_429_says_which_limit(limited):
    client = limited.test_client()

    assert statuses(client, PRODUCTS, ip=OFFICE) == [200, 200, 429]
    refused = get(client, PRODUCTS, ip=OFFICE)
    assert statuses(client, "/api/v1/swagger.json", ip=OFFICE) == [200, 200, 429]

    body = assert_problem(refused, 429)
    assert body["detail"] == (
        "Rate limit exceeded (2 per 1 minute); retry after Retry-After seconds"
    )


def test_static_files_and_unrouted_requests_are_not_counted(limited):
    client = limited.test_client()

    assets = [get(client, "/swaggerui/swagger-ui.css", ip=OFFICE) for _ in range(3)]
    for asset in assets:
        asset.close()  # a file's response holds the file open until closed
    missing = [get(client, "/no/such/page", ip=OFFICE) for _ in range(3)]

    assert [r.status_code for r in assets + missing] == [200] * 3 + [404] * 3
    assert not any("X-RateLimit-Limit" in r.headers for r in assets + missing)
    assert statuses(client, PRODUCTS, ip=OFFICE) == [200, 200, 429]


def test_with_several_limits_the_headers_describe_the_tightest(build_app):
    client = build_app(
        RATELIMIT_ENABLED=True, RATELIMIT_DEFAULT="3 per minute; 2 per hour"
    ).test_client()

    responses = [get(client, PRODUCTS, ip=OFFICE) for _ in range(3)]

    assert [r.status_code for r in responses] == [200, 200, 429]
    assert [r.headers["X-RateLimit-Limit"] for r in responses] == ["2", "2", "2"]
    assert [r.headers["X-RateLimit-Remaining"] for r in responses] == ["1", "0", "0"]
    assert 60 < int(responses[2].headers["Retry-After"]) <= 3600


@pytest.mark.parametrize("setting", ["RATELIMIT_DEFAULT", "RATELIMIT_LOGIN"])
def test_a_malformed_limit_stops_the_app_at_startup(build_app, setting):
    with pytest.raises(ConfigError, match=setting):
        build_app(**{setting: "lots per minute"})


def test_in_process_windows_restart_when_they_end_and_are_swept_later(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(time, "time", lambda: clock[0])
    windows = LocalWindows()

    assert [windows.hit("a", 60), windows.hit("a", 60)] == [(1, 1060.0), (2, 1060.0)]
    clock[0] = 1060.0
    assert windows.hit("a", 60) == (1, 1120.0)
    windows.hit("b", 60)
    clock[0] = 1000.0 + ratelimit.SWEEP_SECONDS + 120
    windows.hit("c", 60)

    # Only live windows are kept: memory follows the active callers, not all callers ever.
    assert set(windows._windows) == {"c"}


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


def test_counting_moves_in_process_while_redis_is_down_and_back_when_it_returns(
    build_app, redis_prefix, monkeypatch, capsys
):
    monkeypatch.setattr(ratelimit, "RECHECK_SECONDS", 0)  # every request asks whether it is back
    app = build_app(
        RATELIMIT_ENABLED=True,
        RATELIMIT_DEFAULT="3 per minute",
        RATELIMIT_STORAGE_URI=REDIS_URL,
        RATELIMIT_KEY_PREFIX=redis_prefix,
    )
    client = app.test_client()
    storage = app.extensions["storefront.limiter"].windows.storage

    def unreachable(*_args, **_kwargs):
        raise redis.ConnectionError("Connection refused")

    assert get(client, PRODUCTS, ip=OFFICE).status_code == 200  # 1 of 3, in Redis
    with monkeypatch.context() as outage:
        outage.setattr(storage, "incr", unreachable)
        outage.setattr(storage, "check", lambda: False)
        # In process, a budget of its own; never a 500.
        assert statuses(client, PRODUCTS, ip=OFFICE, times=4) == [200, 200, 200, 429]
    # Back in Redis, where the first request was counted.
    assert statuses(client, PRODUCTS, ip=OFFICE) == [200, 200, 429]

    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    events = [
        (line["level"], line["message"]) for line in lines if line["logger"] == "api.ratelimit"
    ]
    assert [level for level, _ in events] == ["WARNING", "INFO"]
    assert "unreachable (Connection refused)" in events[0][1]
