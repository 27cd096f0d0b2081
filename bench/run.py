"""The benchmark: what the API's features cost, against a bare route and FastAPI peers.

``make bench`` runs the targets of issue #14 (``BENCH_SET=targets``);
``make bench-scaling`` the other scenarios and the scaling curve
(``BENCH_SET=scaling``); ``make bench-workers`` compares gunicorn's worker
classes (``bench/workers.py``). Each seeds a database (``bench/seed.py``),
starts the app under gunicorn exactly as production does beside a bare-Flask
baseline (``bench/server.py``), and drives them with wrk on loopback.

The app runs twice, side by side: once with its response cache on
(``RESPONSE_CACHE=1``, the default) and once with it off (``RESPONSE_CACHE=0``),
so the figures without the cache stand beside the cached ones. The scenarios
marked ``peers`` are also measured on two FastAPI apps (``bench/peers/``: sync
and async endpoints) on the same database file with as many workers.

A run is several rounds. In each round every scenario is measured on every
server in turn (the order flips from round to round), between two runs of the
baseline; each figure is divided by the mean of those two baseline runs, so
drift in the machine's speed hits both sides. The report gives each figure's
median over the rounds, with the lowest and highest round beside it: the noise.
The ratio to the faster peer is taken within each round, then its median.

The point read draws its ids at random (fixed seed) from 10,000 live products
(``bench/random_path.lua``), so a cache is measured over many keys; the page of
50 draws its page from the first 20 (what a shopper browses; deep offsets are
the scaling set's business). ``POST /orders`` ends with the stock check: the
stock the pool lost must equal two units per 201 wrk counted, exactly
(``bench/post_order.lua`` lets every order in flight finish before wrk stops);
a run where it does not is reported as such and exits with status 1.

Settings (environment variable, or the option of the same name):

==================  ===============================================  =============
BENCH_SET           ``targets`` or ``scaling`` (which scenarios)     targets
BENCH_PRODUCTS      products in the main seed                        1000000
BENCH_ORDERS        orders in the main seed (1 to 3 items each)      100000
BENCH_DATABASE_URL  PostgreSQL to use instead of SQLite (emptied!)   SQLite file
BENCH_REDIS_URL     Redis for the app (keys under a fresh prefix)    none
BENCH_DURATION      seconds each measured wrk run lasts              5
BENCH_WARMUP        seconds of warm-up before each measured run      1
BENCH_CONNECTIONS   wrk connections                                  32
BENCH_ROUNDS        rounds (medians need three)                      3 / 2
BENCH_CACHE         app variants: on, off or on,off                  on,off / off
BENCH_PEERS         measure the FastAPI peers (on/off)               on / off
BENCH_SCALING       seed sizes of the scaling curve (comma list)     — / 10000,100000
BENCH_ONLY          measure only these scenarios (comma list)        the set's
BENCH_WORKER_CLASS  the app's gunicorn worker class, and threads     gunicorn.conf.py
BENCH_THREADS       (GUNICORN_WORKER_CLASS, GUNICORN_THREADS)        gunicorn.conf.py
==================  ===============================================  =============

(Where two defaults are given, the first is the targets set's, the second the
scaling set's.) ``make bench`` has 10 minutes: a round of the targets set is 12
scenario runs and 5 baseline runs of about 7.5 s each, so three rounds take
about 6.5 minutes, plus the seed and the start-up measurement (a whole run took
6 min 52 s on 2 busy cores, making the million-product seed in 17 s of it).

Scenarios are data (``SCENARIOS``): one line adds one. A scenario whose fixture
the app cannot provide, or whose endpoint answers 4xx, is reported as not
available rather than failing the run, so a scenario can be listed before the
feature it measures exists (the keyset cursor was).
"""

import argparse
import json
import math
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
# post_order.lua buys one unit of each of two products per order.
UNITS_PER_ORDER = 2
# The app's variants: the response cache on and off (RESPONSE_CACHE).
VARIANTS = {"cache_on": ("1", "API, cache on"), "cache_off": ("0", "API, cache off")}


