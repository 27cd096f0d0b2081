"""Probes, and the one error shape: 404, 405, 413, 409, 500, 503, request ids.

The 429 problem is checked with the rest of the rate limits, in ``test_rate_limits``.
"""

import json
import re

import pytest

from models.user import find_user_by_email
from tests.conftest import PASSWORD
from tests.helpers import assert_problem

PROBLEM = "application/problem+json"
UNREACHABLE_DATABASE = "postgresql+psycopg://nobody@127.0.0.1:1/none"
GENERATED_ID = re.compile(r"^[0-9a-f]{32}$")
LEAKS = ("Traceback", "secret detail", "RuntimeError", 'File "')
NEW_PRODUCT = {"sku": "MUG-001", "name": "Enamel mug", "price_cents": 1299, "stock": 4}


# --- probes -------------------------------------------------------------------------------


def test_health_answers_ok(client):
    response = client.get("/health")

    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_ready_answers_ready_when_the_database_answers(client):
    response = client.get("/ready")

    assert response.status_code == 200
    # Without REDIS_URL there is no Redis to report.
    assert response.get_json() == {
        "status": "ready",
        "database": "ok",
        "checks": {"database": "ok"},
    }


def test_ready_is_a_503_problem_when_the_database_is_unreachable(build_app):
    client = build_app(SQLALCHEMY_DATABASE_URI=UNREACHABLE_DATABASE).test_client()

    ready = client.get("/ready")

    body = assert_problem(ready, 503)
    assert body["detail"] == "The database is unreachable"
    assert "127.0.0.1" not in ready.get_data(as_text=True)
    assert "psycopg" not in ready.get_data(as_text=True)
    # Liveness does not depend on the database: the process still serves.
    assert client.get("/health").status_code == 200


# --- routing errors -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/nope",
        "/api/v1/",
        "/api/v1/nope",
        "/api/v1/products/abc",
        "/api/v1/products/0",
        "/api/v1/products/1",
        f"/api/v1/products/{2**63}",
        "/api/v1/products/1/nested/nothing",
    ],
)
def test_an_unknown_url_is_a_404_problem(client, path):
    response = client.get(path)

    body = assert_problem(response, 404)
    assert "<html" not in response.get_data(as_text=True).lower()
    assert path.rstrip("/").rsplit("/", 1)[-1] in body["detail"]


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", "/health", {"GET"}),
        ("POST", "/ready", {"GET"}),
        ("PUT", "/api/v1/products", {"GET", "POST"}),
        ("DELETE", "/api/v1/products", {"GET", "POST"}),
        ("POST", "/api/v1/products/1", {"GET", "PUT", "PATCH", "DELETE"}),
        ("GET", "/api/v1/auth/login", {"POST"}),
        ("DELETE", "/api/v1/auth/me", {"GET"}),
    ],
)
def test_a_method_not_allowed_is_a_405_problem_with_allow(client, method, path, allowed):
    response = client.open(path, method=method)

    body = assert_problem(response, 405)
    methods = {m.strip() for m in response.headers["Allow"].split(",")}
    assert allowed <= methods
    assert method not in methods
    assert method in body["detail"]


# --- request ids --------------------------------------------------------------------------


@pytest.mark.parametrize("request_id", ["abc-123", "trace:42.a_b", "x" * 128])
@pytest.mark.parametrize("path", ["/health", "/api/v1/nope"])
def test_a_valid_request_id_is_echoed(client, request_id, path):
    response = client.get(path, headers={"X-Request-ID": request_id})

    assert response.headers["X-Request-ID"] == request_id
    if response.status_code >= 400:
        assert response.get_json()["request_id"] == request_id


@pytest.mark.parametrize(
    "raw",
    ["x" * 129, "has spaces", "tab\there", "line\nbreak", "cr\rlf", "ünïcode", "<script>", ""],
    ids=["too-long", "spaces", "tab", "newline", "carriage-return", "non-ascii", "markup", "empty"],
)
def test_an_invalid_request_id_is_replaced_by_a_generated_one(client, raw):
    # Passed through the WSGI environ: werkzeug's client refuses such header values itself.
    response = client.get("/api/v1/nope", environ_overrides={"HTTP_X_REQUEST_ID": raw})

    generated = response.headers["X-Request-ID"]
    assert generated != raw
    assert GENERATED_ID.match(generated)
    assert response.get_json()["request_id"] == generated


