"""gunicorn settings for the Storefront API: ``gunicorn --config gunicorn.conf.py wsgi:app``.

gunicorn also reads this file by default when started from the project root.
Environment: ``HOST`` and ``PORT`` (bind address), ``WEB_CONCURRENCY`` (workers;
default 2 per CPU + 1), ``GUNICORN_WORKER_CLASS`` and ``GUNICORN_THREADS`` (the
worker class, ``gthread`` on PostgreSQL and ``sync`` on SQLite by default, and
a gthread worker's threads, 8),
``LOG_LEVEL``, ``ACCESS_LOG`` (``false`` drops gunicorn's access log; the app
logs every request itself), ``PROMETHEUS_MULTIPROC_DIR``
(where workers share their metrics; a fresh temporary directory by default).
Anything else can be overridden with ``GUNICORN_CMD_ARGS``, e.g. ``"--timeout 60"``
(not the worker class: with this file's threads, ``--worker-class sync`` there
would still run gthread).

Every line gunicorn writes is a JSON object, like the app's own. The master
deliberately imports nothing of the app: workers load it after the fork, so a
``kill -HUP`` reload serves new code. It does check the settings before it
starts any worker (``api/config.py``, loaded on its own), so that a refusal to
start is one line naming the setting.
"""

import importlib.util
import json
import logging
import os
import shutil
import sys
import tempfile
import uuid
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path

from gunicorn import glogging, util


def _cpus() -> int:
    """CPUs this process may run on (a container's cpuset, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _bind_address(host: str, port: str) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


bind = _bind_address(os.environ.get("HOST") or "127.0.0.1", os.environ.get("PORT") or "8000")
workers = int(os.environ.get("WEB_CONCURRENCY") or 2 * _cpus() + 1)


def _database_is_sqlite() -> bool:
    """Whether the app will run on SQLite: ``DATABASE_URL`` as the app reads it (or ``.env``)."""
    from dotenv import dotenv_values  # noqa: PLC0415 (the app's dependency, none of its code)

    url = (
        os.environ.get("DATABASE_URL")
        or dotenv_values(Path(__file__).resolve().parent / ".env").get("DATABASE_URL")
        or "sqlite:"
    )
    return url.startswith("sqlite")


# The worker class by measurement (docs/performance.md, "Worker class and async
# views"). On PostgreSQL, gthread: while a thread waits for a round trip the
# others go on, so at 2.5 ms per round trip it served about four times what
# sync did (8 threads 1.4-1.6 times 4); with the database on the same machine
# sync is about a quarter faster (GUNICORN_WORKER_CLASS=sync there). On
# SQLite, sync: there is no round trip to overlap, one writer at a
# time, and with threads the writers queue in SQLite's busy wait and every
# request shares the GIL (POST /orders at half the rate, p99 several times
# worse). gevent gained only on reads with a distant database, and needs a
# dependency and monkey-patching. Threads count only for gthread: gunicorn would
# quietly turn a sync worker with threads > 1 into gthread, so any other class
# gets 1 (and so the class is set here, not in GUNICORN_CMD_ARGS).
worker_class = os.environ.get("GUNICORN_WORKER_CLASS") or (
    "sync" if _database_is_sqlite() else "gthread"
)
threads = int(os.environ.get("GUNICORN_THREADS") or 8) if worker_class == "gthread" else 1

# A worker silent for `timeout` seconds is killed and replaced; on SIGTERM,
# workers get `graceful_timeout` seconds to finish their requests.
timeout = 30
graceful_timeout = 30
# The heartbeat file on tmpfs: a slow disk cannot stall workers into timeouts.
worker_tmp_dir = "/dev/shm" if Path("/dev/shm").is_dir() else None  # noqa: S108
# No gunicornc control socket: its default path is one per user, shared by every
# instance on the host, and deployments restart workers through signals.
control_socket_disable = True

loglevel = (os.environ.get("LOG_LEVEL") or "info").lower()
errorlog = "-"
accesslog = (
    None if (os.environ.get("ACCESS_LOG") or "true").lower() in ("0", "false", "no", "off") else "-"
)

# Metrics: prometheus_client chooses multiprocess mode when it is first
# imported, so the directory is set here, before any worker imports the app.
_OWN_METRICS_PREFIX = "storefront-metrics-"
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix=_OWN_METRICS_PREFIX)


def _own_metrics_dir() -> Path | None:
    """The metrics directory, if this file made it (also after a reload re-read the file)."""
    directory = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    made_here = directory.parent == Path(tempfile.gettempdir())
    return directory if made_here and directory.name.startswith(_OWN_METRICS_PREFIX) else None


# The exit status of a refusal to start, as gunicorn's own "App failed to load".
CONFIG_ERROR_STATUS = 4


def _settings_module():
    """``api/config.py`` as a module of its own, without importing the ``api`` package.

    It imports nothing of the app (``tests/unit/test_deployment.py`` keeps it so),
    so the master still holds no app code that a reload would have to replace.
    """
    path = Path(__file__).resolve().parent / "api" / "config.py"
    spec = importlib.util.spec_from_file_location("_storefront_settings", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _refuse_unsafe_settings(server) -> None:
    """Stop, in one log line naming the setting, when the app would refuse to start.

    The settings ``create_app`` reads, from the same environment (and ``.env``),
    checked once, before any worker is forked: otherwise every worker would fail
    on its own, each with its line (``wsgi.py``), and gunicorn 27 adds a
    traceback of its own when two of them fail at the same moment.
    """
    settings = _settings_module()
    try:
        settings.check_production_safety(
            settings.settings_from_env(root=Path(__file__).resolve().parent)
        )
    except settings.ConfigError as error:
        server.log.error("%s", error)
        sys.exit(CONFIG_ERROR_STATUS)


def on_starting(server):
    """Refuse unsafe settings; start the metrics from zero (an earlier run's would add in)."""
    _refuse_unsafe_settings(server)
    for stale in Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).glob("*.db"):
        stale.unlink()


