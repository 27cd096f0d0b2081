"""The processes under test: the app under gunicorn as in production, the baseline, the peers.

The app and the baseline run on loopback with two sync workers, the FastAPI
peers (``bench/peers/``) with two of uvicorn's. The app is started exactly as
the Dockerfile starts it (``gunicorn --config gunicorn.conf.py wsgi:app``) with
a production environment: generated secrets, rate limits on with a ceiling the
benchmark cannot reach, request logging, CORS and metrics on. Logs go to files,
so the terminal shows the benchmark and the logs stay inspectable.
"""

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
# The harness runs in the project's venv; gunicorn and flask are beside its python.
BIN = Path(sys.executable).parent
WORKERS = 2

# One set per harness run: the seed's `flask db upgrade` and the server share them.
_SECRETS = {
    "SECRET_KEY": secrets.token_urlsafe(32),
    "JWT_SECRET_KEY": secrets.token_urlsafe(48),
    "METRICS_TOKEN": secrets.token_urlsafe(24),
}
# Only what a process needs to run; the developer's own APP_ENV, FLASK_DEBUG or
# REDIS_URL must not leak into a measurement. PYTHONPATH does pass: it is how a
# package the venv lacks (gevent for `make bench-workers`) can reach the servers.
_PASSED_THROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "PYTHONPATH")


def production_env(database_url: str, **extra: str) -> dict:
    """The environment of the app in production, with every feature switched on.

    The rate limits stay enabled with a ceiling no run reaches, so the limiter's
    bookkeeping is measured without its 429s. ``REDIS_URL`` is set empty so that
    a ``.env`` file cannot switch the stores (load_dotenv never overrides).
    """
    env = {name: os.environ[name] for name in _PASSED_THROUGH if name in os.environ}
    env.update(
        _SECRETS,
        APP_ENV="production",
        DATABASE_URL=database_url,
        REDIS_URL="",
        RATELIMIT_ENABLED="true",
        RATELIMIT_DEFAULT="1000000 per minute",
        # Each session logs in afresh, and the login limit is counted in the database,
        # across servers: bench-workers starts one app after another on one database.
        RATELIMIT_LOGIN="1000000 per minute",
        CORS_ORIGINS="https://shop.example",
        LOG_LEVEL="INFO",
        PYTHONDONTWRITEBYTECODE="1",
        **extra,
    )
    return env


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http(url: str, *, method: str = "GET", body: bytes | None = None, headers=None):
    """Send one request; return (status, headers, body) whatever the status."""
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


@dataclass
class Gunicorn:
    """One gunicorn master and its workers, on a loopback port."""

    name: str
    argv: list[str]
    env: dict
    cwd: Path
    log_path: Path
    health_path: str
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        """Base URL of the server."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> "Gunicorn":
        """Start gunicorn and wait until every worker is up and the health path answers."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:  # truncated: one run's log per file
            self.process = subprocess.Popen(
                self.argv,
                cwd=self.cwd,
                env={**self.env, "PORT": str(self.port), "HOST": "127.0.0.1"},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited; see {self.log_path}")
            try:
                status, _, _ = http(self.url + self.health_path)
                if status == 200 and len(self.worker_pids()) == WORKERS:
                    return self
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"{self.name} did not answer {self.health_path}; see {self.log_path}")

    def stop(self) -> None:
        """Stop gunicorn: SIGTERM lets workers finish their requests."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def worker_pids(self) -> list[int]:
        """The pids of the master's children (the workers), from /proc."""
        if self.process is None:
            return []
        return sorted(pid for pid, ppid in _parents().items() if ppid == self.process.pid)

    def worker_rss_mib(self) -> dict[int, float]:
        """Resident memory of each worker, in MiB (VmRSS from /proc/PID/status)."""
        return {pid: _rss_kib(pid) / 1024 for pid in self.worker_pids()}

    def wait_idle(self, timeout: float = 60) -> None:
        """Return once the workers stop using CPU.

        wrk stops at its deadline, but requests already queued in the listen
        backlog are still served; on a slow endpoint that is seconds of work
        which would otherwise run during the next measurement.
        """
        pids = self.worker_pids()
        deadline = time.monotonic() + timeout
        last, quiet = _cpu_ticks(pids), 0
        while quiet < 2 and time.monotonic() < deadline:
            time.sleep(0.25)
            now = _cpu_ticks(pids)
            quiet = quiet + 1 if now - last <= 1 else 0
            last = now


