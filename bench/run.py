"""The benchmark: what the API's features cost, and whether it grows with the data.

``make bench`` runs this. It seeds a database (``bench/seed.py``), starts the
app under gunicorn exactly as production does beside a bare-Flask baseline
(``bench/server.py``), and drives both with wrk on loopback. Every figure is a
ratio to the baseline measured in the same run, interleaved (baseline, scenario,
baseline, scenario, ..., baseline), and each scenario is divided by the mean of
the two baseline runs around it, so drift in the machine's speed hits both
sides. Two passes over every scenario also show whether the workers' memory
grows. The scenarios marked ``peers`` (the point read and the page of 50) are
also measured on two FastAPI apps (``bench/peers/``: sync and async endpoints),
on the same database file with as many workers, each peer run between two
baseline runs like the app's; the report puts the three side by side and holds
the app against the faster peer. Then the point read and the list figures are
repeated on smaller seeds for the scaling curve (the app only). Results go to
``bench/results/<timestamp>.json``, and ``bench/report.py`` turns them into
``docs/benchmarks.md`` and ``.png``.

Settings (environment variable, or the option of the same name):

==================  ===============================================  =============
BENCH_PRODUCTS      products in the main seed                        1000000
BENCH_ORDERS        orders in the main seed (1 to 3 items each)      100000
BENCH_DATABASE_URL  PostgreSQL to use instead of SQLite (emptied!)   SQLite file
BENCH_DURATION      seconds each measured wrk run lasts              5
BENCH_WARMUP        seconds of warm-up before each measured run      1
BENCH_CONNECTIONS   wrk connections                                  32
BENCH_SCALING       seed sizes of the scaling curve (comma list)     10000,100000
BENCH_ONLY          measure only these scenarios (comma list)        all
BENCH_PEERS         passes that also measure the FastAPI peers       1
                    (0 or off: none; on: 1)
==================  ===============================================  =============

``make bench`` has 10 minutes. Each wrk run takes about 7 s with its warm-up
and the wait for idle workers, and each peer run needs a baseline run of its
own, so the peers add 8 runs, about a minute, per pass they are measured in.
They are measured in the last pass only (``BENCH_PEERS=1``), which keeps the
budget at the price of one figure per peer instead of a spread of two;
``BENCH_PEERS=2`` measures them in both passes. (Every scenario with the
default durations and ``BENCH_PEERS=1``, on a 100,000-product seed, took 546 s
on 2 cores shared with other work.)

Scenarios are data (``SCENARIOS``): one line adds one. A scenario whose fixture
the app cannot provide, or whose endpoint answers 4xx, is reported as not
available rather than failing the run, so a scenario can be listed before the
feature it measures exists (the keyset cursor is).
"""

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import string
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, text

from api.config import normalize_database_url
from bench import report
from bench.seed import WORK, Fixtures, Size, default_url, fixtures, working_copy
from bench.server import (
    BENCH,
    PEERS,
    ROOT,
    WORKERS,
    Gunicorn,
    app_server,
    baseline_server,
    http,
    peer_server,
    production_env,
)

RESULTS = BENCH / "results"
WRK_THREADS = 2
# Generous: a deep offset page on a million rows takes seconds when 32 wait for it,
# and a request wrk gives up on would vanish from the latency figures.
WRK_TIMEOUT_S = 10
# When wrk stops, the requests in flight on its connections are still served:
# on an endpoint that takes 2.5 s, 32 of them keep both workers busy for 40 s,
# which the next measurement would share. Slow endpoints are therefore measured
# with as many connections as the workers can finish in about this long; their
# req/s does not change, as long as every worker stays busy.
DRAIN_BUDGET_S = 5.0


