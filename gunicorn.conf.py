"""gunicorn settings for the Storefront API: ``gunicorn --config gunicorn.conf.py wsgi:app``.

gunicorn also reads this file by default when started from the project root.
Environment: ``HOST`` and ``PORT`` (bind address), ``WEB_CONCURRENCY`` (workers;
default 2 per CPU + 1), ``LOG_LEVEL``, ``ACCESS_LOG`` (``false`` drops gunicorn's
access log; the app logs every request itself), ``PROMETHEUS_MULTIPROC_DIR``
(where workers share their metrics; a fresh temporary directory by default).
Anything else can be overridden with ``GUNICORN_CMD_ARGS``, e.g. ``"--timeout 60"``.

Every line gunicorn writes is a JSON object, like the app's own. The master
deliberately imports nothing of the app: workers load it after the fork, so a
``kill -HUP`` reload serves new code.
"""

import json
import logging
import os
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from gunicorn import glogging


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


def on_starting(server):
    """Start the metrics from zero: files left by an earlier run would be added in."""
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
