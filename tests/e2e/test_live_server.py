"""The app as a user runs it: migrated, seeded, served by a multi-worker gunicorn."""

import http.client
import json
import re
from http import HTTPStatus

import pytest

from tests.e2e.live import LiveResponse, race, raw_request, seeded_server


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with seeded_server(tmp_path_factory.mktemp("live")) as live:
        live.flask("seed")  # a second run must add nothing
        yield live


def login(server, email, password) -> dict:
    response = server.request(
        "POST", "/api/v1/auth/login", json_body={"email": email, "password": password}
    )
    assert response.status_code == 200
    return {"Authorization": f"Bearer {response.json['access_token']}"}


def test_seed_prints_the_demo_logins_and_is_idempotent(server):
    assert "admin@example.com" in server.seed_output
    assert "customer@example.com" in server.seed_output
    listing = server.request("GET", "/api/v1/products?per_page=100").json
    assert listing["total"] == 8
    assert len({item["sku"] for item in listing["items"]}) == 8


def test_docs_and_spec_are_served(server):
    docs = server.request("GET", "/docs")
    assert docs.status_code == 200
    assert b"swagger-ui" in docs.body
    spec = server.request("GET", "/api/v1/swagger.json")
    assert spec.json["info"]["title"] == "Storefront API"


def test_the_demo_admin_manages_a_product_end_to_end(server):
    admin = login(server, "admin@example.com", "admin-demo-password")
    created = server.request(
        "POST",
        "/api/v1/products",
        headers=admin,
        json_body={"sku": "LIVE-001", "name": "Live product", "price_cents": 500, "stock": 3},
    )
    assert created.status_code == 201
    location = created.headers["Location"]
    assert server.request("GET", location).json["name"] == "Live product"
    patched = server.request("PATCH", location, headers=admin, json_body={"stock": 9})
    assert patched.json["stock"] == 9
    assert server.request("DELETE", location, headers=admin).status_code == 204
    assert server.request("GET", location).status_code == 404


def test_a_customer_cannot_write_the_catalog(server):
    customer = login(server, "customer@example.com", "customer-demo-password")
    response = server.request(
        "POST",
        "/api/v1/products",
        headers=customer,
        json_body={"sku": "NOPE-1", "name": "x", "price_cents": 1},
    )
    assert response.status_code == 403


def test_a_revoked_token_is_refused_by_every_worker(server):
    headers = login(server, "customer@example.com", "customer-demo-password")
    assert server.request("GET", "/api/v1/auth/me", headers=headers).status_code == 200
    assert server.request("POST", "/api/v1/auth/logout", headers=headers).status_code == 204
    # Enough requests that both workers answer at least once.
    statuses = {
        server.request("GET", "/api/v1/auth/me", headers=headers).status_code for _ in range(20)
    }
    assert statuses == {401}


def test_readiness_checks_the_database(server):
    assert server.request("GET", "/ready").json == {
        "status": "ready",
        "database": "ok",
        "checks": {"database": "ok"},
    }


