"""deploy/nginx.conf in front of a live gunicorn, with Debian's nginx.

The committed file, changed only where it names addresses (the compose
service ``api`` and port 80 become loopback ports), inside an http block like
the official image's. Checked: requests go through with the client's address,
which rate limits count by (``BEHIND_PROXY``), while what a client claims in
``X-Forwarded-*`` does not pass; a client sending its headers slowly does not
hold the one sync worker, as it does without nginx; the errors nginx answers
itself are problems. Without nginx these tests are skipped, except in CI
(``CI`` set), where ``.ci/run`` installs ``nginx-light`` and its absence fails them.
"""

import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
from email.message import Message
from http import HTTPStatus
from pathlib import Path

import pytest

from tests.contract import Contract
from tests.e2e.live import LiveResponse, free_port, raw_request, seeded_server

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "deploy" / "nginx.conf"
# The official image's http block, as far as it matters: a directive the site
# file repeated from it would fail here as it would there.
MAIN = """\
{user}
worker_processes 1;
pid {scratch}/nginx.pid;
error_log {scratch}/error.log warn;
events {{ worker_connections 256; }}
http {{
    {mime_types}
    default_type application/octet-stream;
    sendfile on;
    keepalive_timeout 65;
    access_log {scratch}/access.log;
    client_body_temp_path {scratch}/body;
    proxy_temp_path {scratch}/proxy;
    fastcgi_temp_path {scratch}/fastcgi;
    uwsgi_temp_path {scratch}/uwsgi;
    scgi_temp_path {scratch}/scgi;
    include {scratch}/site.conf;
}}
"""
LIMIT = 2  # requests a minute per client on each operation
HEADER_TIMEOUT = 10  # client_header_timeout in deploy/nginx.conf

pytestmark = pytest.mark.slow


def nginx_binary() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else "")
    if not found:
        message = "Debian's nginx is not installed: apt-get install nginx-light"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI installs it (.ci/run); its absence is a bug there
        pytest.skip(message)
    return found