def app_server(env: dict, log_path: Path, name: str = "app") -> Gunicorn:
    """The Storefront API as production runs it (the Dockerfile's command).

    Everything in ``env`` reaches the workers (``RESPONSE_CACHE``) and
    gunicorn.conf.py (``GUNICORN_WORKER_CLASS``): the master passes it on.
    """
    return Gunicorn(
        name=name,
        argv=[str(BIN / "gunicorn"), "--config", "gunicorn.conf.py", "wsgi:app"],
        env={**env, "WEB_CONCURRENCY": str(WORKERS)},
        cwd=ROOT,
        log_path=log_path,
        health_path="/health",
    )


def baseline_server(log_path: Path) -> Gunicorn:
    """The bare-Flask baseline, two sync workers and gunicorn's defaults otherwise.

    Started from bench/, so the project's gunicorn.conf.py (which gunicorn reads
    from the working directory by default) does not apply to it; the control
    socket is off all the same, as that file has it.
    """
    env = {name: os.environ[name] for name in _PASSED_THROUGH if name in os.environ}
    port = free_port()
    return Gunicorn(
        name="baseline",
        argv=[
            str(BIN / "gunicorn"),
            "--workers",
            str(WORKERS),
            "--bind",
            f"127.0.0.1:{port}",
            "--no-control-socket",  # see peer_server
            "baseline_app:app",
        ],
        env=env,
        cwd=BENCH,
        log_path=log_path,
        health_path="/",
        port=port,
    )


# The FastAPI peers (bench/peers/): module under bench/, and a name for the tables.
PEERS = {"fastapi_sync": "FastAPI sync", "fastapi_async": "FastAPI async"}


def peer_server(name: str, database_url: str, log_path: Path) -> Gunicorn:
    """A FastAPI peer as its documentation deploys it: gunicorn, uvicorn's worker class.

    As many workers as the app, on the app's database (the async peer turns a
    SQLite URL into aiosqlite's itself). Started from bench/ like the baseline,
    so the project's gunicorn.conf.py does not apply; the access log is on, as
    the app's request log is.
    """
    env = {name: os.environ[name] for name in _PASSED_THROUGH if name in os.environ}
    port = free_port()
    return Gunicorn(
        name=name,
        argv=[
            str(BIN / "gunicorn"),
            "--workers",
            str(WORKERS),
            "--worker-class",
            "uvicorn_worker.UvicornWorker",
            "--bind",
            f"127.0.0.1:{port}",
            "--access-logfile",
            "-",
            # gunicorn's control socket defaults to one path per user, which every
            # other gunicorn on the machine would share.
            "--no-control-socket",
            f"peers.{name}:app",
        ],
        env={**env, "DATABASE_URL": database_url, "PYTHONDONTWRITEBYTECODE": "1"},
        cwd=BENCH,
        log_path=log_path,
        health_path="/health",
        port=port,
    )


def _parents() -> dict[int, int]:
    """pid -> parent pid for every process (field 4 of /proc/PID/stat)."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # exited meanwhile
            continue
        # The command name (field 2) is in parentheses and may contain spaces.
        fields = stat[stat.rindex(")") + 2 :].split()
        parents[int(entry.name)] = int(fields[1])
    return parents


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _cpu_ticks(pids: list[int]) -> int:
    """User plus system CPU time of ``pids``, in clock ticks."""
    total = 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total
