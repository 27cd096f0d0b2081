"""Revoked sessions: the database store, the Redis store, the two together, logout across instances.

Redis (``TEST_REDIS_URL``) runs on this machine and in CI; a connection failure
fails these tests. Every key they write is under a prefix of the test's own.
"""

import logging
import time
import uuid
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from sqlalchemy import func, select

from api import create_app
from api.auth import connect_redis
from models import RevokedToken, User, db
from models.token import REVOKED_PREFIX, Blocklist, DatabaseBlocklist, RedisBlocklist
from tests.conftest import PASSWORD, REDIS_URL, UNREACHABLE_REDIS_URL, bearer
from tests.contract import ContractClient


def _jti() -> str:
    return str(uuid.uuid4())


def _in(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


@pytest.fixture
def redis_store(redis_client, redis_prefix):
    """A Redis blocklist under this test's own key prefix (its keys, marker included, go after)."""
    return RedisBlocklist(redis_client, prefix=redis_prefix + REVOKED_PREFIX)


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
    assert redis_client.exists(REVOKED_PREFIX + jti) == 0
    assert not RedisBlocklist(redis_client, prefix=redis_store.prefix + "other:").is_revoked(jti)


# --- Redis's completeness marker ---------------------------------------------------------


def test_redis_answers_only_once_it_is_marked_complete(redis_store):
    revoked, other = _jti(), _jti()
    redis_store.revoke(revoked, _in(60))

    assert redis_store.lookup(revoked) is None
    assert redis_store.lookup(other) is None

    redis_store.copy([], complete=True)

    assert redis_store.lookup(revoked) is True
    assert redis_store.lookup(other) is False


def test_redis_copy_keeps_each_expiry(redis_store, redis_client):
    jti = _jti()

    redis_store.copy([(jti, _in(600))])

    assert 595 <= redis_client.ttl(redis_store.prefix + jti) <= 602
    assert redis_store.lookup(jti) is None  # not marked complete


def test_the_marker_lives_outside_the_ids_keys(redis_store):
    assert not redis_store.complete_key.startswith(redis_store.prefix)


# --- the database and Redis together ------------------------------------------------------


@pytest.fixture
def user_id(make_user) -> int:
    return make_user()["id"]


def _user(user_id: int) -> User:
    """The user as the database holds it now."""
    db.session.expire_all()
    return db.session.get(User, user_id)


def _unsynced(user_id: int) -> int:
    return _user(user_id).unsynced_revocations


def test_without_redis_the_database_alone_answers(app, user_id):
    jti = _jti()
    with app.app_context():
        blocklist = Blocklist(DatabaseBlocklist())

        blocklist.revoke(jti, _in(900), user_id=user_id)

        assert blocklist.is_revoked(jti, user=_user(user_id))
        assert not blocklist.is_revoked(_jti(), user=_user(user_id))
        assert _unsynced(user_id) == 0
        assert blocklist.redis_status() is None


def test_the_user_and_the_revocation_are_read_in_one_query(app, user_id, counter):
    revoked, other = _jti(), _jti()
    with app.app_context():
        blocklist = Blocklist(DatabaseBlocklist())
        blocklist.revoke(revoked, _in(900), user_id=user_id)
        db.session.expire_all()

        with counter.counting() as statements:
            user, is_revoked = blocklist.user_and_revocation(user_id, revoked)
        assert (user.id, is_revoked) == (user_id, True)
        assert len(statements) == 1
        assert blocklist.user_and_revocation(user_id, other)[1] is False
        assert blocklist.user_and_revocation(user_id + 1000, revoked) == (None, False)


def test_with_redis_complete_redis_answers_for_the_user_lookup(app, redis_store, user_id):
    jti = _jti()
    with app.app_context():
        blocklist = Blocklist(DatabaseBlocklist(), redis_store)
        assert blocklist.user_and_revocation(user_id, _jti()) == (_user(user_id), False)
        redis_store.revoke(jti, _in(900))  # in Redis only: the database does not know it

        assert blocklist.user_and_revocation(user_id, jti) == (_user(user_id), True)


def test_a_revocation_is_written_to_both(app, redis_store, user_id):
    jti = _jti()
    with app.app_context():
        blocklist = Blocklist(DatabaseBlocklist(), redis_store)

        blocklist.revoke(jti, _in(900), user_id=user_id)

        assert DatabaseBlocklist().is_revoked(jti)
        assert redis_store.is_revoked(jti)
        assert _unsynced(user_id) == 0
        assert db.session.get(RevokedToken, jti).user_id == user_id


def test_with_redis_unreachable_a_revocation_is_counted_as_unsynced(app, user_id):
    jti = _jti()
    client = connect_redis(UNREACHABLE_REDIS_URL)
    with app.app_context():
        blocklist = Blocklist(DatabaseBlocklist(), RedisBlocklist(client))

        blocklist.revoke(jti, _in(900), user_id=user_id)

        assert DatabaseBlocklist().is_revoked(jti)
        assert _unsynced(user_id) == 1
        assert blocklist.is_revoked(jti, user=_user(user_id))
        assert blocklist.redis_status() == "unavailable"
    client.close()


def test_a_count_raised_during_a_catch_up_survives_it(app, redis_store, user_id):
    with app.app_context():
        database = DatabaseBlocklist()
        database.revoke(_jti(), _in(900), user_id=user_id, unsynced=True)
        user = _user(user_id)  # reads a count of 1, as a request's user lookup does
        db.session.expunge(user)  # and keeps it, whatever commits next
        database.revoke(_jti(), _in(900), user_id=user_id, unsynced=True)  # now 2

        Blocklist(database, redis_store).is_revoked(_jti(), user=user)

        assert _unsynced(user_id) == 1


def test_an_unsynced_count_leaves_the_users_version_and_timestamps_alone(app, user_id):
    with app.app_context():
        before = _user(user_id)
        version, updated_at = before.version, before.updated_at

        DatabaseBlocklist().revoke(_jti(), _in(900), user_id=user_id, unsynced=True)

        after = _user(user_id)
        assert (after.version, after.updated_at) == (version, updated_at)
        assert after.unsynced_revocations == 1


# --- logout across instances --------------------------------------------------------------


@pytest.fixture
def redis_apps(app_config, redis_prefix):
    """Two separately built app instances sharing one Redis (like two gunicorn hosts).

    They write under the test's ``REDIS_KEY_PREFIX``, whose keys are deleted afterwards.
    """
    logger = logging.getLogger("api")
    handlers, level = list(logger.handlers), logger.level
    settings = {**app_config, "REDIS_URL": REDIS_URL, "REDIS_KEY_PREFIX": redis_prefix}
    apps = [create_app(settings) for _ in range(2)]
    for application in apps:
        application.test_client_class = ContractClient
    yield apps
    for application in apps:
        application.extensions["storefront.redis"].close()
        with application.app_context():
            db.engine.dispose()
    logger.handlers[:] = handlers
    logger.setLevel(level)


def _redis_key(application, token: str) -> str:
    """The key under which ``application`` keeps the revocation of ``token``'s session."""
    sid = jwt.decode(token, options={"verify_signature": False})["sid"]
    return application.config["REDIS_KEY_PREFIX"] + REVOKED_PREFIX + sid


def test_an_app_with_redis_url_keeps_revocations_in_the_database_and_in_redis(
    redis_apps, redis_client, customer, in_app
):
    client = redis_apps[0].test_client()

    assert client.post("/api/v1/auth/logout", headers=bearer(customer["access"])).status_code == 204

    assert redis_client.exists(_redis_key(redis_apps[0], customer["access"])) == 1
    assert in_app(lambda: db.session.scalar(select(func.count(RevokedToken.jti)))) == 1


def test_revocations_go_under_the_redis_key_prefix(
    redis_apps, redis_client, redis_prefix, customer
):
    client = redis_apps[0].test_client()

    assert client.post("/api/v1/auth/logout", headers=bearer(customer["access"])).status_code == 204

    ours = {key.decode() for key in redis_client.scan_iter(match=f"{redis_prefix}*")}
    assert _redis_key(redis_apps[0], customer["access"]) in ours
    unprefixed = _redis_key(redis_apps[0], customer["access"]).removeprefix(redis_prefix)
    assert redis_client.exists(unprefixed) == 0


@pytest.mark.parametrize(
    "probe",
    [("access_token", "GET", "/api/v1/auth/me"), ("refresh_token", "POST", "/api/v1/auth/refresh")],
    ids=["access", "refresh"],
)
def test_a_token_revoked_on_one_instance_is_refused_by_another(
    redis_apps, redis_client, customer, probe
):
    token, method, path = probe
    first, second = (application.test_client() for application in redis_apps)
    login = {"email": customer["email"], "password": PASSWORD}
    encoded = first.post("/api/v1/auth/login", json=login).get_json()[token]
    headers = bearer(encoded)
    assert second.open(path, method=method, headers=headers).status_code == 200

    assert first.post("/api/v1/auth/logout", headers=headers).status_code == 204

    refused = second.open(path, method=method, headers=headers)
    assert refused.status_code == 401
    assert "revoked" in refused.get_json()["detail"]
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert redis_client.exists(_redis_key(redis_apps[0], encoded)) == 1
