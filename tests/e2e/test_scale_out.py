"""Scale-out: two gunicorn instances sharing one database and one Redis, as behind a load balancer.

Whatever one instance learns, the other must know: a logout, a login attempt
counted against the rate limit, an order. The database is PostgreSQL when
TEST_DATABASE_URL is set (as in CI), else a SQLite file both instances open.

Redis must answer at ``TEST_REDIS_URL`` (here and in CI): when it does not,
these tests fail rather than skip. The instances write under a
``REDIS_KEY_PREFIX`` of this module's own, and only the keys under it are
deleted (before the login-limit test, so that it starts from a whole budget,
and at the end); whatever else that Redis holds is left alone.
"""

import jwt
import pytest

from models.token import REVOKED_PREFIX, RedisBlocklist
from tests.conftest import bearer
from tests.e2e.live import shared_instances
from tests.redis_keys import TEST_REDIS_URL, delete_keys, new_prefix

LOGIN_LIMIT = 5
CUSTOMER = {"email": "customer@example.com", "password": "customer-demo-password"}
LOGIN = "/api/v1/auth/login"
ME = "/api/v1/auth/me"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def key_prefix(redis_client):
    """The instances' ``REDIS_KEY_PREFIX``; its keys are deleted afterwards."""
    prefix = new_prefix("scale-out")
    yield prefix
    delete_keys(redis_client, prefix)


@pytest.fixture(scope="module")
def instances(tmp_path_factory, key_prefix):
    """Instances A and B: same database, same Redis, different ports and metrics directories."""
    with shared_instances(
        tmp_path_factory.mktemp("scale-out"),
        REDIS_URL=TEST_REDIS_URL,
        REDIS_KEY_PREFIX=key_prefix,
        RATELIMIT_ENABLED="true",
        RATELIMIT_LOGIN=f"{LOGIN_LIMIT} per minute",
        RATELIMIT_DEFAULT="1000 per minute",
    ) as servers:
        yield servers


@pytest.fixture
def untouched_login_budget(redis_client, key_prefix):
    """Rate-limit counters from zero, and the login budget whole again for the other tests."""
    delete_keys(redis_client, key_prefix)
    yield
    delete_keys(redis_client, key_prefix)


def login(server) -> str:
    response = server.request("POST", LOGIN, json_body=CUSTOMER)
    assert response.status_code == 200
    return response.json["access_token"]


def test_a_token_revoked_via_one_instance_is_refused_by_the_other(
    instances, redis_client, key_prefix
):
    a, b = instances
    token = login(a)
    assert b.request("GET", ME, headers=bearer(token)).status_code == 200

    assert a.request("POST", "/api/v1/auth/logout", headers=bearer(token)).status_code == 204

    # Several requests, so that each of B's workers answers at least once.
    assert {b.request("GET", ME, headers=bearer(token)).status_code for _ in range(8)} == {401}
    # Revoked in Redis too, not merely in the database the two instances also share:
    # the session the token belongs to.
    sid = jwt.decode(token, options={"verify_signature": False})["sid"]
    assert RedisBlocklist(redis_client, prefix=key_prefix + REVOKED_PREFIX).is_revoked(sid)


def test_an_order_placed_via_one_instance_is_visible_via_the_other(instances):
    a, b = instances
    headers = bearer(login(b))
    product = a.request("GET", "/api/v1/products?per_page=1").json["items"][0]

    body = {"items": [{"product_id": product["id"], "quantity": 2}]}
    placed = a.request("POST", "/api/v1/orders", json_body=body, headers=headers)
    assert placed.status_code == 201

    seen = b.request("GET", f"/api/v1/orders/{placed.json['id']}", headers=headers)
    assert seen.status_code == 200
    assert seen.json == placed.json
    after = b.request("GET", f"/api/v1/products/{product['id']}").json
    assert after["stock"] == product["stock"] - 2


def test_the_login_limit_counts_attempts_at_both_instances(instances, untouched_login_budget):
    a, b = instances
    wrong = {**CUSTOMER, "password": "a wrong guess"}

    # Alternating instances: each sees the other's attempts in X-RateLimit-Remaining.
    attempts = [(a, b)[i % 2].request("POST", LOGIN, json_body=wrong) for i in range(LOGIN_LIMIT)]
    assert [r.status_code for r in attempts] == [401] * LOGIN_LIMIT
    assert [int(r.headers["X-RateLimit-Remaining"]) for r in attempts] == list(
        range(LOGIN_LIMIT - 1, -1, -1)
    )

    # Over the limit at both, even with the right password.
    for server in (b, a):
        refused = server.request("POST", LOGIN, json_body=CUSTOMER)
        assert refused.status_code == 429
        assert 0 < int(refused.headers["Retry-After"]) <= 60
        assert refused.headers["X-RateLimit-Limit"] == str(LOGIN_LIMIT)