@dataclass(frozen=True)
class Scenario:
    """One request to measure, and the targets it is held to.

    ``path`` may name fixtures in braces (``{point_id}``, see ``FIXTURES``); with
    ``pick`` (see ``PICKS``) each request's path is drawn at random instead and
    ``path`` is only what the probe asks for. ``target`` is the least req/s
    ratio to the baseline; with ``relative_to`` it is instead the least ratio to
    that scenario's figure. ``flat`` is the least share of its smallest-seed
    figure the largest seed may show. ``sets`` names the runs that measure it.
    """

    name: str
    label: str
    path: str
    sets: tuple[str, ...]
    target: float | None = None
    relative_to: str | None = None
    p99_ms: float | None = None
    method: str = "GET"
    auth: str | None = None  # "admin" or "customer": send that user's access token
    script: str = "summary.lua"  # wrk script, in bench/
    pick: str | None = None  # random paths (random_path.lua), from PICKS
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
                else f"≥ {self.target:.2f} of bare"
            )
        if self.peer_target is not None:
            parts.append(f"≥ {self.peer_target:g}× faster peer")
        if self.p99_ms is not None:
            parts.append(f"p99 ≤ {self.p99_ms:g} ms")
        if self.method != "GET":
            parts.append("0 failed, stock exact")
        return ", ".join(parts) or "—"


TARGETS, SCALING = ("targets",), ("scaling",)
BOTH = TARGETS + SCALING
SCENARIOS = (
    Scenario(
        "product", "GET /products/{id}, 10,000 hot ids at random", "/api/v1/products/{point_id}",
        BOTH, target=0.55, p99_ms=25, pick="hot_products", scaling=True, flat=0.8,
        peers=True, peer_target=1.6,
    ),
    Scenario(
        "product_jwt", "GET /products/{id} with a JWT", "/api/v1/products/{point_id}",
        SCALING, target=0.45, p99_ms=25, auth="admin", pick="hot_products",
    ),
    Scenario(
        "list", "GET /products?per_page=50&page=<1–20 at random>", "/api/v1/products?per_page=50",
        BOTH, target=0.35, pick="first_pages", scaling=True,
        flat=0.2,  # `total` may not cost 5x at 1M rows
        peers=True, peer_target=2.0,
    ),
    Scenario(
        "list_filtered", "GET /products?min_price=50000&sort=price_cents",
        "/api/v1/products?per_page=50&min_price=50000&sort=price_cents",
        SCALING, target=0.35, scaling=True, flat=0.8,
    ),
    Scenario(
        "list_deep_offset", "GET /products?page=<at 99 %> (offset)",
        "/api/v1/products?per_page=50&page={deep_page}", SCALING, scaling=True,
    ),
    Scenario(
        "list_deep_cursor", "GET /products?after=<cursor at 99 %>",
        "/api/v1/products?per_page=50&after={deep_cursor}", SCALING,
        target=1 / 1.2, relative_to="list", scaling=True, flat=0.8,
    ),
    Scenario(
        "swagger", "GET /api/v1/swagger.json", "/api/v1/swagger.json", TARGETS, target=0.8,
    ),
    Scenario(
        "order", "POST /orders, 2 items", "/api/v1/orders", TARGETS,
        target=0.10, method="POST", auth="customer", script="post_order.lua",
    ),
)  # fmt: skip


@dataclass(frozen=True)
class BenchSet:
    """What one make target measures by default, and the page it writes."""

    doc: str
    rounds: int
    cache: str
    peers: bool
    scaling: str


SETS = {
    "targets": BenchSet("benchmarks.md", rounds=3, cache="on,off", peers=True, scaling=""),
    # The data path at each size: the cache would hide it, so it is off.
    "scaling": BenchSet(
        "benchmarks-scaling.md", rounds=2, cache="off", peers=False, scaling="10000,100000"
    ),
}


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

