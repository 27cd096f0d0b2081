"""A live gunicorn whose Redis is unreachable: it migrates, starts and serves, and revocations hold.

Nothing listens at ``UNREACHABLE_REDIS_URL``, for revocations and rate limits
alike, from the migration on, so every worker meets the outage on its own.
"""

import pytest

from tests.conftest import UNREACHABLE_REDIS_URL
from tests.e2e.live import seeded_server

pytestmark = pytest.mark.slow
CUSTOMER = {"email": "customer@example.com", "password": "customer-demo-password"}
ME = "/api/v1/auth/me"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with seeded_server(
        tmp_path_factory.mktemp("redis-outage"),
        REDIS_URL=UNREACHABLE_REDIS_URL,
        RATELIMIT_ENABLED="true",
    ) as live:
        yield live


def test_with_redis_down_a_session_works_ends_and_stays_ended(server):
    tokens = server.request("POST", "/api/v1/auth/login", json_body=CUSTOMER).json
    access = {"Authorization": f"Bearer {tokens['access_token']}"}
    refresh = {"Authorization": f"Bearer {tokens['refresh_token']}"}
    # Enough requests that both workers answer at least once.
    assert {server.request("GET", ME, headers=access).status_code for _ in range(8)} == {200}
    assert server.request("POST", "/api/v1/auth/refresh", headers=refresh).status_code == 200

    assert server.request("POST", "/api/v1/auth/logout", headers=access).status_code == 204

    assert {server.request("GET", ME, headers=access).status_code for _ in range(8)} == {401}
    assert server.request("POST", "/api/v1/auth/refresh", headers=refresh).status_code == 401


def test_with_redis_down_the_instance_is_ready_and_says_redis_is_unavailable(server):
    response = server.request("GET", "/ready")

    assert response.status_code == 200
    assert response.json["checks"] == {"database": "ok", "redis": "unavailable"}