@dataclass(frozen=True)
class Scenario:
    """One request to measure, and the targets it is held to.

    ``path`` may name fixtures in braces (``{point_id}``, see ``FIXTURES``).
    ``target`` is the least req/s ratio to the baseline; with ``relative_to``
    it is instead the least ratio to that scenario's figure. ``flat`` is the
    least share of its smallest-seed figure the largest seed may show.
    """

    name: str
    label: str
    path: str
    target: float | None = None
    relative_to: str | None = None
    p99_ms: float | None = None
    method: str = "GET"
    auth: str | None = None  # "admin" or "customer": send that user's access token
    script: str = "summary.lua"  # wrk script, in bench/
    scaling: bool = False  # also measured on the scaling seeds
    flat: float | None = None
    # Also measured on the FastAPI peers (bench/peers/), same path; ``peer_target``
    # is the least the app's ratio may be of the faster peer's (1.0: as fast).
    peers: bool = False
    peer_target: float | None = None

    def target_text(self) -> str:
        """The target as the tables show it."""
        parts = []
        if self.target is not None:
            parts.append(
                f"≥ {self.target:.2f}× {self.relative_to}"
                if self.relative_to
                else f"≥ {self.target:.2f}"
            )
        if self.p99_ms is not None:
            parts.append(f"p99 ≤ {self.p99_ms:g} ms")
        if self.method != "GET":
            parts.append("0 failed, stock holds")
        return ", ".join(parts) or "—"

    def peer_target_text(self) -> str:
        """The target against the faster peer, as the peer table shows it."""
        return "—" if self.peer_target is None else f"≥ {self.peer_target:.2f}× faster peer"


SCENARIOS = (
    Scenario(
        "product", "GET /products/{id}", "/api/v1/products/{point_id}",
        target=0.55, p99_ms=25, scaling=True, flat=0.8, peers=True, peer_target=1.6,
    ),
    Scenario(
        "product_jwt", "GET /products/{id} with a JWT", "/api/v1/products/{point_id}",
        target=0.45, p99_ms=25, auth="admin",
    ),
    Scenario(
        "list", "GET /products?per_page=50", "/api/v1/products?per_page=50",
        target=0.35, scaling=True, flat=0.2,  # flat 0.2: `total` may not cost 5x at 1M rows
        peers=True, peer_target=2.0,
    ),
    Scenario(
        "list_filtered", "GET /products?min_price=50000&sort=price_cents",
        "/api/v1/products?per_page=50&min_price=50000&sort=price_cents",
        target=0.35, scaling=True, flat=0.8,
    ),
    Scenario(
        "list_deep_offset", "GET /products?page=<at 99 %> (offset)",
        "/api/v1/products?per_page=50&page={deep_page}", scaling=True,
    ),
    Scenario(
        "list_deep_cursor", "GET /products?after=<cursor at 99 %>",
        "/api/v1/products?per_page=50&after={deep_cursor}",
        target=1 / 1.2, relative_to="list", scaling=True, flat=0.8,
    ),
    Scenario("swagger", "GET /api/v1/swagger.json", "/api/v1/swagger.json", target=0.8),
    Scenario(
        "order", "POST /orders, 2 items", "/api/v1/orders",
        target=0.15, method="POST", auth="customer", script="post_order.lua",
    ),
)  # fmt: skip


# --- fixtures: the values scenario paths name ---------------------------------------


def _deep_cursor(app: Gunicorn, fx: Fixtures) -> str | None:
    """A keyset cursor pointing at 99 % of the catalog, read from the app's own links.

    Cursors are opaque, so the benchmark cannot make one: it asks for the offset
    page just before the deep page and takes ``after=`` from its ``next`` link
    (``_links`` or the ``Link`` header). None while the app offers no cursor.
    If the cursor ends up elsewhere, this function is the one place to change.
    """
    status, headers, body = http(f"{app.url}/api/v1/products?per_page=50&page={fx.deep_page - 1}")
    if status != 200:
        return None
    links = [headers.get("Link", "")]
    links += [str(v) for v in (json.loads(body).get("_links") or {}).values()]
    for link in links:
        found = re.search(r"[?&]after=([^&>\s\"]+)", link)
        if found:
            return found.group(1)
    return None


FIXTURES: dict[str, Callable[[Gunicorn, Fixtures], object]] = {
    "point_id": lambda app, fx: fx.point_id,
    "deep_page": lambda app, fx: fx.deep_page,
    "deep_cursor": _deep_cursor,
}


