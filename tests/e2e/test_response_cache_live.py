"""The response cache under gunicorn: every worker and every instance shows a write at once.

Two workers with no Redis (each its own in-process cache, on SQLite by default
or PostgreSQL with TEST_DATABASE_URL), and two instances sharing one database
and one Redis (``TEST_REDIS_URL``, under a prefix of this module's own; only
its keys are deleted). Reads are sent many times, each on a new connection, so
that every worker answers some and caches them; the metrics prove hits happened
before the write, and every read after it shows the change.
"""

import re

import pytest

from tests.conftest import bearer
from tests.e2e.live import seeded_server, shared_instances
from tests.redis_keys import TEST_REDIS_URL, delete_keys, new_prefix

ADMIN = {"email": "admin@example.com", "password": "admin-demo-password"}
CUSTOMER = {"email": "customer@example.com", "password": "customer-demo-password"}
METRICS_TOKEN = "response-cache-scrape"
READS = 12

pytestmark = pytest.mark.slow


def login(server, who: dict) -> dict:
    response = server.request("POST", "/api/v1/auth/login", json_body=who)
    assert response.status_code == 200
    return bearer(response.json["access_token"])


def hits(server) -> float:
    """The instance's response-cache hits, summed over its workers."""
    scraped = server.request("GET", "/metrics", headers=bearer(METRICS_TOKEN)).body.decode()
    match = re.search(r'^response_cache_requests_total\{outcome="hit"\} (\S+)$', scraped, re.M)
    return float(match.group(1)) if match else 0.0


def stocks(servers, path: str) -> set[int]:
    """The stock every one of READS reads (spread over ``servers``) shows."""
    return {servers[n % len(servers)].request("GET", path).json["stock"] for n in range(READS * 2)}


def totals(servers, path: str) -> set[int]:
    return {servers[n % len(servers)].request("GET", path).json["total"] for n in range(READS)}


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory):
    scratch = tmp_path_factory.mktemp("response-cache")
    metrics = scratch / "metrics"
    metrics.mkdir()
    with seeded_server(
        scratch, workers=2, METRICS_TOKEN=METRICS_TOKEN, PROMETHEUS_MULTIPROC_DIR=str(metrics)
    ) as live:
        yield live


def test_two_workers_show_a_product_edit_and_an_order_at_once(two_workers):
    server = two_workers
    product = server.request("GET", "/api/v1/products?per_page=1").json["items"][0]
    path = f"/api/v1/products/{product['id']}"
    assert stocks([server], path) == {product["stock"]}
    assert hits(server) > 0

    patched = server.request("PATCH", path, json_body={"stock": 50}, headers=login(server, ADMIN))
    assert patched.status_code == 200
    assert stocks([server], path) == {50}

    order = {"items": [{"product_id": product["id"], "quantity": 3}]}
    placed = server.request(
        "POST", "/api/v1/orders", json_body=order, headers=login(server, CUSTOMER)
    )
    assert placed.status_code == 201
    assert stocks([server], path) == {47}


def test_two_workers_show_a_deletion_in_pages_at_once(two_workers):
    server = two_workers
    listing = "/api/v1/products?per_page=2"
    before = totals([server], listing)
    assert len(before) == 1
    victim = server.request("GET", listing).json["items"][0]["id"]

    deleted = server.request("DELETE", f"/api/v1/products/{victim}", headers=login(server, ADMIN))

    assert deleted.status_code == 204
    assert totals([server], listing) == {before.pop() - 1}
    assert {
        server.request("GET", f"/api/v1/products/{victim}").status_code for _ in range(READS)
    } == {404}


@pytest.fixture(scope="module")
def two_instances(tmp_path_factory, redis_client):
    """Instances A and B, two workers each: one database, one Redis, one key prefix."""
    prefix = new_prefix("response-cache")
    scratch = tmp_path_factory.mktemp("response-cache-scale-out")
    try:
        with shared_instances(
            scratch,
            REDIS_URL=TEST_REDIS_URL,
            REDIS_KEY_PREFIX=prefix,
            METRICS_TOKEN=METRICS_TOKEN,
            JOB_FOLDER=str(scratch / "jobs"),
        ) as servers:
            yield servers
    finally:
        delete_keys(redis_client, prefix)


def test_two_instances_sharing_redis_show_each_others_writes_at_once(two_instances):
    a, b = two_instances
    product = a.request("GET", "/api/v1/products?per_page=1").json["items"][0]
    path = f"/api/v1/products/{product['id']}"
    assert stocks([a, b], path) == {product["stock"]}
    assert hits(a) > 0
    assert hits(b) > 0

    patched = b.request("PATCH", path, json_body={"stock": 70}, headers=login(b, ADMIN))
    assert patched.status_code == 200
    assert stocks([a, b], path) == {70}

    order = {"items": [{"product_id": product["id"], "quantity": 5}]}
    assert (
        a.request("POST", "/api/v1/orders", json_body=order, headers=login(a, CUSTOMER))
    ).status_code == 201
    assert stocks([b, a], path) == {65}
