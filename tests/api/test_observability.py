"""Observability: a JSON log line per request, JSON app logs, Prometheus metrics.

``/metrics`` is deliberately not an operation of the API (it is not in the
spec): the contract check only asks its errors to be problems.
"""

import json
import logging

import jwt
import pytest
from flask import current_app
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import bearer

METRICS_TOKEN = "metrics-token-for-tests"
SCRAPE = bearer(METRICS_TOKEN)
REQUEST_FIELDS = {"method", "path", "status", "duration_ms", "request_id", "user_id"}


def log_lines(capsys) -> list[dict]:
    """Every line the app wrote to stdout, each parsed as JSON (a line that is not fails)."""
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def request_lines(capsys) -> list[dict]:
    """The per-request log lines."""
    return [line for line in log_lines(capsys) if line["logger"] == "api.request"]


# --- logs ---------------------------------------------------------------------------------


def test_each_request_is_one_json_line_with_its_fields(build_app, capsys):
    client = build_app().test_client()

    response = client.get("/api/v1/products?page=1", headers={"X-Request-ID": "req-42"})

    (line,) = request_lines(capsys)
    assert set(line) >= REQUEST_FIELDS
    assert line["method"] == "GET"
    assert line["path"] == "/api/v1/products"
    assert line["status"] == response.status_code == 200
    assert line["request_id"] == response.headers["X-Request-ID"] == "req-42"
    assert line["user_id"] is None
    assert isinstance(line["duration_ms"], float)
    assert line["duration_ms"] >= 0
    assert line["level"] == "INFO"
    assert line["time"].endswith("Z")


def test_the_line_names_the_user_of_a_verified_token(build_app, customer, capsys):
    client = build_app().test_client()

    client.get("/api/v1/auth/me", headers=bearer(customer["access"]))

    (line,) = request_lines(capsys)
    assert line["user_id"] == customer["id"]
    assert line["status"] == 200


FORGED = jwt.encode({"sub": "1", "type": "access"}, "not-the-key" * 4, algorithm="HS256")


@pytest.mark.parametrize(
    "authorization",
    ["Bearer not-a-jwt", "Bearer a.b.c", f"Bearer {FORGED}", "Basic dXNlcjpwYXNz", ""],
    ids=["garbage", "malformed", "forged", "wrong-scheme", "empty"],
)
def test_an_invalid_token_logs_the_request_without_a_user_and_nothing_else(
    build_app, capsys, authorization
):
    client = build_app().test_client()

    response = client.get("/api/v1/auth/me", headers={"Authorization": authorization})

    assert response.status_code == 401
    (line,) = log_lines(capsys)
    assert line["logger"] == "api.request"
    assert line["status"] == 401
    assert line["user_id"] is None


def test_a_revoked_token_logs_no_user(build_app, customer, capsys):
    client = build_app().test_client()
    headers = bearer(customer["access"])
    assert client.post("/api/v1/auth/logout", headers=headers).status_code == 204
    capsys.readouterr()

    assert client.get("/api/v1/auth/me", headers=headers).status_code == 401

    (line,) = request_lines(capsys)
    assert line["user_id"] is None


def test_a_rate_limited_request_is_logged_with_its_429(build_app, capsys):
    client = build_app(RATELIMIT_ENABLED=True, RATELIMIT_DEFAULT="1 per minute").test_client()

    statuses = [client.get("/api/v1/products").status_code for _ in range(2)]

    assert [line["status"] for line in request_lines(capsys)] == statuses == [200, 429]


def test_an_unknown_url_is_logged_with_its_404(build_app, capsys):
    client = build_app().test_client()

    client.get("/no/such/thing")

    (line,) = request_lines(capsys)
    assert (line["path"], line["status"]) == ("/no/such/thing", 404)


def test_every_app_log_line_is_json_with_the_request_id(build_app, capsys):
    app = build_app()

    @app.get("/log-something")
    def log_something():
        current_app.logger.warning("careful: %s", "something", extra={"order_id": 7})
        return {"status": "ok"}

    # An ad-hoc route outside the spec: read with a plain client.
    FlaskClient(app).get("/log-something", headers={"X-Request-ID": "log-1"})
    with app.app_context():
        current_app.logger.warning("outside any request")

    warning, _request, outside = log_lines(capsys)
    assert warning["message"] == "careful: something"
    assert warning["level"] == "WARNING"
    assert warning["logger"] == "api"
    assert warning["request_id"] == "log-1"
    assert warning["order_id"] == 7
    assert outside["request_id"] == "-"