def resolve(scenario: Scenario, app: Gunicorn, fx: Fixtures) -> tuple[str | None, str | None]:
    """Return (the scenario's path with its fixtures filled in, None) or (None, why not)."""
    values = {}
    for _, name, _, _ in string.Formatter().parse(scenario.path):
        if name and name not in values:
            value = FIXTURES[name](app, fx)
            if value is None:
                return None, f"the app offers no {name}"
            values[name] = value
    return scenario.path.format(**values), None


# --- wrk ----------------------------------------------------------------------------


@dataclass
class Measurement:
    """One wrk run: throughput, latency (ms), errors, and statuses when the script counts them."""

    rps: float
    requests: int
    seconds: float
    connections: int
    latency_ms: dict
    errors: dict
    statuses: dict = field(default_factory=dict)

    @property
    def failed(self) -> int:
        """Requests that got no 2xx/3xx answer: non-2xx statuses, timeouts, socket errors."""
        return sum(self.errors.values())


def wrk(url: str, *, seconds: float, connections: int, script: str, headers=(), env=None):
    """Run wrk against ``url`` and return its ``Measurement`` (see bench/summary.lua)."""
    argv = [
        "wrk", f"--threads={WRK_THREADS}", f"--connections={connections}",
        f"--duration={max(1, round(seconds))}s", f"--timeout={WRK_TIMEOUT_S}s",
        f"--script={script}",
    ]  # fmt: skip
    for header in headers:
        argv += ["--header", header]
    result = subprocess.run(
        [*argv, url],
        cwd=BENCH,  # the scripts dofile() each other by relative path
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        check=True,
    )
    line = next(
        (line for line in result.stdout.splitlines() if line.startswith("BENCH_JSON ")), None
    )
    if line is None:
        raise RuntimeError(f"wrk printed no summary:\n{result.stdout}\n{result.stderr}")
    raw = json.loads(line.removeprefix("BENCH_JSON "))
    seconds = raw["duration_us"] / 1e6
    return Measurement(
        rps=raw["requests"] / seconds,
        requests=raw["requests"],
        seconds=seconds,
        connections=connections,
        latency_ms={k: v / 1000 for k, v in raw["latency_us"].items()},
        errors=raw["errors"],
        statuses={int(k): v for k, v in raw.get("statuses", {}).items()},
    )


# --- POST /orders: the stock invariant ----------------------------------------------


class StockLedger:
    """Checks that a POST /orders run kept sold + remaining = initial for every product.

    Snapshots the pool's stock and the highest order ids before a run. After
    it, the stock each product lost must equal its units in the new order lines,
    and the new orders must match the 201s wrk counted. Not exactly: when wrk
    stops, it abandons the requests in flight (at most one per connection per
    wrk run), and the server still completes them, so up to that many orders
    exist that nobody saw a 201 for.
    """

    def __init__(self, url: str, fx: Fixtures):
        self.engine = create_engine(normalize_database_url(url))
        self.pool = (fx.pool_first, fx.pool_last)

    def snapshot(self) -> dict:
        """The pool's stock and the highest order and order-line ids, now."""
        with self.engine.connect() as db:
            stock = dict(
                db.execute(
                    text("SELECT id, stock FROM products WHERE id BETWEEN :a AND :b"),
                    dict(zip("ab", self.pool, strict=True)),
                ).all()
            )
            return {
                "stock": stock,
                "max_order": db.scalar(text("SELECT coalesce(max(id), 0) FROM orders")),
                "max_item": db.scalar(text("SELECT coalesce(max(id), 0) FROM order_items")),
            }

    def check(self, before: dict, created: int, abandoned_at_most: int) -> dict:
        """Compare the database with ``before``, given the 201s wrk counted."""
        after = self.snapshot()
        with self.engine.connect() as db:
            sold = dict(
                db.execute(
                    text(
                        "SELECT product_id, sum(quantity) FROM order_items "
                        "WHERE id > :item GROUP BY product_id"
                    ),
                    {"item": before["max_item"]},
                ).all()
            )
        new_orders = after["max_order"] - before["max_order"]
        unbalanced = [
            product_id
            for product_id, initial in before["stock"].items()
            if initial - after["stock"][product_id] != sold.get(product_id, 0)
        ]
        return {
            "orders_answered_201": created,
            "orders_in_database": new_orders,
            "abandoned_at_most": abandoned_at_most,
            "units_sold": sum(sold.values()),
            "stock_taken": sum(before["stock"][p] - after["stock"][p] for p in before["stock"]),
            "products_out_of_balance": unbalanced,
            "holds": not unbalanced
            and set(sold) <= set(before["stock"])  # nothing sold outside the pool
            and 0 <= new_orders - created <= abandoned_at_most,
        }

    def close(self) -> None:
        """Release the connections."""
        self.engine.dispose()


