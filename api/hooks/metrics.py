"""Prometheus metrics at ``GET /metrics``: request counts and latencies per endpoint and status.

Opt-in and protected: the route exists only when ``METRICS_TOKEN`` is set, and
answers only requests that carry it as a Bearer token (Prometheus sends it with
``authorization: {credentials: ...}`` in its scrape config). It is a plain Flask
route, not an operation of the API, so it stays out of the public spec.

Under gunicorn every worker is its own process with its own counters. With
``PROMETHEUS_MULTIPROC_DIR`` set (``gunicorn.conf.py`` does it), each worker
writes its values to files there, and a scrape, whichever worker answers it,
adds up the files of all of them. Without it (the development server, tests),
the counters live in the process.
"""

import hmac
import os
import time

from flask import Response, current_app, g, request, request_finished, request_started
from prometheus_client import (
    CONTENT_TYPE_PLAIN_0_0_4,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

from api.errors import ApiProblem

METRICS_PATH = "/metrics"
EXTENSION = "storefront.metrics"
LABELS = ("method", "endpoint", "status")
# Requests that matched no route share one label value, so that scanning
# random URLs cannot create unbounded series.
UNMATCHED = "<unmatched>"


class RequestMetrics:
    """The app's request counter and latency histogram, in a registry of its own."""

    def __init__(self):
        # Per app, not the global default registry: tests build many apps.
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "http_requests",
            "HTTP requests answered, by method, route and status",
            LABELS,
            registry=self.registry,
        )
        self.collectors = []
        self.latency = Histogram(
            "http_request_duration_seconds",
            "Time to answer an HTTP request, by method, route and status",
            LABELS,
            registry=self.registry,
        )
        self._series: dict[tuple[str, str, int], tuple] = {}

    def observe(self, method: str, endpoint: str, status: int, seconds: float) -> None:
        """Count one answered request and its latency."""
        key = (method, endpoint, status)
        series = self._series.get(key)
        if series is None:
            # ``labels()`` checks and locks on every call; the labelled series
            # of a key never change, so each is looked up once. The keys are
            # bounded: routes (unmatched ones share a label) times statuses.
            labels = (method, endpoint, str(status))
            series = self._series[key] = (
                self.requests.labels(*labels),
                self.latency.labels(*labels),
            )
        requests, latency = series
        requests.inc()
        latency.observe(seconds)

    def exposition(self) -> bytes:
        """The Prometheus text format of every worker's metrics, or this process's.

        The collectors other parts registered (``storefront.collectors``: the
        job queue's) are read at every scrape, in either mode.
        """
        directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        if not directory:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=directory)
        for collector in self.collectors:
            registry.register(collector)
        return generate_latest(registry)

    def add(self, collect) -> None:
        """Also expose the samples ``collect()`` yields, read at each scrape."""
        collector = _Collector(collect)
        self.collectors.append(collector)
        self.registry.register(collector)


class _Collector:
    """A prometheus_client collector made of one function yielding metric families."""

    def __init__(self, collect):
        self.collect = collect

    def describe(self):
        """Nothing to describe up front: the families are read at scrape time."""
        return []


def _start_clock(_app, **_extra) -> None:
    g.metrics_started = time.perf_counter()


def _observe(app, response, **_extra) -> None:
    started = g.get("metrics_started")
    if started is None or request.path == METRICS_PATH:
        return
    endpoint = request.url_rule.rule if request.url_rule is not None else UNMATCHED
    app.extensions[EXTENSION].observe(
        request.method, endpoint, response.status_code, time.perf_counter() - started
    )


def metrics_view():
    """The metrics, for a scraper that presents ``METRICS_TOKEN``; a 401 problem otherwise."""
    expected = current_app.config["METRICS_TOKEN"].encode()
    # The scheme is case-insensitive (RFC 9110 §11.1); the token is compared in constant time.
    scheme, _, supplied = request.headers.get("Authorization", "").strip().partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(supplied.strip().encode(), expected):
        raise ApiProblem(
            401,
            "The metrics need the METRICS_TOKEN as a Bearer token",
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    # Text format 0.0.4: what every Prometheus version reads.
    return Response(
        current_app.extensions[EXTENSION].exposition(), content_type=CONTENT_TYPE_PLAIN_0_0_4
    )


def register_metrics(app) -> None:
    """Count every request and serve ``/metrics``, when ``METRICS_TOKEN`` is set.

    Call it after the rate limiter: scrapes are exempt, so that clients using up
    a shared limit cannot blind the monitoring.
    """
    if not app.config["METRICS_TOKEN"]:
        return
    disable_created_metrics()  # no *_created series: multiprocess mode has none either
    app.extensions[EXTENSION] = metrics = RequestMetrics()
    for collect in app.extensions.get("storefront.collectors", []):
        metrics.add(collect)
    request_started.connect(_start_clock, app)
    request_finished.connect(_observe, app)
    limiter = app.extensions.get("storefront.limiter")
    if limiter is not None:
        limiter.exempt(metrics_view)
    app.add_url_rule(METRICS_PATH, "metrics", metrics_view, methods=["GET"])