class Nginx:
    """nginx running deploy/nginx.conf in front of ``app_port``, on a port of its own."""

    def __init__(self, scratch: Path, app_port: int):
        self.binary = nginx_binary()
        self.scratch = scratch
        self.port = free_port()
        site = SITE.read_text()
        adapted = site.replace("http://api:8000", f"http://127.0.0.1:{app_port}")
        adapted = re.sub(r"listen 80;", f"listen 127.0.0.1:{self.port};", adapted)
        assert adapted.count(f"127.0.0.1:{app_port}") == 1, "proxy_pass names http://api:8000"
        assert adapted.count(f"127.0.0.1:{self.port}") == 1, "the server listens on port 80"
        scratch.mkdir(parents=True, exist_ok=True)
        (scratch / "site.conf").write_text(adapted)
        mime_types = Path("/etc/nginx/mime.types")
        (scratch / "main.conf").write_text(
            MAIN.format(
                scratch=scratch,
                # Run as root (CI), nginx's workers would drop to nobody, who cannot
                # write the temporary directories here.
                user="user root;" if os.geteuid() == 0 else "",
                mime_types=f"include {mime_types};" if mime_types.exists() else "",
            )
        )
        self.process = None

    def command(self, *extra: str) -> list[str]:
        """nginx with this configuration (and its error log here from the first line)."""
        main = str(self.scratch / "main.conf")
        return [self.binary, "-c", main, "-p", str(self.scratch), "-e", "stderr", *extra]

    def start(self) -> "Nginx":
        """Check the configuration, start nginx and wait until it accepts connections."""
        check = subprocess.run(
            self.command("-t"), capture_output=True, text=True, timeout=30, check=False
        )
        assert check.returncode == 0, check.stderr
        self.process = subprocess.Popen(
            self.command("-g", "daemon off;"), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.process.stderr.read().decode()
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("nginx did not accept connections within 10 s")

    def stop(self) -> None:
        """Stop nginx (and its worker) and close its log pipe."""
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process.stderr.close()


@pytest.fixture(scope="module")
def app_server(tmp_path_factory):
    """One sync worker, behind a proxy, with a small rate limit.

    Sync (the default on SQLite) pinned, so that one slow client is enough to
    show what nginx is for: with gthread, the default on PostgreSQL, it takes
    one per thread.
    """
    scratch = tmp_path_factory.mktemp("behind-nginx")
    with seeded_server(
        scratch,
        workers=1,
        GUNICORN_WORKER_CLASS="sync",
        BEHIND_PROXY="true",
        RATELIMIT_ENABLED="true",
        RATELIMIT_DEFAULT=f"{LIMIT} per minute",
        UPLOAD_FOLDER=str(scratch / "uploads"),
    ) as live:
        yield live


@pytest.fixture(scope="module")
def proxy(app_server, tmp_path_factory):
    nginx = Nginx(tmp_path_factory.mktemp("nginx"), app_server.port).start()
    yield nginx
    nginx.stop()


def send(port, method, path, *, source="127.0.0.1", headers=None, timeout=10) -> LiveResponse:
    """One request from the loopback address ``source`` (all of 127/8 is this machine)."""
    connection = http.client.HTTPConnection(
        "127.0.0.1", port, timeout=timeout, source_address=(source, 0)
    )
    try:
        connection.request(method, path, headers=headers or {})
        raw = connection.getresponse()
        return LiveResponse(raw.status, raw.msg, raw.read())
    finally:
        connection.close()


@pytest.fixture(scope="module")
def contract() -> Contract:
    return Contract.load()


# --- who the client is ------------------------------------------------------------------


def test_requests_go_through_and_count_as_their_client(proxy, contract):
    products = "/api/v1/products"

    first = [send(proxy.port, "GET", products, source="127.0.0.2") for _ in range(LIMIT)]
    for response in first:
        contract.check("GET", products, response)
    # A client claiming to be someone else is still itself: nginx appends the
    # address it sees, and the app trusts that last hop only.
    spent = send(proxy.port, "GET", products, source="127.0.0.2",
                 headers={"X-Forwarded-For": "203.0.113.7"})  # fmt: skip
    other = send(proxy.port, "GET", products, source="127.0.0.3")

    assert [r.status_code for r in first] == [200] * LIMIT
    assert first[0].json["items"], "the seeded catalog, through nginx"
    assert spent.status_code == 429
    contract.check("GET", products, spent)
    assert other.status_code == 200  # the app told the two clients apart


def test_a_client_cannot_claim_https_or_a_prefix(proxy):
    response = send(
        proxy.port,
        "GET",
        "/docs",
        source="127.0.0.4",
        headers={"X-Forwarded-Proto": "https", "X-Forwarded-Prefix": "/elsewhere"},
    )

    assert response.status_code == 200
    assert "Strict-Transport-Security" not in response.headers  # nginx spoke plain http
    page = response.body.decode()
    assert 'data-spec-url="/api/v1/openapi.json"' in page
    assert "/elsewhere" not in page


# --- slow clients -----------------------------------------------------------------------


class SlowClient:
    """Sends a request's headers a byte at a time, never finishing, until the server hangs up."""

    def __init__(self, port: int, interval: float = 0.3):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.interval = interval
        self.closed_after: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._dribble, daemon=True)
        self._started = time.monotonic()
        self._thread.start()

    def _dribble(self) -> None:
        header = b"GET /health HTTP/1.1\r\nHost: slow\r\nX-Slow: " + b"z" * 1000
        try:
            for byte in header:
                if self._stop.wait(self.interval):
                    return
                self.sock.sendall(bytes([byte]))
                self.sock.setblocking(False)
                try:
                    if self.sock.recv(1024) == b"":  # the server closed the connection
                        break
                except BlockingIOError:
                    pass
                finally:
                    self.sock.setblocking(True)
        except OSError:  # reset by the server
            pass
        self.closed_after = time.monotonic() - self._started

    def wait_closed(self, timeout: float) -> float | None:
        """Seconds until the server closed the connection, or None within ``timeout``."""
        self._thread.join(timeout)
        return self.closed_after

    def close(self) -> None:
        """Stop sending and close the connection."""
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