# --- the run ------------------------------------------------------------------------


@dataclass
class Settings:
    """What the run measures, and how long each measurement lasts."""

    size: Size
    database_url: str | None
    duration: float
    warmup: float
    connections: int
    scaling: list[int]
    only: set[str] | None
    peer_passes: int = 1  # the last this many passes also measure the peers
    passes: int = 2


def log(message: str) -> None:
    """Progress on the terminal (the servers' own logs go to build/bench/logs/)."""
    print(message, flush=True)


class Session:
    """One app server on one seed, measured against the shared baseline.

    ``peers`` (name -> server, already started on the same database) are
    measured on the scenarios marked ``peers``, each run followed by a
    baseline run like the app's own.
    """

    def __init__(
        self,
        settings: Settings,
        baseline: Gunicorn,
        size: Size,
        url: str,
        peers: dict[str, Gunicorn] | None = None,
    ):
        self.settings = settings
        self.baseline = baseline
        self.size = size
        self.url = url
        self.fx = fixtures(size)
        self.app = app_server(production_env(url), WORK / "logs" / f"app-{size.products}.log")
        self.peers = peers or {}
        self.tokens: dict[str, str] = {}

    def login(self) -> None:
        """Fresh access tokens for the admin and the customer (they expire in minutes)."""
        for role, email in (("admin", self.fx.admin_email), ("customer", self.fx.customer_email)):
            status, _, body = http(
                f"{self.app.url}/api/v1/auth/login",
                method="POST",
                body=json.dumps({"email": email, "password": self.fx.password}).encode(),
                headers={"Content-Type": "application/json"},
            )
            if status != 200:
                raise RuntimeError(f"login as {email} answered {status}: {body[:300]!r}")
            self.tokens[role] = json.loads(body)["access_token"]

    def headers(self, scenario: Scenario) -> list[str]:
        """The scenario's request headers, for wrk."""
        return [f"Authorization: Bearer {self.tokens[scenario.auth]}"] if scenario.auth else []

    def probe(
        self, scenario: Scenario, path: str, server: Gunicorn | None = None
    ) -> tuple[int, float]:
        """One request through the scenario's front door; return (status, seconds).

        The app answers it, or ``server`` (a peer) when given.
        """
        headers = dict(h.split(": ", 1) for h in self.headers(scenario))
        body = None
        if scenario.method == "POST":
            headers["Content-Type"] = "application/json"
            items = [{"product_id": self.fx.pool_first, "quantity": 1}]
            body = json.dumps({"items": items}).encode()
        started = time.perf_counter()
        status, _, _ = http(
            (server or self.app).url + path, method=scenario.method, body=body, headers=headers
        )
        return status, time.perf_counter() - started

    def measure(
        self,
        server: Gunicorn,
        path: str,
        scenario: Scenario | None = None,
        *,
        latency_s: float = 0.0,
    ):
        """Warm up, then measure; wait for the server to go idle after each wrk run.

        Returns (the measurement, the warm-up or None). ``latency_s`` is one
        request's time, from the probe, in case the warm-up finishes none.
        """
        settings = self.settings
        run = {
            "script": scenario.script if scenario else "summary.lua",
            "headers": self.headers(scenario) if scenario else [],
        }
        warmup = None
        if settings.warmup > 0:
            # One connection per worker: enough to warm every cache, and little to drain.
            warmup = wrk(
                server.url + path,
                seconds=settings.warmup,
                connections=WORKERS,
                env=self._script_env(scenario),
                **run,
            )
            server.wait_idle()
            if warmup.requests >= WORKERS:
                latency_s = warmup.latency_ms["mean"] / 1000
        drained = int(DRAIN_BUDGET_S * WORKERS / latency_s) if latency_s > 0 else 10**6
        measured = wrk(
            server.url + path,
            seconds=settings.duration,
            connections=max(WORKERS, min(settings.connections, drained)),
            env=self._script_env(scenario),
            **run,
        )
        server.wait_idle()
        return measured, warmup

    def _script_env(self, scenario: Scenario | None) -> dict | None:
        """What post_order.lua reads; a new key prefix for every wrk run, since each
        run counts its Idempotency-Keys from 1 and a reused key would be a replay."""
        if scenario is None or scenario.method != "POST":
            return None
        return {
            "BENCH_TOKEN": self.tokens[scenario.auth],
            "BENCH_POOL_FIRST": str(self.fx.pool_first),
            "BENCH_POOL_LAST": str(self.fx.pool_last),
            "BENCH_NONCE": uuid.uuid4().hex[:12],
        }

    def run(self, scenarios: list[Scenario], *, passes: int) -> dict:
        """Measure ``scenarios`` ``passes`` times, interleaved with the baseline."""
        self.app.start()
        try:
            return self._run(scenarios, passes)
        finally:
            self.app.stop()

    def _run(self, scenarios: list[Scenario], passes: int) -> dict:
        self.login()
        results, ready = {}, []
        for scenario in scenarios:
            path, why = resolve(scenario, self.app, self.fx)
            # A 4xx means the app does not offer this yet (an unknown parameter is
            # a 400). A 5xx is measured like any answer, and shows up as failures.
            status, seconds = (None, 0.0) if path is None else self.probe(scenario, path)
            if status is not None and 400 <= status < 500:
                why = f"{scenario.method} {path} answers {status}"
            results[scenario.name] = {
                "path": path,
                "available": why is None,
                "why": why,
                "probe_s": seconds,
                "runs": [],
            }
            if why is None:
                ready.append((scenario, path, seconds))
                if scenario.peers and self.peers:
                    results[scenario.name]["peers"] = self._probe_peers(scenario, path)
            else:
                log(f"  {scenario.name:<18} not available: {why}")
        memory = []
        for number in range(1, passes + 1):
            self.login()
            before_baseline = self._baseline()
            for scenario, path, probe_s in ready:
                # The app first, then each peer the scenario has, each run
                # followed by a baseline run; the peers' order flips every pass.
                runs = [(results[scenario.name], scenario.name, self.app, probe_s)]
                peers = results[scenario.name].get("peers", {})
                names = [name for name, entry in peers.items() if entry["available"]]
                if number <= passes - self.settings.peer_passes:
                    names = []
                for name in names if number % 2 else names[::-1]:
                    label = f"{scenario.name}@{name}"
                    runs.append((peers[name], label, self.peers[name], peers[name]["probe_s"]))
                for entry, label, server, latency_s in runs:
                    run = self._scenario(scenario, path, number, latency_s, server)
                    after_baseline = self._baseline()
                    run["baseline_rps"] = (before_baseline.rps + after_baseline.rps) / 2
                    run["ratio"] = run["rps"] / run["baseline_rps"]
                    entry["runs"].append(run)
                    log(
                        f"  pass {number} {label:<26} {run['rps']:>8.1f} req/s  "
                        f"baseline {run['baseline_rps']:>7.1f}  ratio {run['ratio']:.3f}  "
                        f"p99 {run['latency_ms']['p99']:.1f} ms  failed {run['failed']}  "
                        f"connections {run['connections']}"
                    )
                    before_baseline = after_baseline
            memory.append(
                {
                    "app": self.app.worker_rss_mib(),
                    "baseline": self.baseline.worker_rss_mib(),
                    "peers": {name: peer.worker_rss_mib() for name, peer in self.peers.items()},
                }
            )
        return {"scenarios": results, "memory": memory}

    def _probe_peers(self, scenario: Scenario, path: str) -> dict:
        """Each peer's answer to ``path``: a peer that does not answer 200 is not measured."""
        entries = {}
        for name, peer in self.peers.items():
            status, seconds = self.probe(scenario, path, peer)
            why = None if status == 200 else f"{scenario.method} {path} answers {status}"
            if why:
                log(f"  {scenario.name}@{name} not available: {why}")
            entries[name] = {"available": why is None, "why": why, "probe_s": seconds, "runs": []}
        return entries

    def _baseline(self) -> Measurement:
        measured, _ = self.measure(self.baseline, "/")
        return measured

    def _scenario(
        self,
        scenario: Scenario,
        path: str,
        number: int,
        probe_s: float,
        server: Gunicorn | None = None,
    ) -> dict:
        ledger = StockLedger(self.url, self.fx) if scenario.method == "POST" else None
        before = ledger.snapshot() if ledger else None
        measured, warmup = self.measure(server or self.app, path, scenario, latency_s=probe_s)
        run = {"pass": number, **asdict(measured), "failed": measured.failed}
        if ledger is not None:
            created = sum(m.statuses.get(201, 0) for m in (measured, warmup) if m is not None)
            # wrk abandons a request in flight on each connection when it stops.
            abandoned = measured.connections + (WORKERS if warmup else 0)
            run["stock_invariant"] = ledger.check(before, created, abandoned)
            ledger.close()
        return run


