"""/metrics under a live 2-worker gunicorn: every worker's requests add up in every scrape.

gunicorn loads ``gunicorn.conf.py`` from the project root, which puts the
workers' metrics in ``PROMETHEUS_MULTIPROC_DIR``; the test points that at its
own directory, so it can also read each worker's own count there.
"""

import os
import signal
import socket
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from tests.databases import fresh_database
from tests.e2e.live import LiveServer, server_env

TOKEN = "live-metrics-token"
HEALTH_OK = {"method": "GET", "endpoint": "/health", "status": "200"}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def metrics_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("metrics")


@pytest.fixture(scope="module")
def server(tmp_path_factory, metrics_dir):
    with fresh_database(tmp_path_factory.mktemp("metrics-db")) as url:
        env = server_env(url, METRICS_TOKEN=TOKEN, PROMETHEUS_MULTIPROC_DIR=str(metrics_dir))
        live = LiveServer(env, workers=2)
        live.flask("db", "upgrade")
        live.start()
        yield live
        live.stop()


def scraped_health_count(server) -> float:
    """GET /health 200s in a scrape, answered by whichever worker takes it.

    ``/metrics`` is not an operation of the API, so it is fetched outside the
    contract-checked client.
    """
    request = urllib.request.Request(
        f"{server.url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        text = response.read().decode()
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "http_requests_total" and sample.labels == HEALTH_OK
    )


def per_worker_health_counts(metrics_dir: Path) -> dict[int, float]:
    """Each worker's own GET /health 200 count, read from its file."""
    counts = {}
    for path in metrics_dir.glob("counter_*.db"):
        pid = int(path.stem.removeprefix("counter_"))
        counts[pid] = sum(
            sample.value
            for metric in MultiProcessCollector.merge([str(path)])
            for sample in metric.samples
            if sample.name == "http_requests_total" and sample.labels == HEALTH_OK
        )
    return {pid: count for pid, count in counts.items() if count}


def send_health_requests(server, count: int) -> None:
    """``count`` requests, 8 at a time, so both sync workers take some."""
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(
            pool.map(lambda _: server.request("GET", "/health").status_code, range(count))
        )
    assert statuses == [200] * count


def test_requests_to_both_workers_add_up_in_every_scrape(server, metrics_dir):
    before = scraped_health_count(server)  # gunicorn's start-up checks hit /health too
    # A fast worker can take every request of a burst, so rather than hoping
    # both answer some, one is kept waiting for the end of a request while the
    # other answers the burst; then that request is finished.
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as held:
        held.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        time.sleep(0.5)  # until a worker has accepted it and waits for the rest
        send_health_requests(server, 20)
        held.sendall(b"Connection: close\r\n\r\n")
        answer = b"".join(iter(lambda: held.recv(65536), b""))
    assert answer.startswith(b"HTTP/1.1 200"), answer[:100]
    sent = 21

    per_worker = per_worker_health_counts(metrics_dir)

    assert len(per_worker) == 2, per_worker
    assert sum(per_worker.values()) == before + sent
    # Each worker alone saw fewer; every scrape, whichever worker answers, sees all.
    assert all(count < before + sent for count in per_worker.values())
    assert [scraped_health_count(server) for _ in range(8)] == [before + sent] * 8


def test_a_replaced_worker_keeps_its_counts_in_the_totals(server, metrics_dir):
    send_health_requests(server, 20)
    total = scraped_health_count(server)
    victim = next(iter(per_worker_health_counts(metrics_dir)))

    os.kill(victim, signal.SIGTERM)  # gunicorn's master starts a new worker
    deadline = time.monotonic() + 30
    while victim in _live_workers(server) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert server.request("GET", "/ready").status_code == 200

    assert [scraped_health_count(server) for _ in range(4)] == [total] * 4


def _live_workers(server) -> set[int]:
    """The pids of the gunicorn master's children."""
    children = Path(f"/proc/{server.process.pid}/task/{server.process.pid}/children")
    return {int(pid) for pid in children.read_text().split()}