def test_a_higher_log_level_hides_the_request_lines(build_app, capsys):
    client = build_app(LOG_LEVEL="WARNING").test_client()

    client.get("/health")

    assert log_lines(capsys) == []


def test_the_request_logger_is_a_child_of_the_app_logger(app):
    assert logging.getLogger("api.request").parent is app.logger


# --- metrics ------------------------------------------------------------------------------


@pytest.fixture
def metrics_app(build_app):
    return build_app(METRICS_TOKEN=METRICS_TOKEN)


def scrape(app) -> dict:
    """The samples of a scrape, as {(name, frozenset of labels): value}."""
    response = app.test_client().get("/metrics", headers=SCRAPE)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.get_data(as_text=True))
        for sample in family.samples
    }


def labels(endpoint: str, status: int, method: str = "GET") -> frozenset:
    return frozenset({"method": method, "endpoint": endpoint, "status": str(status)}.items())


def test_metrics_are_off_without_a_token(client):
    response = client.get("/metrics")

    assert response.status_code == 404


@pytest.mark.parametrize(
    "headers",
    [{}, bearer("wrong"), {"Authorization": METRICS_TOKEN}, bearer(METRICS_TOKEN + "x")],
    ids=["none", "wrong", "no-scheme", "longer"],
)
def test_metrics_need_the_token(metrics_app, headers):
    response = metrics_app.test_client().get("/metrics", headers=headers)

    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert "http_requests_total" not in response.get_data(as_text=True)


@pytest.mark.parametrize("scheme", ["bearer", "BEARER"])
def test_metrics_accept_the_bearer_scheme_in_any_case(metrics_app, scheme):
    # RFC 9110 §11.1: the scheme is case-insensitive; the token itself is not.
    headers = {"Authorization": f"{scheme} {METRICS_TOKEN}"}

    assert metrics_app.test_client().get("/metrics", headers=headers).status_code == 200


def test_metrics_count_requests_per_endpoint_and_status(metrics_app, make_product):
    client = metrics_app.test_client()
    product_id = make_product()
    for _ in range(3):
        client.get("/health")
    client.get(f"/api/v1/products/{product_id}")
    client.get("/api/v1/products/999999")
    client.get("/no/such/thing")
    client.delete("/health")

    samples = scrape(metrics_app)

    item = "/api/v1/products/<int(min=1, max=9223372036854775807):product_id>"
    assert samples[("http_requests_total", labels("/health", 200))] == 3
    assert samples[("http_requests_total", labels(item, 200))] == 1
    assert samples[("http_requests_total", labels(item, 404))] == 1
    assert samples[("http_requests_total", labels("<unmatched>", 404))] == 1
    assert samples[("http_requests_total", labels("<unmatched>", 405, "DELETE"))] == 1
    assert samples[("http_request_duration_seconds_count", labels("/health", 200))] == 3
    assert samples[("http_request_duration_seconds_sum", labels("/health", 200))] > 0
    infinite = labels("/health", 200) | {("le", "+Inf")}
    assert samples[("http_request_duration_seconds_bucket", infinite)] == 3


def test_scrapes_are_not_counted_and_not_rate_limited(build_app):
    app = build_app(
        METRICS_TOKEN=METRICS_TOKEN, RATELIMIT_ENABLED=True, RATELIMIT_DEFAULT="1 per minute"
    )

    for _ in range(3):
        samples = scrape(app)

    assert not any("/metrics" in dict(label_set).get("endpoint", "") for _, label_set in samples)


def test_each_app_counts_its_own_requests(build_app):
    first, second = (build_app(METRICS_TOKEN=METRICS_TOKEN) for _ in range(2))

    first.test_client().get("/health")

    assert ("http_requests_total", labels("/health", 200)) in scrape(first)
    assert ("http_requests_total", labels("/health", 200)) not in scrape(second)


def test_metrics_stay_out_of_the_spec(metrics_app):
    spec = json.loads(metrics_app.test_client().get("/api/v1/swagger.json").get_data())

    assert "/metrics" not in spec["paths"]