# What random_path.lua draws from: a pattern, a range, and the ids it steps over.
PICKS: dict[str, Callable[[Fixtures], dict]] = {
    "hot_products": lambda fx: {
        "BENCH_PATTERN": "/api/v1/products/%d",
        "BENCH_FIRST": fx.hot_first,
        "BENCH_COUNT": fx.hot_count,
        "BENCH_GAP": 99,  # ids ending in 99 are soft-deleted (seed.is_deleted)
    },
    "first_pages": lambda fx: {
        "BENCH_PATTERN": "/api/v1/products?per_page=50&page=%d",
        "BENCH_FIRST": 1,
        "BENCH_COUNT": max(1, min(20, fx.deep_page)),
        "BENCH_GAP": 0,
    },
}
RANDOM_SEED = 14  # the same draws in every run, so a cache sees the same spread
WARMUP_SEED = 1014


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
    """One wrk run: throughput, latency (ms), errors, and statuses when the script counts them.

    ``orders`` is post_order.lua's count of orders sent and answered and the
    seconds from the first request to the last answer; the rate is then the
    answers over those seconds, not over wrk's duration with its idle tail.
    """

    rps: float
    requests: int
    seconds: float
    connections: int
    latency_ms: dict
    errors: dict
    statuses: dict = field(default_factory=dict)
    orders: dict | None = None

    @property
    def failed(self) -> int:
        """Requests that got no 2xx/3xx answer: non-2xx statuses, timeouts, socket errors.

        During post_order.lua's idle tail a server with keep-alive (gthread,
        gevent) closes the idle connections, which wrk counts as read errors;
        when every order sent was answered, those are not failed requests.
        """
        errors = dict(self.errors)
        if self.orders and self.orders["sent"] == self.orders["answered"]:
            errors.pop("read", None)
        return sum(errors.values())