def test_requests_without_an_id_get_distinct_ones(client):
    ids = {client.get("/health").headers["X-Request-ID"] for _ in range(5)}

    assert len(ids) == 5
    assert all(GENERATED_ID.match(i) for i in ids)


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("GET", "/nope", {}, 404),
        ("DELETE", "/health", {}, 405),
        ("GET", "/api/v1/auth/me", {}, 401),
        ("POST", "/api/v1/auth/register", {"data": "not json", "content_type": "text/plain"}, 415),
        ("POST", "/api/v1/auth/register", {"json": {"email": "a@example.com"}}, 400),
        ("GET", "/api/v1/products", {"query_string": {"sort": "password_hash"}}, 400),
    ],
)
def test_every_problem_carries_the_request_id(client, method, path, kwargs, status):
    response = client.open(path, method=method, headers={"X-Request-ID": "req-7"}, **kwargs)

    assert assert_problem(response, status, fields=...)["request_id"] == "req-7"


# --- 413 ----------------------------------------------------------------------------------


def _register_body_of(size: int) -> bytes:
    prefix, suffix = b'{"email": "big@example.com", "password": "', b'", "name": "Big"}'
    return prefix + b"p" * (size - len(prefix) - len(suffix)) + suffix


def test_a_body_over_the_default_limit_is_a_413_problem(app, client):
    limit = app.config["MAX_CONTENT_LENGTH"]
    assert limit == 1024 * 1024  # MAX_BODY_MB defaults to 1

    response = client.post(
        "/api/v1/auth/register",
        data=_register_body_of(limit + 1),
        content_type="application/json",
    )

    assert_problem(response, 413)


def test_max_body_mb_sets_the_413_limit(build_app, monkeypatch, in_app):
    monkeypatch.setenv("MAX_BODY_MB", "0.01")
    client = build_app().test_client()
    limit = int(0.01 * 1024 * 1024)

    def post(size):
        body = _register_body_of(size)
        assert len(body) == size
        return client.post("/api/v1/auth/register", data=body, content_type="application/json")

    assert_problem(post(limit + 1), 413)
    assert in_app(find_user_by_email, "big@example.com") is None
    # At the limit the body is read and judged on its merits (a too-long password: 422).
    assert post(limit).status_code == 422


# --- 409 from the database ----------------------------------------------------------------


def test_a_duplicate_sku_lost_in_a_race_is_a_409_without_sql(
    client, admin_headers, make_product, monkeypatch
):
    make_product(sku="MUG-001")
    # Simulate the race: the check passes, then the database's unique index refuses.
    monkeypatch.setattr("models.product._live_sku_taken", lambda *_a, **_k: False)

    response = client.post("/api/v1/products", json=NEW_PRODUCT, headers=admin_headers)

    body = assert_problem(response, 409)
    assert "MUG-001" in body["detail"]
    _assert_no_sql(response)
    assert client.get("/api/v1/products").get_json()["total"] == 1


def test_a_duplicate_email_lost_in_a_race_is_a_409_without_sql(client, customer, monkeypatch):
    monkeypatch.setattr("models.user.find_user_by_email", lambda _email: None)

    response = client.post(
        "/api/v1/auth/register",
        json={"email": customer["email"], "password": PASSWORD, "name": "Twin"},
    )

    assert_problem(response, 409)
    _assert_no_sql(response)


def _assert_no_sql(response):
    text = response.get_data(as_text=True).lower()
    for leak in ("unique", "constraint", "insert", "uq_", "integrityerror", "sqlite", "psycopg"):
        assert leak not in text


# --- 500 ----------------------------------------------------------------------------------


def _explode(*_args, **_kwargs):
    raise RuntimeError("secret detail")


BROKEN_ROUTES = [
    pytest.param("api.docs.spec.render_spec", "/api/v1/swagger.json", id="flask-route"),
    pytest.param("namespaces.products.read_product", "/api/v1/products/1", id="restx-operation"),
]


@pytest.mark.parametrize(("target", "path"), BROKEN_ROUTES)
def test_an_unexpected_error_is_a_generic_500_and_logged_in_full(
    build_app, monkeypatch, capsys, target, path
):
    monkeypatch.setattr(target, _explode)
    client = build_app().test_client()  # built here, so its log handler writes to capsys

    response = client.get(path, headers={"X-Request-ID": "boom-1"})

    body = assert_problem(response, 500)
    assert body["request_id"] == "boom-1"
    for leak in LEAKS:
        assert leak not in response.get_data(as_text=True)
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    (error,) = [line for line in lines if line["level"] == "ERROR"]
    assert error["request_id"] == "boom-1"
    assert "Traceback (most recent call last)" in error["exception"]
    assert "RuntimeError: secret detail" in error["exception"]
