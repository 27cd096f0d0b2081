"""Request ids and logging: every log line is JSON and names the request it belongs to."""

import json
import logging
import re
import sys
import uuid
from datetime import UTC, datetime

from flask import g, has_request_context, request

REQUEST_ID_HEADER = "X-Request-ID"
# A client-supplied id is echoed and logged, so only a safe shape is accepted.
VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class RequestIdFilter(logging.Filter):
    """Add ``request_id`` (``-`` outside a request) to every log record."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Attach the current request id; never drops a record."""
        record.request_id = g.get("request_id", "-") if has_request_context() else "-"
        return True


# Attributes every LogRecord has; anything else came from ``extra=`` and is logged as a field.
_RECORD_ATTRIBUTES = {
    *vars(logging.LogRecord("", 0, "", 0, "", (), None)),
    "message",
    "asctime",
    "request_id",
}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id, and extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record``, with its traceback (if any) as the ``exception`` field."""
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _RECORD_ATTRIBUTES})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str)


def register_logging(app) -> None:
    """Log JSON lines to stdout at ``LOG_LEVEL``, each carrying the request id."""
    handler = logging.StreamHandler(sys.stdout)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter())
    app.logger.handlers[:] = [handler]
    app.logger.setLevel(app.config["LOG_LEVEL"])
    app.logger.propagate = False


def register_request_id(app) -> None:
    """Accept a valid ``X-Request-ID`` or make one, and echo it on the response."""

    @app.before_request
    def assign_request_id():
        supplied = request.headers.get(REQUEST_ID_HEADER, "")
        g.request_id = supplied if VALID_REQUEST_ID.match(supplied) else uuid.uuid4().hex

    @app.after_request
    def echo_request_id(response):
        if "request_id" in g:
            response.headers[REQUEST_ID_HEADER] = g.request_id
        return response