def test_a_slow_client_holds_the_only_worker_without_nginx(app_server):
    # The control: what nginx is for. gunicorn's sync worker waits for the headers.
    slow = SlowClient(app_server.port)
    try:
        time.sleep(0.5)
        with pytest.raises(TimeoutError):
            send(app_server.port, "GET", "/health", timeout=2)
    finally:
        slow.close()
    assert send(app_server.port, "GET", "/health").status_code == 200


def test_slow_clients_do_not_hold_the_worker_behind_nginx_and_are_cut_off(proxy):
    slow = [SlowClient(proxy.port) for _ in range(2)]
    try:
        time.sleep(0.5)
        for _ in range(3):
            started = time.monotonic()
            assert send(proxy.port, "GET", "/health", timeout=2).status_code == 200
            assert time.monotonic() - started < 1
        # nginx gives a request's headers client_header_timeout to arrive, then hangs up.
        for client in slow:
            closed = client.wait_closed(HEADER_TIMEOUT + 10)
            assert closed is not None
            assert HEADER_TIMEOUT - 1 <= closed <= HEADER_TIMEOUT + 5
    finally:
        for client in slow:
            client.close()


# --- what nginx answers itself ----------------------------------------------------------


def assert_nginx_problem(status: int, headers: Message, body: bytes, expected: int) -> dict:
    assert status == expected, body[:300]
    assert headers.get_content_type() == "application/problem+json"
    problem = json.loads(body)
    assert problem["type"] == "about:blank"
    assert problem["status"] == expected
    assert problem["title"] == HTTPStatus(expected).phrase
    assert problem["detail"]
    assert problem["request_id"] == headers["X-Request-ID"]
    return problem


def test_a_long_uri_is_a_414_problem(proxy):
    response = send(proxy.port, "GET", "/api/v1/products?q=" + "a" * 5000)

    assert_nginx_problem(response.status_code, response.headers, response.body, 414)


def test_a_too_large_header_is_a_400_problem(proxy):
    response = send(proxy.port, "GET", "/api/v1/products", headers={"X-Big": "a" * 5000})

    problem = assert_nginx_problem(response.status_code, response.headers, response.body, 400)
    assert problem["instance"] == "/api/v1/products"


def test_a_body_over_nginxs_limit_is_a_413_problem(proxy):
    status, headers, body = raw_request(
        proxy.port,
        b"POST /api/v1/products HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 7000000\r\n\r\n",
    )

    problem = assert_nginx_problem(status, headers, body, 413)
    assert problem["instance"] == "/api/v1/products"


def test_a_malformed_content_length_is_a_400_problem(proxy):
    status, headers, body = raw_request(
        proxy.port, b"POST /api/v1/products HTTP/1.1\r\nHost: x\r\nContent-Length: 12abc\r\n\r\n"
    )

    assert_nginx_problem(status, headers, body, 400)


def test_an_api_that_does_not_answer_is_a_502_problem(tmp_path):
    nginx = Nginx(tmp_path / "nginx", app_port=free_port()).start()  # nothing listens there
    try:
        response = send(nginx.port, "GET", "/api/v1/products")
    finally:
        nginx.stop()

    problem = assert_nginx_problem(response.status_code, response.headers, response.body, 502)
    assert problem["instance"] == "/api/v1/products"


def test_a_path_json_cannot_quote_as_it_is_is_no_instance(tmp_path):
    nginx = Nginx(tmp_path / "nginx", app_port=free_port()).start()
    try:
        response = send(nginx.port, "GET", '/api/v1/products/"quoted"\\?q="x"')
    finally:
        nginx.stop()

    problem = assert_nginx_problem(response.status_code, response.headers, response.body, 502)
    assert problem["instance"] == ""
