"""Redis is a fast path, never a dependency: an outage fails no request and un-revokes no token.

The database is the record of revocations; with ``REDIS_URL`` set, Redis holds a
copy that is read first. Unreachable Redis is simulated two ways: a URL where
nothing listens (every call fails at once), and a real Redis (``TEST_REDIS_URL``)
whose client is made to fail for a while. Tests that use the real Redis keep
their keys under a prefix of their own and delete only those.
"""

import jwt
import pytest
import redis

from models.token import REVOKED_PREFIX
from tests.conftest import PASSWORD, REDIS_URL, UNREACHABLE_REDIS_URL, bearer
from tests.helpers import assert_problem

LOGIN = "/api/v1/auth/login"
REFRESH = "/api/v1/auth/refresh"
LOGOUT = "/api/v1/auth/logout"
ME = "/api/v1/auth/me"
PASSWORD_URL = "/api/v1/auth/password"
ORDERS = "/api/v1/orders"


def outage_settings() -> dict:
    """Redis unreachable for everything: revocations and rate-limit counters."""
    return {
        "REDIS_URL": UNREACHABLE_REDIS_URL,
        "RATELIMIT_ENABLED": True,
        "RATELIMIT_STORAGE_URI": UNREACHABLE_REDIS_URL,
    }


def login(client, email: str, password: str = PASSWORD) -> dict:
    response = client.post(LOGIN, json={"email": email, "password": password})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def assert_revoked(response) -> None:
    assert "revoked" in assert_problem(response, 401)["detail"]


def fail_every_command(monkeypatch, client: redis.Redis) -> None:
    """Make every command of ``client`` fail as an unreachable server does."""

    def unreachable(*_args, **_kwargs):
        raise redis.ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(client, "execute_command", unreachable)


@pytest.fixture
def redis_settings(redis_prefix) -> dict:
    """A real Redis, with this test's own key prefix."""
    return {"REDIS_URL": REDIS_URL, "REDIS_KEY_PREFIX": redis_prefix}


# --- Redis unreachable --------------------------------------------------------------------


def test_with_redis_unreachable_logged_in_requests_still_work(build_app, customer):
    client = build_app(**outage_settings()).test_client()

    tokens = login(client, customer["email"])
    access = bearer(tokens["access_token"])

    assert client.get(ME, headers=access).status_code == 200
    assert client.get(ORDERS, headers=access).status_code == 200
    refreshed = client.post(REFRESH, headers=bearer(tokens["refresh_token"]))
    assert refreshed.status_code == 200
    assert client.get(ME, headers=bearer(refreshed.get_json()["access_token"])).status_code == 200


def test_with_redis_unreachable_logout_still_revokes_the_session(build_app, customer):
    client = build_app(**outage_settings()).test_client()
    tokens = login(client, customer["email"])

    assert client.post(LOGOUT, headers=bearer(tokens["access_token"])).status_code == 204

    assert_revoked(client.get(ME, headers=bearer(tokens["access_token"])))
    assert_revoked(client.post(REFRESH, headers=bearer(tokens["refresh_token"])))


def test_with_redis_unreachable_a_password_change_works_and_revokes(build_app, customer):
    client = build_app(**outage_settings()).test_client()
    tokens = login(client, customer["email"])

    changed = client.post(
        PASSWORD_URL,
        headers=bearer(tokens["access_token"]),
        json={"current_password": PASSWORD, "new_password": "another fine secret"},
    )

    assert changed.status_code == 200
    assert_revoked(client.get(ME, headers=bearer(tokens["access_token"])))
    assert client.get(ME, headers=bearer(changed.get_json()["access_token"])).status_code == 200


def test_a_revocation_made_while_redis_was_up_holds_while_it_is_down(
    build_app, redis_settings, customer
):
    up = build_app(**redis_settings).test_client()
    down = build_app(**outage_settings()).test_client()
    tokens = login(up, customer["email"])

    assert up.post(LOGOUT, headers=bearer(tokens["access_token"])).status_code == 204

    assert_revoked(down.get(ME, headers=bearer(tokens["access_token"])))
    assert_revoked(down.post(REFRESH, headers=bearer(tokens["refresh_token"])))