def measure_startup(url: str, times: int = 5) -> dict:
    """Seconds to import the app and run ``create_app()`` in a fresh process, ``times`` times."""
    code = (
        "import time; t = time.perf_counter(); from api import create_app; create_app(); "
        "print(time.perf_counter() - t)"
    )
    samples = [
        float(
            subprocess.run(
                [sys.executable, "-c", code],
                cwd=ROOT,
                env=production_env(url),
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
        for _ in range(times)
    ]
    return {"samples_s": samples, "median_s": statistics.median(samples), "target_s": 1.5}


def machine() -> dict:
    """What the numbers were measured on."""
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
    return {
        "cpus": len(os.sched_getaffinity(0)),
        "cpu": cpu,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "wrk": (wrk_version.stdout or wrk_version.stderr).split("Copyright")[0].strip(),
        # Other work on the machine skews every figure; the report says so when it was busy.
        "load_average_at_start": os.getloadavg()[0],
    }


def git_commit() -> str:
    """The commit measured, with ``+dirty`` when the work tree has changes."""
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout.strip()
    return f"{head}+dirty" if dirty else head


def _scaling_url(settings: Settings, size: Size) -> str:
    # PostgreSQL: the one database is re-seeded at each size (the main seed
    # is rebuilt on the next run); SQLite: one file per size, kept.
    return settings.database_url or default_url(size)


def run(settings: Settings) -> dict:
    """The whole benchmark; returns the results document."""
    started = time.monotonic()
    scenarios = [s for s in SCENARIOS if settings.only is None or s.name in settings.only]
    with_peers = settings.peer_passes > 0 and any(s.peers for s in scenarios)
    peer_names = list(PEERS) if with_peers else []
    url = settings.database_url or default_url(settings.size)
    results = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": git_commit(),
        "machine": machine(),
        "settings": {
            **asdict(settings.size),
            "database": "postgresql" if url.startswith("postgres") else "sqlite",
            "duration_s": settings.duration,
            "warmup_s": settings.warmup,
            "connections": settings.connections,
            "wrk_threads": WRK_THREADS,
            "workers": WORKERS,
            "passes": settings.passes,
            "peers": {name: PEERS[name] for name in peer_names},
            "peer_passes": min(settings.peer_passes, settings.passes) if peer_names else 0,
        },
        "scenarios": [
            asdict(s) | {"target_text": s.target_text(), "peer_target_text": s.peer_target_text()}
            for s in scenarios
        ],
    }
    log(f"seed: {settings.size.products:,} products, {settings.size.orders:,} orders")
    seed_started = time.monotonic()
    run_url, reused = working_copy(url, settings.size, log=lambda m: log("  " + m))
    results["seed"] = {"reused": reused, "seconds": round(time.monotonic() - seed_started, 1)}

    log("startup: create_app() x 5")
    results["startup"] = measure_startup(run_url)
    log(f"  median {results['startup']['median_s']:.3f} s")

    baseline = baseline_server(WORK / "logs" / "baseline.log").start()
    peers = {}
    try:
        for name in peer_names:  # on the main seed only: they have no scaling curve
            log(f"peer: {PEERS[name]} (bench/peers/{name}.py)")
            peers[name] = peer_server(name, run_url, WORK / "logs" / f"{name}.log").start()
        log(f"main: {len(scenarios)} scenarios x {settings.passes} passes, interleaved")
        try:
            main = Session(settings, baseline, settings.size, run_url, peers).run(
                scenarios, passes=settings.passes
            )
        finally:
            for peer in peers.values():
                peer.stop()
        results["main"] = main
        results["scaling"] = {
            settings.size.products: {
                name: entry for name, entry in main["scenarios"].items() if entry["available"]
            }
        }
        scaling = [s for s in scenarios if s.scaling]
        for products in settings.scaling:
            if products == settings.size.products or not scaling:
                continue
            size = Size(products, max(1, products // 10), min(settings.size.users, products))
            log(f"scaling: {products:,} products")
            size_url, _ = working_copy(
                _scaling_url(settings, size), size, log=lambda m: log("  " + m)
            )
            session = Session(settings, baseline, size, size_url).run(scaling, passes=1)
            results["scaling"][products] = session["scenarios"]
    finally:
        baseline.stop()
    results["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    results["machine"]["load_average_at_end"] = os.getloadavg()[0]
    results["elapsed_s"] = round(time.monotonic() - started, 1)
    return results


def _shown(path: Path) -> str:
    """``path`` relative to the project when it is inside it."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def _sizes(text_value: str) -> list[int]:
    return [int(part) for part in text_value.replace("_", "").split(",") if part.strip()]


def _peer_passes(text_value: str) -> int:
    """BENCH_PEERS: a number of passes, or a switch (on: the last pass only)."""
    word = text_value.strip().lower()
    switch = {"on": 1, "true": 1, "yes": 1, "off": 0, "false": 0, "no": 0}
    if word in switch:
        return switch[word]
    if not word.isdigit():
        raise argparse.ArgumentTypeError(
            f"BENCH_PEERS must be a number or on/off, not {text_value!r}"
        )
    return int(word)


def main() -> None:
    """Run the benchmark and write the results, the Markdown and the chart."""
    env = os.environ.get
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--products", type=int, default=int(env("BENCH_PRODUCTS") or 1_000_000))
    parser.add_argument("--orders", type=int, default=int(env("BENCH_ORDERS") or 100_000))
    parser.add_argument("--database-url", default=env("BENCH_DATABASE_URL") or None)
    parser.add_argument("--duration", type=float, default=float(env("BENCH_DURATION") or 5))
    parser.add_argument("--warmup", type=float, default=float(env("BENCH_WARMUP") or 1))
    parser.add_argument("--connections", type=int, default=int(env("BENCH_CONNECTIONS") or 32))
    parser.add_argument("--scaling", default=env("BENCH_SCALING", "10000,100000"))
    parser.add_argument("--only", default=env("BENCH_ONLY") or None)
    parser.add_argument(
        "--peers",
        type=_peer_passes,
        default=_peer_passes(env("BENCH_PEERS") or "1"),
        help="passes that also measure the FastAPI peers (0 or off: none; on: 1)",
    )
    parser.add_argument("--docs", default=str(ROOT / "docs"), help="where benchmarks.md goes")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: `make bench` installs it (apt-get install wrk)")
    settings = Settings(
        size=Size(args.products, args.orders),
        database_url=args.database_url,
        duration=args.duration,
        warmup=args.warmup,
        connections=args.connections,
        scaling=_sizes(args.scaling),
        only=set(args.only.split(",")) if args.only else None,
        peer_passes=args.peers,
    )
    # Through JSON first, so the report reads exactly what the file holds.
    results = json.loads(json.dumps(run(settings)))
    results["summary"] = report.summarize(results)
    results["memory_summary"] = report.memory(results)
    results["scaling_summary"] = report.scaling(results)
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS / f"{stamp}.json"
    path.write_text(json.dumps(results, indent=2) + "\n")
    markdown, chart = report.write(results, Path(args.docs), f"bench/results/{path.name}")
    log(f"results: {_shown(path)}")
    log(f"report:  {_shown(markdown)}, {_shown(chart)}")
    log(f"elapsed: {results['elapsed_s']:.0f} s")


if __name__ == "__main__":
    main()
