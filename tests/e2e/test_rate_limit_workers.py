"""The login and register limits hold for one instance however many workers serve it, no Redis.

A gunicorn with five workers, as ``make run`` starts on two CPUs, and no
REDIS_URL: a burst of attempts from one address, sent from more threads than
there are workers so that every worker answers some, gets exactly the
documented budget and 429s for the rest. Runs on SQLite by default and on
PostgreSQL when TEST_DATABASE_URL is set.
"""

import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.e2e.live import seeded_server

WORKERS = 5
LIMIT = 10
ATTEMPTS = 60
CLIENTS = 12

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with seeded_server(
        tmp_path_factory.mktemp("limits"),
        workers=WORKERS,
        RATELIMIT_ENABLED="true",
        RATELIMIT_LOGIN=f"{LIMIT} per minute",
        RATELIMIT_DEFAULT="1000 per minute",
    ) as live:
        yield live


def burst(server, path: str, bodies: list[dict]) -> Counter:
    """POST every body at once from CLIENTS threads; count the statuses."""
    barrier = threading.Barrier(CLIENTS)

    def send(chunk: list[dict]) -> list[int]:
        barrier.wait(timeout=30)
        return [server.request("POST", path, json_body=body).status_code for body in chunk]

    chunks = [bodies[i::CLIENTS] for i in range(CLIENTS)]
    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        return Counter(status for statuses in pool.map(send, chunks) for status in statuses)


def test_rapid_wrong_logins_get_the_documented_budget_and_no_more(server):
    wrong = {"email": "customer@example.com", "password": "not the password"}

    statuses = burst(server, "/api/v1/auth/login", [wrong] * ATTEMPTS)

    assert statuses == {401: LIMIT, 429: ATTEMPTS - LIMIT}


def test_rapid_registrations_get_the_same_budget(server):
    bodies = [
        {
            "email": f"burst-{uuid.uuid4().hex[:12]}@example.com",
            "password": "a password",
            "name": "B",
        }
        for _ in range(ATTEMPTS)
    ]

    statuses = burst(server, "/api/v1/auth/register", bodies)

    assert statuses == {201: LIMIT, 429: ATTEMPTS - LIMIT}
