"""Rate limits: the login and default limits, their 429 problem and ``X-RateLimit-*`` headers.

Also whom a limit counts (a user by their access token, anyone else by address),
what is not counted, and counters shared through Redis.

Each test builds its own app with small limits, so counters start at zero; the
test client sets ``REMOTE_ADDR`` (the address ``ProxyFix`` would have corrected
behind a proxy) through ``environ_overrides``. The Redis test shares one Redis
between two apps, as two instances would (``TEST_REDIS_URL``), under a key
prefix of its own (``REDIS_KEY_PREFIX``).
"""

import json
import time
import uuid
from datetime import timedelta

import jwt
import pytest
import redis
from flask_jwt_extended import create_access_token
from sqlalchemy.exc import OperationalError

from api.config import ConfigError
from api.hooks import ratelimit
from api.hooks.ratelimit import LocalWindows, client_key
from models import RateLimitWindow, User, db
from tests.conftest import PASSWORD, bearer
from tests.helpers import assert_problem
from tests.redis_keys import TEST_REDIS_URL

ME = "/api/v1/auth/me"
LOGIN = "/api/v1/auth/login"
PRODUCTS = "/api/v1/products"
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


# --- without Redis: the login and register limits in the database, shared by every worker ---


WRONG_PASSWORD = "wrong password!"


def _login_from(client, ip, password=WRONG_PASSWORD):
    body = {"email": "customer@example.com", "password": password}
    return client.post(LOGIN, json=body, environ_overrides={"REMOTE_ADDR": ip})


def test_workers_share_the_login_budget_without_redis(build_app, customer):
    # Two apps on one database, as two gunicorn workers are.
    one, two = (build_app(RATELIMIT_ENABLED=True, RATELIMIT_LOGIN="3 per minute") for _ in range(2))
    clients = [one.test_client(), two.test_client()]

    attempts = [_login_from(clients[i % 2], OFFICE) for i in range(4)]

    assert [r.status_code for r in attempts] == [401, 401, 401, 429]
    assert [r.headers["X-RateLimit-Remaining"] for r in attempts] == ["2", "1", "0", "0"]
    assert _login_from(clients[1], OFFICE, PASSWORD).status_code == 429  # even the right one
    assert _login_from(clients[0], HOME, PASSWORD).status_code == 200


def test_registration_shares_its_budget_the_same_way(build_app):
    one, two = (build_app(RATELIMIT_ENABLED=True, RATELIMIT_LOGIN="2 per minute") for _ in range(2))

    def register(client, n):
        body = {"email": f"n{n}@example.com", "password": PASSWORD, "name": "N"}
        return client.post("/api/v1/auth/register", json=body).status_code

    clients = [one.test_client(), two.test_client(), one.test_client()]
    assert [register(client, n) for n, client in enumerate(clients)] == [201, 201, 429]


def test_the_default_limit_still_counts_in_each_worker(build_app):
    # Documented: without Redis each worker keeps its own share of RATELIMIT_DEFAULT.
    one, two = (
        build_app(RATELIMIT_ENABLED=True, RATELIMIT_DEFAULT="2 per minute") for _ in range(2)
    )

    assert statuses(one.test_client(), PRODUCTS, ip=OFFICE) == [200, 200, 429]
    assert statuses(two.test_client(), PRODUCTS, ip=OFFICE) == [200, 200, 429]


def test_a_spent_login_window_is_refused_without_writing(build_app, customer, monkeypatch):
    client = build_app(RATELIMIT_ENABLED=True, RATELIMIT_LOGIN="2 per minute").test_client()
    assert [_login_from(client, OFFICE).status_code for _ in range(3)] == [401, 401, 429]

    def no_more_writes(*_args, **_kwargs):
        raise AssertionError("a spent window was counted in the database again")

    monkeypatch.setattr(ratelimit, "count_hit", no_more_writes)
    refused = [_login_from(client, OFFICE) for _ in range(5)]

    assert [r.status_code for r in refused] == [429] * 5
    assert {r.headers["X-RateLimit-Remaining"] for r in refused} == {"0"}
    assert 0 < int(refused[-1].headers["Retry-After"]) <= 60


