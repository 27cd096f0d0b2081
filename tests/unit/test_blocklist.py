"""Revoked tokens: the database store, the Redis store, and logout across instances.

Redis runs on this machine and in CI; a connection failure fails these tests.
"""

import logging
import time
import uuid
from datetime import UTC, datetime, timedelta

import jwt
import pytest
import redis
from sqlalchemy import func, select

from api import create_app
from models import RevokedToken, db
from models.token import DatabaseBlocklist, RedisBlocklist
from tests.conftest import PASSWORD, bearer
from tests.contract import ContractClient

REDIS_URL = "redis://127.0.0.1:6379/0"
APP_PREFIX = "storefront:revoked:"


def _jti() -> str:
    return str(uuid.uuid4())


def _in(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


@pytest.fixture
def redis_client():
    client = redis.Redis.from_url(REDIS_URL)
    client.ping()  # fail, never skip, when Redis is down
    yield client
    client.close()


@pytest.fixture
def redis_store(redis_client):
    """A Redis blocklist under a key prefix of its own, removed afterwards."""
    prefix = f"test:blocklist:{uuid.uuid4().hex}:"
    yield RedisBlocklist(redis_client, prefix=prefix)
    for key in redis_client.scan_iter(match=f"{prefix}*"):
        redis_client.delete(key)


@pytest.fixture
def database_store(app):
    """The database blocklist, used inside an app context."""
    with app.app_context():
        yield DatabaseBlocklist()


@pytest.fixture(params=["database", "redis"])
def store(request):
    return request.getfixturevalue(f"{request.param}_store")


# --- both stores --------------------------------------------------------------------------


def test_a_revoked_jti_is_revoked_and_others_are_not(store):
    revoked, other = _jti(), _jti()

    store.revoke(revoked, _in(900))

    assert store.is_revoked(revoked)
    assert not store.is_revoked(other)


def test_revoking_twice_is_harmless(store):
    jti = _jti()

    store.revoke(jti, _in(900))
    store.revoke(jti, _in(900))

    assert store.is_revoked(jti)


def test_revocations_are_independent(store):
    jtis = [_jti() for _ in range(3)]
    for jti in jtis[:2]:
        store.revoke(jti, _in(900))

    assert [store.is_revoked(jti) for jti in jtis] == [True, True, False]


# --- database -----------------------------------------------------------------------------


def _stored_jtis() -> set[str]:
    return set(db.session.scalars(select(RevokedToken.jti)))


def test_database_store_forgets_entries_past_their_expiry(database_store):
    expired, live = _jti(), _jti()
    database_store.revoke(expired, _in(-60))

    database_store.revoke(live, _in(900))  # each revocation sweeps the expired ones

    assert _stored_jtis() == {live}
    assert database_store.is_revoked(live)


def test_database_store_keeps_the_expiry_of_the_token(database_store):
    jti, expires_at = _jti(), _in(900).replace(microsecond=0)

    database_store.revoke(jti, expires_at)

    stored = db.session.get(RevokedToken, jti).expires_at
    assert stored.replace(tzinfo=stored.tzinfo or UTC) == expires_at


def test_database_store_is_shared_by_every_session(app, database_store):
    jti = _jti()
    database_store.revoke(jti, _in(900))

    with app.app_context():  # a fresh session, as another worker would have
        assert DatabaseBlocklist().is_revoked(jti)


# --- redis --------------------------------------------------------------------------------


def test_redis_store_keys_live_as_long_as_the_token(redis_store, redis_client):
    jti = _jti()

    redis_store.revoke(jti, _in(600))

    ttl = redis_client.ttl(redis_store.prefix + jti)
    assert 595 <= ttl <= 602


def test_redis_store_forgets_a_token_once_it_has_expired(redis_store, redis_client):
    jti = _jti()

    redis_store.revoke(jti, _in(-60))  # already expired: kept for the minimum of a second

    assert 0 < redis_client.pttl(redis_store.prefix + jti) <= 1000
    deadline = time.monotonic() + 3
    while redis_store.is_revoked(jti) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not redis_store.is_revoked(jti)


def test_redis_store_uses_its_prefix(redis_store, redis_client):
    jti = _jti()

    redis_store.revoke(jti, _in(60))

    assert redis_client.exists(redis_store.prefix + jti) == 1
    assert redis_client.exists(APP_PREFIX + jti) == 0
    assert not RedisBlocklist(redis_client, prefix="test:other:").is_revoked(jti)


# --- logout across instances --------------------------------------------------------------


@pytest.fixture
def redis_apps(app_config, redis_client):
    """Two separately built app instances sharing one Redis (like two gunicorn hosts)."""
    logger = logging.getLogger("api")
    handlers, level = list(logger.handlers), logger.level
    apps = [create_app({**app_config, "REDIS_URL": REDIS_URL}) for _ in range(2)]
    for application in apps:
        application.test_client_class = ContractClient
    yield apps
    for application in apps:
        application.extensions["storefront.blocklist"].client.close()
        with application.app_context():
            db.engine.dispose()
    logger.handlers[:] = handlers
    logger.setLevel(level)


def test_an_app_with_redis_url_keeps_revocations_in_redis(
    redis_apps, redis_client, app_keys, customer, in_app
):
    client = redis_apps[0].test_client()
    key = APP_PREFIX + jwt.decode(customer["access"], options={"verify_signature": False})["sid"]
    app_keys.append(key)

    assert client.post("/api/v1/auth/logout", headers=bearer(customer["access"])).status_code == 204

    assert redis_client.exists(key) == 1
    assert in_app(lambda: db.session.scalar(select(func.count(RevokedToken.jti)))) == 0


@pytest.fixture
def app_keys(redis_client):
    """Keys the apps write under their own prefix; deleted after the test."""
    keys = []
    yield keys
    if keys:
        redis_client.delete(*keys)


@pytest.mark.parametrize(
    "probe",
    [("access_token", "GET", "/api/v1/auth/me"), ("refresh_token", "POST", "/api/v1/auth/refresh")],
    ids=["access", "refresh"],
)
def test_a_token_revoked_on_one_instance_is_refused_by_another(
    redis_apps, redis_client, app_keys, customer, probe
):
    token, method, path = probe
    first, second = (application.test_client() for application in redis_apps)
    login = {"email": customer["email"], "password": PASSWORD}
    encoded = first.post("/api/v1/auth/login", json=login).get_json()[token]
    key = APP_PREFIX + jwt.decode(encoded, options={"verify_signature": False})["sid"]
    app_keys.append(key)
    headers = bearer(encoded)
    assert second.open(path, method=method, headers=headers).status_code == 200

    assert first.post("/api/v1/auth/logout", headers=headers).status_code == 204

    refused = second.open(path, method=method, headers=headers)
    assert refused.status_code == 401
    assert "revoked" in refused.get_json()["detail"]
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert redis_client.exists(key) == 1