def wrk(url: str, *, seconds: float, connections: int, script: str, headers=(), env=None):
    """Run wrk against ``url`` and return its ``Measurement`` (see bench/summary.lua)."""
    argv = [
        "wrk", f"--threads={WRK_THREADS}", f"--connections={connections}",
        f"--duration={max(1, math.ceil(seconds))}s", f"--timeout={WRK_TIMEOUT_S}s",
        f"--script={script}",
    ]  # fmt: skip
    for header in headers:
        argv += ["--header", header]
    result = subprocess.run(
        [*argv, url],
        cwd=BENCH,  # the scripts dofile() each other by relative path
        env={**os.environ, **{k: str(v) for k, v in (env or {}).items()}},
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
    orders = raw.get("orders")
    rps = raw["requests"] / seconds
    if orders and orders["seconds"] > 0:
        rps = orders["answered"] / orders["seconds"]
    return Measurement(
        rps=rps,
        requests=raw["requests"],
        seconds=seconds,
        connections=connections,
        latency_ms={k: v / 1000 for k, v in raw["latency_us"].items()},
        errors=raw["errors"],
        statuses={int(k): v for k, v in raw.get("statuses", {}).items()},
        orders=orders,
    )


# --- POST /orders: the stock check --------------------------------------------------


class StockLedger:
    """Checks that a POST /orders run took exactly two units of stock per 201 wrk counted.

    Snapshots the pool's stock and the highest order ids after the warm-up.
    After the measured run (in which every order sent was answered: see
    post_order.lua), the stock the pool lost must equal ``UNITS_PER_ORDER`` per
    201, the new order lines must hold exactly those units, and the new orders
    must be exactly the 201s.
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

    def check(self, before: dict, measured: Measurement) -> dict:
        """Compare the database with ``before``, given what wrk counted."""
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
        created = measured.statuses.get(201, 0)
        orders = measured.orders or {"sent": 0, "answered": 0}
        stock_taken = sum(before["stock"][p] - after["stock"][p] for p in before["stock"])
        checked = {
            "orders_answered_201": created,
            "orders_in_database": after["max_order"] - before["max_order"],
            "in_flight_when_wrk_stopped": orders["sent"] - orders["answered"],
            "units_by_201s": UNITS_PER_ORDER * created,
            "stock_taken": stock_taken,
            "units_in_new_order_lines": sum(sold.values()),
            "sold_outside_the_pool": sorted(set(sold) - set(before["stock"])),
        }
        # An order left in flight would show as one more order than 201s; the count
        # of those is there to say why, if it ever happens.
        checked["holds"] = (
            stock_taken == checked["units_by_201s"] == checked["units_in_new_order_lines"]
            and checked["orders_in_database"] == created
            and not checked["sold_outside_the_pool"]
        )
        return checked

    def close(self) -> None:
        """Release the connections."""
        self.engine.dispose()


# --- the run ------------------------------------------------------------------------


@dataclass
class Settings:
    """What the run measures, and how long each measurement lasts."""

    bench_set: str
    size: Size
    database_url: str | None
    duration: float
    warmup: float
    connections: int
    scaling: list[int]
    only: set[str] | None
    rounds: int
    variants: list[str]
    peers: bool
    redis_url: str | None = None


def log(message: str) -> None:
    """Progress on the terminal (the servers' own logs go to build/bench/logs/)."""
    print(message, flush=True)


def app_env(url: str, settings: Settings, **extra: str) -> dict:
    """The app's production environment for this run (and its own Redis key prefix)."""
    # gunicorn.conf.py's class unless BENCH_WORKER_CLASS / BENCH_THREADS ask for
    # another, to compare a target under two classes.
    for name, setting in (("BENCH_WORKER_CLASS", "GUNICORN_WORKER_CLASS"),
                          ("BENCH_THREADS", "GUNICORN_THREADS")):  # fmt: skip
        if os.environ.get(name):
            extra = {setting: os.environ[name], **extra}
    if settings.redis_url:
        extra = {
            "REDIS_URL": settings.redis_url,
            "REDIS_KEY_PREFIX": f"storefront-bench-{uuid.uuid4().hex[:8]}:",
            **extra,
        }
    return production_env(url, **extra)


class Session:
    """The app's variants on one seed, measured against the shared baseline.

    ``peers`` (name -> server, already started on the same database) are
    measured on the scenarios marked ``peers``, in the same rounds.
    """

    def __init__(
        self,
        settings: Settings,
        baseline: Gunicorn | None,
        size: Size,
        url: str,
        peers: dict[str, Gunicorn] | None = None,
        *,
        apps: dict[str, Gunicorn] | None = None,
    ):
        self.settings = settings
        self.baseline = baseline
        self.size = size
        self.url = url
        self.fx = fixtures(size)
        self.apps = apps or {
            variant: app_server(
                app_env(url, settings, RESPONSE_CACHE=VARIANTS[variant][0]),
                WORK / "logs" / f"app-{variant}-{size.products}.log",
                name=f"app ({variant})",
            )
            for variant in settings.variants
        }
        self.peers = peers or {}
        self.tokens: dict[str, str] = {}

    @property
    def app(self) -> Gunicorn:
        """The variant that logs in and resolves fixtures (any would do)."""
        return next(iter(self.apps.values()))

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

    def probe(self, scenario: Scenario, path: str, server: Gunicorn) -> tuple[int, float]:
        """One request through the scenario's front door on ``server``; (status, seconds)."""
        headers = dict(h.split(": ", 1) for h in self.headers(scenario))
        body = None
        if scenario.method == "POST":
            headers["Content-Type"] = "application/json"
            items = [{"product_id": self.fx.pool_first, "quantity": 1}]
            body = json.dumps({"items": items}).encode()
        started = time.perf_counter()
        status, _, _ = http(server.url + path, method=scenario.method, body=body, headers=headers)
        return status, time.perf_counter() - started

    def measure(
        self,
        server: Gunicorn,
        path: str,
        scenario: Scenario | None = None,
        *,
        latency_s: float = 0.0,
        between: Callable[[], None] | None = None,
    ) -> Measurement:
        """Warm up, call ``between``, then measure; wait for idle workers after each wrk run.

        ``latency_s`` is one request's time, from the probe, in case the warm-up
        finishes none.
        """
        settings = self.settings
        run = {
            "script": self._script(scenario),
            "headers": self.headers(scenario) if scenario else [],
        }
        if settings.warmup > 0:
            # One connection per worker: enough to warm every cache, and little to drain.
            warmup = wrk(
                server.url + path,
                seconds=settings.warmup,
                connections=WORKERS,
                # Other draws than the measured run's, which would otherwise begin
                # with exactly the ids the warm-up just put in a cache.
                env={**self._script_env(scenario), "BENCH_SEED": WARMUP_SEED},
                **run,
            )
            server.wait_idle()
            if warmup.requests >= WORKERS:
                latency_s = warmup.latency_ms["mean"] / 1000
        if between is not None:
            between()
        drained = int(DRAIN_BUDGET_S * WORKERS / latency_s) if latency_s > 0 else 10**6
        seconds, env = settings.duration, self._script_env(scenario)
        connections = max(WORKERS, min(settings.connections, drained))
        if scenario is not None and scenario.method == "POST":
            # Orders stop after the duration; the tail lets the last ones be answered.
            # The warm-up's latency is one request's on each worker; with all the
            # connections, a request also waits for those queued before it.
            env["BENCH_ORDER_SECONDS"] = settings.duration
            queued = connections / WORKERS * latency_s
            seconds += min(WRK_TIMEOUT_S, max(1.0, 2 * queued))
        measured = wrk(
            server.url + path,
            seconds=seconds,
            connections=connections,
            env=env,
            **run,
        )
        server.wait_idle()
        return measured

    @staticmethod
    def _script(scenario: Scenario | None) -> str:
        if scenario is None:
            return "summary.lua"
        return "random_path.lua" if scenario.pick else scenario.script

    def _script_env(self, scenario: Scenario | None) -> dict:
        """What the wrk scripts read: the random paths' range, or what post_order.lua
        needs, with a new key prefix for every wrk run, since each run counts its
        Idempotency-Keys from 1 and a reused key would be a replay."""
        if scenario is None:
            return {}
        if scenario.pick:
            return {**PICKS[scenario.pick](self.fx), "BENCH_SEED": RANDOM_SEED}
        if scenario.method != "POST":
            return {}
        return {
            "BENCH_TOKEN": self.tokens[scenario.auth],
            "BENCH_POOL_FIRST": self.fx.pool_first,
            "BENCH_POOL_LAST": self.fx.pool_last,
            "BENCH_NONCE": uuid.uuid4().hex[:12],
        }

    def servers(self, scenario: Scenario) -> dict[str, Gunicorn]:
        """Every server the scenario is measured on: the app's variants, then the peers."""
        peers = self.peers if scenario.peers else {}
        return {**self.apps, **peers}

    def run(self, scenarios: list[Scenario], *, rounds: int) -> dict:
        """Measure ``scenarios`` in ``rounds`` rounds, interleaved with the baseline."""
        try:
            for app in self.apps.values():
                app.start()
            return self._run(scenarios, rounds)
        finally:
            for app in self.apps.values():
                app.stop()

    def _probe_all(self, scenarios: list[Scenario]) -> tuple[dict, list]:
        """Which scenarios each server answers; a 4xx means the feature is not there yet."""
        results, ready = {}, []
        for scenario in scenarios:
            path, why = resolve(scenario, self.app, self.fx)
            entry = {"path": path, "available": why is None, "why": why, "servers": {}}
            results[scenario.name] = entry
            if why is not None:
                log(f"  {scenario.name:<18} not available: {why}")
                continue
            for key, server in self.servers(scenario).items():
                status, seconds = self.probe(scenario, path, server)
                # The app's 5xx is measured like any answer, and shows up as failures;
                # a peer is measured only where it answers like the app.
                bad = 400 <= status < 500 if key in self.apps else status >= 300
                reason = f"{scenario.method} {path} answers {status}" if bad else None
                if reason:
                    log(f"  {scenario.name}@{key} not available: {reason}")
                entry["servers"][key] = {
                    "available": reason is None,
                    "why": reason,
                    "probe_s": seconds,
                    "runs": [],
                }
            if not any(s["available"] for k, s in entry["servers"].items() if k in self.apps):
                entry.update(available=False, why=entry["servers"][next(iter(self.apps))]["why"])
            else:
                ready.append((scenario, path))
        return results, ready

    def _run(self, scenarios: list[Scenario], rounds: int) -> dict:
        self.login()
        results, ready = self._probe_all(scenarios)
        memory = []
        for number in range(1, rounds + 1):
            self.login()
            before = self._baseline()
            for scenario, path in ready:
                entries = results[scenario.name]["servers"]
                keys = [key for key, entry in entries.items() if entry["available"]]
                group = []
                for key in keys if number % 2 else keys[::-1]:
                    server = self.servers(scenario)[key]
                    latency_s = entries[key]["probe_s"]
                    group.append((key, self._scenario(scenario, path, number, latency_s, server)))
                after = self._baseline()
                for key, run in group:
                    if after is not None:
                        run["baseline_rps"] = (before.rps + after.rps) / 2
                        run["ratio"] = run["rps"] / run["baseline_rps"]
                    entries[key]["runs"].append(run)
                    stock = run.get("stock_invariant")
                    versus = (
                        f"baseline {run['baseline_rps']:>7.1f}  ratio {run['ratio']:.3f}  "
                        if "ratio" in run
                        else ""
                    )
                    log(
                        f"  round {number} {scenario.name + '@' + key:<26} "
                        f"{run['rps']:>8.1f} req/s  {versus}p99 {run['latency_ms']['p99']:.1f} ms  "
                        f"failed {run['failed']}  connections {run['connections']}"
                        + ("" if stock is None else f"  stock exact: {stock['holds']}")
                    )
                before = after
            memory.append(
                {
                    "app": {key: app.worker_rss_mib() for key, app in self.apps.items()},
                    "baseline": self.baseline.worker_rss_mib() if self.baseline else {},
                    "peers": {name: peer.worker_rss_mib() for name, peer in self.peers.items()},
                }
            )
        return {"scenarios": results, "memory": memory}

    def _baseline(self) -> Measurement | None:
        return self.measure(self.baseline, "/") if self.baseline else None

    def _scenario(
        self, scenario: Scenario, path: str, number: int, probe_s: float, server: Gunicorn
    ) -> dict:
        ledger = StockLedger(self.url, self.fx) if scenario.method == "POST" else None
        before = {}
        try:
            measured = self.measure(
                server,
                path,
                scenario,
                latency_s=probe_s,
                between=(lambda: before.update(ledger.snapshot())) if ledger else None,
            )
            run = {"round": number, **asdict(measured), "failed": measured.failed}
            if ledger is not None:
                run["stock_invariant"] = ledger.check(before, measured)
        finally:
            if ledger is not None:
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


def worker_class_used(logs: Path, pattern: str = "app-*.log") -> str | None:
    """The class an app's gunicorn master said it ran ("Using worker: gthread")."""
    for log_path in sorted(logs.glob(pattern)):
        found = re.search(r"Using worker: (\w+)", log_path.read_text())
        if found:
            return found.group(1)
    return None


def _scaling_url(settings: Settings, size: Size) -> str:
    # PostgreSQL: the one database is re-seeded at each size (the main seed
    # is rebuilt on the next run); SQLite: one file per size, kept.
    return settings.database_url or default_url(size)


def run(settings: Settings) -> dict:
    """The whole benchmark; returns the results document."""
    started = time.monotonic()
    scenarios = [
        s
        for s in SCENARIOS
        if (settings.only is None and settings.bench_set in s.sets)
        or (settings.only is not None and s.name in settings.only)
    ]
    with_peers = settings.peers and any(s.peers for s in scenarios)
    peer_names = list(PEERS) if with_peers else []
    url = settings.database_url or default_url(settings.size)
    results = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": git_commit(),
        "machine": machine(),
        "settings": {
            **asdict(settings.size),
            "set": settings.bench_set,
            "database": "postgresql" if url.startswith("postgres") else "sqlite",
            "redis": bool(settings.redis_url),
            "duration_s": settings.duration,
            "warmup_s": settings.warmup,
            "connections": settings.connections,
            "wrk_threads": WRK_THREADS,
            "workers": WORKERS,
            "rounds": settings.rounds,
            "variants": {key: VARIANTS[key][1] for key in settings.variants},
            "peers": {name: PEERS[name] for name in peer_names},
            "hot_products": fixtures(settings.size).hot_count,
            # Shorter or smaller than the make target's run: the page says so.
            "full": settings.duration >= 5
            and settings.warmup >= 1
            and settings.rounds >= SETS[settings.bench_set].rounds
            and settings.only is None
            and settings.size.products >= 1_000_000,
        },
        "scenarios": [asdict(s) | {"target_text": s.target_text()} for s in scenarios],
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
        log(
            f"main: {len(scenarios)} scenarios x {settings.rounds} rounds on "
            f"{', '.join(settings.variants)}{' and the peers' if peers else ''}, interleaved"
        )
        try:
            main = Session(settings, baseline, settings.size, run_url, peers).run(
                scenarios, rounds=settings.rounds
            )
        finally:
            for peer in peers.values():
                peer.stop()
        results["main"] = main
        results["settings"]["worker_class"] = worker_class_used(WORK / "logs")
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
            session = Session(settings, baseline, size, size_url).run(scaling, rounds=1)
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


def _switch(name: str, text_value: str) -> bool:
    """An on/off setting."""
    word = text_value.strip().lower()
    switch = {"on": True, "true": True, "yes": True, "1": True}
    switch |= {"off": False, "false": False, "no": False, "0": False}
    if word not in switch:
        raise argparse.ArgumentTypeError(f"{name} must be on or off, not {text_value!r}")
    return switch[word]


def _variants(text_value: str) -> list[str]:
    """BENCH_CACHE: on, off or on,off -> the app variants to run."""
    words = [word.strip().lower() for word in text_value.split(",") if word.strip()]
    if not words or not set(words) <= {"on", "off"}:
        raise argparse.ArgumentTypeError(f"BENCH_CACHE must be on, off or on,off: {text_value!r}")
    return [f"cache_{word}" for word in dict.fromkeys(words)]


def parse_settings(argv: list[str] | None = None) -> tuple[Settings, Path]:
    """The settings from the command line and the environment, and where the page goes."""
    env = os.environ.get
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", choices=sorted(SETS), default=env("BENCH_SET") or "targets")
    parser.add_argument("--products", type=int, default=int(env("BENCH_PRODUCTS") or 1_000_000))
    parser.add_argument("--orders", type=int, default=int(env("BENCH_ORDERS") or 100_000))
    parser.add_argument("--database-url", default=env("BENCH_DATABASE_URL") or None)
    parser.add_argument("--redis-url", default=env("BENCH_REDIS_URL") or None)
    parser.add_argument("--duration", type=float, default=float(env("BENCH_DURATION") or 5))
    parser.add_argument("--warmup", type=float, default=float(env("BENCH_WARMUP") or 1))
    parser.add_argument("--connections", type=int, default=int(env("BENCH_CONNECTIONS") or 32))
    parser.add_argument("--rounds", type=int, default=int(env("BENCH_ROUNDS") or 0) or None)
    parser.add_argument("--scaling", default=env("BENCH_SCALING"))
    parser.add_argument("--cache", default=env("BENCH_CACHE"))
    parser.add_argument("--peers", default=env("BENCH_PEERS"))
    parser.add_argument("--only", default=env("BENCH_ONLY") or None)
    parser.add_argument("--docs", default=str(ROOT / "docs"), help="where the page goes")
    args = parser.parse_args(argv)
    chosen = SETS[args.set]
    settings = Settings(
        bench_set=args.set,
        size=Size(args.products, args.orders),
        database_url=args.database_url,
        duration=args.duration,
        warmup=args.warmup,
        connections=args.connections,
        scaling=_sizes(chosen.scaling if args.scaling is None else args.scaling),
        only=set(args.only.split(",")) if args.only else None,
        rounds=args.rounds or chosen.rounds,
        variants=_variants(args.cache or chosen.cache),
        peers=chosen.peers if args.peers is None else _switch("BENCH_PEERS", args.peers),
        redis_url=args.redis_url,
    )
    return settings, Path(args.docs) / chosen.doc


def main() -> None:
    """Run the benchmark and write the results, the Markdown and the chart."""
    settings, page = parse_settings()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: `make bench` installs it (apt-get install wrk)")
    # Through JSON first, so the report reads exactly what the file holds.
    results = json.loads(json.dumps(run(settings)))
    results["summary"] = report.summarize(results)
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS / f"{stamp}.json"
    path.write_text(json.dumps(results, indent=2) + "\n")
    written = report.write(results, page, f"bench/results/{path.name}")
    log(f"results: {_shown(path)}")
    log(f"report:  {', '.join(_shown(p) for p in written)}")
    log(f"elapsed: {results['elapsed_s']:.0f} s")
    broken = report.stock_not_exact(results)
    if broken:
        sys.exit(f"STOCK NOT EXACT after POST /orders on {', '.join(broken)}: see {_shown(page)}")


if __name__ == "__main__":
    main()