def send_chunked(server, method: str, path: str, chunks, headers: dict) -> LiveResponse:
    """Send a body in chunked transfer encoding (no ``Content-Length``) with http.client.

    The response is contract-checked like every other. When the server refuses
    the body before reading it all, it may close the connection while the rest
    is still being sent; the response it wrote first is what counts.
    """
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        connection.putrequest(method, path)
        for name, value in {**headers, "Transfer-Encoding": "chunked"}.items():
            connection.putheader(name, value)
        connection.endheaders()
        try:
            for chunk in chunks:
                connection.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            connection.send(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused early: read the answer it sent before closing
        raw = connection.getresponse()
        response = LiveResponse(raw.status, raw.headers, raw.read())
    finally:
        connection.close()
    server.contract.check(method, path, response)
    return response


def test_a_chunked_body_over_max_body_mb_is_a_413(server):
    admin = login(server, "admin@example.com", "admin-demo-password")
    product = {"sku": "CHUNKED-1", "name": "Chunked", "price_cents": 100}
    chunks = [json.dumps(product).encode(), *[b" " * 65536] * 40]  # 2.5 MB of spaces

    response = send_chunked(
        server,
        "POST",
        "/api/v1/products",
        chunks,
        {**admin, "Content-Type": "application/json"},
    )

    assert response.status_code == 413, response.body[:300]
    assert response.mimetype == "application/problem+json"
    found = server.request("GET", "/api/v1/products?q=CHUNKED-1").json
    assert found["total"] == 0


def test_a_chunked_body_within_the_limit_is_read_whole(server):
    admin = login(server, "admin@example.com", "admin-demo-password")
    product = {"sku": "CHUNKED-2", "name": "Chunked", "price_cents": 100}
    text = json.dumps(product).encode()

    response = send_chunked(
        server,
        "POST",
        "/api/v1/products",
        [text[:10], text[10:], b" " * 1000],
        {**admin, "Content-Type": "application/json"},
    )

    assert response.status_code == 201, response.body[:300]
    assert json.loads(response.body)["sku"] == "CHUNKED-2"


def test_two_password_changes_at_once_answer_only_documented_statuses(server):
    # Both check the same current password, then both write the user: one wins
    # (200); the other finds the row changed (409) or its token revoked (401).
    # Each answer is contract-checked (LiveServer.request).
    seen = set()
    for trial in range(20):
        email = f"twice-{trial}@example.com"
        body = {"email": email, "password": "first long passphrase", "name": "Twice"}
        assert server.request("POST", "/api/v1/auth/register", json_body=body).status_code == 201
        headers = login(server, email, "first long passphrase")

        def change(new, headers=headers):
            body = {"current_password": "first long passphrase", "new_password": new}
            return server.request(
                "POST", "/api/v1/auth/password", headers=headers, json_body=body
            ).status_code

        statuses = race(
            lambda: change("second long passphrase"), lambda: change("third long passphrase")
        )
        assert set(statuses) <= {200, 401, 409}, statuses
        assert 200 in statuses, statuses
        seen |= set(statuses)
    assert seen - {200}, "the two changes never overlapped: nothing was raced"


# --- what gunicorn refuses before the app sees the request ------------------------------

PROBLEM_FIELDS = {"type", "title", "status", "detail", "instance", "request_id"}


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        # A request line over gunicorn's limit_request_line (4094 bytes).
        (b"GET /api/v1/products?q=" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
        # More header fields than limit_request_fields (100).
        (
            b"GET /api/v1/products HTTP/1.1\r\nHost: x\r\n"
            + b"".join(b"X-Field-%d: 1\r\n" % n for n in range(120))
            + b"\r\n",
            431,
        ),
        # Not HTTP at all.
        (b"HELLO\r\n\r\n", 400),
        # A Content-Length that is not a number.
        (
            b"POST /api/v1/products HTTP/1.1\r\nHost: x\r\nContent-Length: 12abc\r\n\r\n",
            400,
        ),
    ],
    ids=["long-request-line", "too-many-headers", "not-http", "bad-content-length"],
)
def test_what_gunicorn_refuses_is_a_problem_too(server, request_bytes, status):
    # Without nginx in front (make run, or gunicorn alone), gunicorn answers
    # these itself, before the app sees them: still problem+json, never HTML.
    answered, headers, body = raw_request(server.port, request_bytes)

    assert answered == status, body[:300]
    assert headers.get_content_type() == "application/problem+json"
    problem = json.loads(body)
    assert set(problem) == PROBLEM_FIELDS
    assert problem["type"] == "about:blank"
    assert problem["status"] == status
    assert problem["title"] == HTTPStatus(status).phrase
    assert problem["detail"]
    assert problem["instance"] == ""  # gunicorn could not read the request: no path
    assert re.fullmatch(r"[0-9a-f]{32}", problem["request_id"])
    assert headers["X-Request-ID"] == problem["request_id"]
    assert int(headers["Content-Length"]) == len(body)
