"""A live gunicorn serving the app, and a small HTTP client whose responses are contract-checked."""

import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path

from tests.contract import Contract
from tests.databases import fresh_database

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LiveResponse:
    """The parts of a response the contract check reads, from urllib."""

    status_code: int
    headers: Message
    body: bytes

    @property
    def mimetype(self) -> str:
        """The media type without parameters."""
        return self.headers.get_content_type() if self.headers.get("Content-Type") else ""

    def get_data(self) -> bytes:
        """The raw body."""
        return self.body

    def get_json(self, force: bool = False):
        """The body parsed as JSON."""
        return json.loads(self.body)

    @property
    def json(self):
        """The body parsed as JSON."""
        return self.get_json()


@dataclass
class LiveServer:
    """gunicorn running ``wsgi:app`` with its own environment and database."""

    env: dict
    workers: int = 2
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None
    seed_output: str = ""
    contract: Contract = field(default_factory=Contract.load)

    @property
    def url(self) -> str:
        """Base URL of the server."""
        return f"http://127.0.0.1:{self.port}"

    def flask(self, *args: str) -> str:
        """Run ``flask --app wsgi ARGS`` with the server's environment; return stdout."""
        result = subprocess.run(
            [str(BIN / "flask"), "--app", "wsgi", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    def start(self) -> "LiveServer":
        """Start gunicorn and wait until /health answers."""
        self.process = subprocess.Popen(
            [
                str(BIN / "gunicorn"),
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(self.workers),
                "wsgi:app",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {self.process.stderr.read().decode()}")
            try:
                if self.request("GET", "/health").status_code == 200:
                    return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("gunicorn did not answer /health within 30 s")

    def stop(self) -> None:
        """Stop gunicorn gracefully."""
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=30)
            self.process.stderr.close()

    def request(
        self, method: str, path: str, *, json_body=None, headers=None, body=None, content_type=None
    ) -> LiveResponse:
        """Send a request and check the response against the contract.

        The body is ``json_body`` as JSON, or the bytes ``body`` of ``content_type``.
        """
        data = body if json_body is None else json.dumps(json_body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", content_type or "application/json")
        for key, value in (headers or {}).items():
            request.add_header(key, value)
        try:
            with urllib.request.urlopen(request, timeout=30) as raw:
                response = LiveResponse(raw.status, raw.headers, raw.read())
        except urllib.error.HTTPError as error:
            response = LiveResponse(error.code, error.headers, error.read())
        self.contract.check(method, path.split("?", 1)[0], response)
        return response


def race(*calls) -> list:
    """Run ``calls`` at once, released by one barrier; their results, in order."""
    start = threading.Barrier(len(calls))

    def released(call):
        start.wait()
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return [future.result() for future in [pool.submit(released, call) for call in calls]]


def raw_request(port: int, request: bytes) -> tuple[int, Message, bytes]:
    """Send ``request`` as bytes (what http.client would refuse to send); parse the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        response = http.client.HTTPResponse(sock)
        response.begin()
        return response.status, response.msg, response.read()


def server_env(database_url: str, **extra: str) -> dict:
    """The environment of a live server: the caller's, minus test-only variables.

    Rate limiting is off and Redis unused unless ``extra`` sets ``RATELIMIT_ENABLED``
    and ``REDIS_URL``; any variable in ``extra`` overrides these defaults.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEST_", "PYTEST"))}
    env.update(
        APP_ENV="development",
        DATABASE_URL=database_url,
        RATELIMIT_ENABLED="false",
        LOG_LEVEL="WARNING",
        ARGON2_TIME_COST="1",
        ARGON2_MEMORY_KIB="64",
    )
    env.update(extra)
    if "REDIS_URL" not in extra:
        env.pop("REDIS_URL", None)
    return env


@contextmanager
def job_worker(env: dict) -> Iterator[subprocess.Popen]:
    """A ``flask --app wsgi worker`` with ``env``, stopped (gracefully) afterwards."""
    process = subprocess.Popen(
        [str(BIN / "flask"), "--app", "wsgi", "worker", "--threads", "1"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def seeded_server(
    scratch: Path, *, workers: int = 2, job_worker_too: bool = False, **env: str
) -> Iterator[LiveServer]:
    """A gunicorn on a fresh, migrated and seeded database, stopped afterwards.

    ``env`` adds to or overrides ``server_env``'s settings. Jobs use a folder
    (and a SQLite queue) of their own under ``scratch``; ``job_worker_too``
    starts a job worker beside gunicorn.
    """

    with fresh_database(scratch) as url:
        env = {"JOB_FOLDER": str(scratch / "jobs"), **env}
        live = LiveServer(server_env(url, **env), workers=workers)
        live.flask("db", "upgrade")
        live.seed_output = live.flask("seed")
        live.start()
        try:
            if job_worker_too:
                with job_worker(live.env):
                    yield live
            else:
                yield live
        finally:
            live.stop()


@contextmanager
def shared_instances(scratch: Path, *, names=("a", "b"), **env: str) -> Iterator[list[LiveServer]]:
    """gunicorn instances on one fresh, migrated and seeded database, stopped afterwards.

    ``env`` adds to ``server_env``'s settings for all of them (a shared
    ``REDIS_URL`` and ``REDIS_KEY_PREFIX``); each gets a metrics directory of
    its own, since gunicorn.conf.py empties it on start.
    """
    with fresh_database(scratch) as url:
        servers = []
        for name in names:
            metrics = scratch / f"metrics-{name}"
            metrics.mkdir()
            servers.append(
                LiveServer(server_env(url, PROMETHEUS_MULTIPROC_DIR=str(metrics), **env))
            )
        servers[0].flask("db", "upgrade")
        servers[0].flask("seed")
        # Started and stopped side by side: each takes seconds, mostly importing the app.
        with ThreadPoolExecutor(max_workers=len(servers)) as pool:
            try:
                list(pool.map(LiveServer.start, servers))
                yield servers
            finally:
                list(pool.map(LiveServer.stop, servers))