# --- Redis reachable again, but missing revocations -----------------------------------------


def test_a_revocation_redis_missed_is_refused_by_an_instance_that_never_saw_the_outage(
    build_app, redis_settings, customer, monkeypatch
):
    # Instance A cannot reach Redis when the user logs out; instance B can, and
    # Redis never heard of the revocation. B must not trust Redis's "not revoked".
    a, b = build_app(**redis_settings), build_app(**redis_settings)
    tokens = login(a.test_client(), customer["email"])
    access = bearer(tokens["access_token"])
    assert b.test_client().get(ME, headers=access).status_code == 200

    with monkeypatch.context() as outage:
        fail_every_command(outage, a.extensions["storefront.redis"])
        assert a.test_client().post(LOGOUT, headers=access).status_code == 204

    assert_revoked(b.test_client().get(ME, headers=access))
    assert_revoked(b.test_client().post(REFRESH, headers=bearer(tokens["refresh_token"])))
    # B copied what Redis lacked: Redis alone now refuses it too.
    sid = jwt.decode(tokens["access_token"], options={"verify_signature": False})["sid"]
    stored = redis.Redis.from_url(REDIS_URL)
    assert stored.exists(redis_settings["REDIS_KEY_PREFIX"] + REVOKED_PREFIX + sid) == 1
    stored.close()
    assert_revoked(b.test_client().get(ME, headers=access))


def test_a_redis_that_lost_its_data_is_not_trusted_until_it_is_copied_again(
    build_app, redis_settings, redis_prefix, customer
):
    app = build_app(**redis_settings)
    client = app.test_client()
    tokens = login(client, customer["email"])
    access = bearer(tokens["access_token"])
    assert client.post(LOGOUT, headers=access).status_code == 204
    stored = redis.Redis.from_url(REDIS_URL)
    keys = list(stored.scan_iter(match=f"{redis_prefix}*"))
    assert keys
    stored.delete(*keys)  # as a restart without persistence would

    assert_revoked(client.get(ME, headers=access))
    assert_revoked(build_app(**redis_settings).test_client().get(ME, headers=access))

    sid = jwt.decode(tokens["access_token"], options={"verify_signature": False})["sid"]
    assert stored.exists(redis_settings["REDIS_KEY_PREFIX"] + REVOKED_PREFIX + sid) == 1
    stored.close()


def test_the_check_moves_back_to_redis_once_it_answers_again(
    build_app, redis_settings, customer, monkeypatch, capsys
):
    app = build_app(**redis_settings)
    client = app.test_client()
    monkeypatch.setattr("models.token.RECHECK_SECONDS", 0)
    tokens = login(client, customer["email"])
    access = bearer(tokens["access_token"])
    assert client.get(ME, headers=access).status_code == 200  # checked in Redis
    capsys.readouterr()

    with monkeypatch.context() as outage:
        fail_every_command(outage, app.extensions["storefront.redis"])
        assert client.get(ME, headers=access).status_code == 200
    assert client.get(ME, headers=access).status_code == 200

    messages = [line for line in capsys.readouterr().out.splitlines() if "api.blocklist" in line]
    assert len(messages) == 2, messages
    assert "unreachable" in messages[0]
    assert "back" in messages[1]
    assert "Connection refused" in messages[0]
    assert tokens["access_token"] not in "".join(messages)


# --- readiness ----------------------------------------------------------------------------


def test_ready_shows_redis_unavailable_and_stays_ready(build_app):
    response = build_app(**outage_settings()).test_client().get("/ready")

    assert response.status_code == 200
    assert response.get_json() == {
        "status": "ready",
        "database": "ok",
        "checks": {"database": "ok", "redis": "unavailable"},
    }


def test_ready_shows_redis_ok_when_it_answers(build_app, redis_settings):
    response = build_app(**redis_settings).test_client().get("/ready")

    assert response.status_code == 200
    assert response.get_json()["checks"] == {"database": "ok", "redis": "ok"}