def test_database_windows_restart_when_they_end_and_ended_ones_are_deleted(app, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(ratelimit.time, "time", lambda: clock[0])
    windows = ratelimit.DatabaseWindows()

    with app.app_context():
        assert [windows.hit("a", 60), windows.hit("a", 60)] == [(1, 1060.0), (2, 1060.0)]
        clock[0] = 1060.0
        assert windows.hit("a", 60) == (1, 1120.0)
        windows.hit("b", 60)
        clock[0] = 1000.0 + ratelimit.SWEEP_SECONDS + 120
        windows.hit("c", 60)
        kept = db.session.scalars(db.select(RateLimitWindow.key)).all()

    # Only live windows are kept: the table follows the active callers, not all callers ever.
    assert kept == ["c"]


def test_logins_are_counted_in_process_while_the_database_fails(
    build_app, customer, monkeypatch, capsys
):
    monkeypatch.setattr(ratelimit, "RECHECK_SECONDS", 0)  # every request tries the database
    app = build_app(RATELIMIT_ENABLED=True, RATELIMIT_LOGIN="3 per minute")
    client = app.test_client()

    def failing(*_args, **_kwargs):
        raise OperationalError("UPDATE rate_limit_windows", {"key": "secret"}, Exception("down"))

    def counted_in_database() -> dict[str, int]:
        with app.app_context():
            rows = db.session.execute(db.select(RateLimitWindow.key, RateLimitWindow.hits))
            return {key.split("/")[1]: hits for key, hits in rows}

    assert _login_from(client, OFFICE).status_code == 401  # 1 of 3, in the database
    with monkeypatch.context() as outage:
        outage.setattr(ratelimit, "count_hit", failing)
        # In process, a budget of its own; never a 500.
        assert [_login_from(client, OFFICE).status_code for _ in range(4)] == [401] * 3 + [429]
    # Back in the database.
    assert _login_from(client, HOME).status_code == 401
    assert counted_in_database() == {f"ip:{OFFICE}": 1, f"ip:{HOME}": 1}

    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    events = [
        (line["level"], line["message"]) for line in lines if line["logger"] == "api.ratelimit"
    ]
    assert [level for level, _ in events] == ["WARNING", "INFO"]
    assert "failed (OperationalError)" in events[0][1]
    assert "secret" not in events[0][1]


# --- Redis: every instance counts in one place ----------------------------------------------


def test_apps_sharing_redis_share_each_users_budget(build_app, make_user, redis_prefix):
    settings = {
        "RATELIMIT_ENABLED": True,
        "RATELIMIT_DEFAULT": "3 per minute",
        "RATELIMIT_STORAGE_URI": TEST_REDIS_URL,
        "REDIS_KEY_PREFIX": redis_prefix,
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


def test_counters_go_under_the_redis_key_prefix(build_app, redis_client, redis_prefix):
    app = build_app(
        RATELIMIT_ENABLED=True,
        RATELIMIT_DEFAULT="3 per minute; 100 per hour",
        RATELIMIT_STORAGE_URI=TEST_REDIS_URL,
        REDIS_KEY_PREFIX=redis_prefix,
    )
    address = f"10.{uuid.uuid4().int % 250}.7.7"  # a caller no other run counts

    assert statuses(app.test_client(), PRODUCTS, ip=address, times=2) == [200, 200]

    keys = sorted(key.decode() for key in redis_client.scan_iter(match=f"{redis_prefix}*"))
    assert len(keys) == 2  # one counter per limit
    assert all(key.startswith(f"{redis_prefix}LIMITS:LIMITER/ip:{address}/") for key in keys)
    assert not any(redis_client.exists(key.removeprefix(redis_prefix)) for key in keys)


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
        RATELIMIT_STORAGE_URI=TEST_REDIS_URL,
        REDIS_KEY_PREFIX=redis_prefix,
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


def test_guessing_a_current_password_through_users_spends_the_password_budget(build_app, customer):
    # PATCH /users/{self} checks current_password: under the generous default
    # limit alone it was a way around the budget of POST /auth/password.
    client = build_app(RATELIMIT_ENABLED=True, RATELIMIT_LOGIN="2 per minute").test_client()
    me = f"/api/v1/users/{customer['id']}"
    guess = {"email": "new@example.com", "current_password": "not it"}
    auth = bearer(customer["access"])

    first, second, third = (client.patch(me, json=guess, headers=auth) for _ in range(3))

    assert first.status_code == second.status_code == 403
    assert_problem(third, 429)
    assert 0 < int(third.headers["Retry-After"]) <= 60
    # The same budget as the other door that takes your current password.
    change = {"current_password": PASSWORD, "new_password": "a new long passphrase"}
    assert_problem(client.post("/api/v1/auth/password", json=change, headers=auth), 429)
    assert_problem(client.put(me, json={**guess, "name": "Test User"}, headers=auth), 429)
    # An edit that asks for no password spends nothing of it.
    assert client.patch(me, json={"name": "Still Me"}, headers=auth).status_code == 200