def child_exit(server, worker):
    """Drop the live gauges of a worker that exited; its counts stay in the totals."""
    from prometheus_client import multiprocess  # noqa: PLC0415 (after the directory is set)

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    """Remove the metrics directory this file created."""
    directory = _own_metrics_dir()
    if directory is not None:
        shutil.rmtree(directory, ignore_errors=True)


# What gunicorn answers itself, before the app sees the request (a request line
# over limit_request_line, more header fields than limit_request_fields, bytes
# that are not HTTP): the problem+json the app and deploy/nginx.conf answer,
# not gunicorn's HTML page. gunicorn has no setting for that page; its workers
# write it with util.write_error, replaced here (the workers fork from this
# process, and tests/e2e/test_live_server.py checks what they send). The
# request could not be read, so there is no path for "instance"; the detail is
# ours, since gunicorn's message quotes what the client sent.
_REFUSAL_DETAILS = {
    400: "The request is malformed",
    414: "The request line is longer than this server accepts",
    431: "The request has more header fields, or a longer one, than this server accepts",
}


def _write_problem(sock, status_int, reason, mesg):
    """Send gunicorn's own refusal as a problem, with a request id of its own."""
    try:
        phrase = HTTPStatus(status_int).phrase
    except ValueError:  # not a status Python knows: gunicorn's phrase
        phrase = reason
    request_id = uuid.uuid4().hex
    body = json.dumps(
        {
            "type": "about:blank",
            "title": phrase,
            "status": status_int,
            "detail": _REFUSAL_DETAILS.get(status_int, phrase),
            "instance": "",
            "request_id": request_id,
        }
    ).encode()
    head = (
        f"HTTP/1.1 {status_int} {phrase}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/problem+json\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"X-Request-ID: {request_id}\r\n"
        "X-Content-Type-Options: nosniff\r\n"
        "\r\n"
    )
    util.write_nonblock(sock, head.encode("latin-1") + body)


util.write_error = _write_problem


# The same line shape as api.hooks.observability.JsonFormatter, written again on
# purpose: importing anything from api here would load the app into the master,
# and a `kill -HUP` reload would then keep serving the old code.
class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the fields the app's log lines have."""

    def format(self, record):
        """Render ``record`` as JSON; ``extra={"fields": {...}}`` adds fields."""
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
            **getattr(record, "fields", {}),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class JsonLogger(glogging.Logger):
    """gunicorn's logger, writing JSON: its error log, and an access log with the request id."""

    def setup(self, cfg):
        """Set up gunicorn's handlers, then make each of them write JSON."""
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.setFormatter(JsonFormatter())

    def access(self, resp, req, environ, request_time):
        """Log one answered request as JSON (``access_log_format`` is not used)."""
        if not self.access_log_enabled:
            return
        request_id = next((v for k, v in resp.headers if k.lower() == "x-request-id"), None)
        status = str(resp.status).split(None, 1)[0]
        fields = {
            "remote_addr": environ.get("REMOTE_ADDR"),
            "method": environ.get("REQUEST_METHOD"),
            "path": environ.get("PATH_INFO"),
            "query": environ.get("QUERY_STRING") or None,
            "protocol": environ.get("SERVER_PROTOCOL"),
            "status": int(status) if status.isdigit() else status,
            "bytes": getattr(resp, "sent", None),
            "duration_ms": round(request_time.total_seconds() * 1000, 2),
            "referer": environ.get("HTTP_REFERER"),
            "user_agent": environ.get("HTTP_USER_AGENT"),
            "request_id": request_id,
        }
        self.access_log.info("access", extra={"fields": fields})


logger_class = JsonLogger
