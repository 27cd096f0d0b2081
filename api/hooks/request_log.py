"""One structured log line per request: method, path, status, duration, request id, user.

Flask's ``request_started`` and ``request_finished`` signals bracket the whole
request, every ``before_request`` hook (the rate limiter's 429 included) and
every ``after_request`` hook, so the line carries the final status whichever way
the response was made.
"""

import logging
import time

from flask import g, request, request_finished, request_started
from flask_jwt_extended import get_jwt

logger = logging.getLogger("api.request")


def _start_clock(_app, **_extra) -> None:
    g.request_log_started = time.perf_counter()


def _user_id() -> int | None:
    """The id of the token's user, when the operation verified a token.

    Nothing is decoded here: an operation that checked no token, or refused it,
    logs no user, and an invalid token neither fails nor logs anything more.
    """
    try:
        subject = get_jwt().get("sub")
    except RuntimeError:  # no token was verified in this request
        return None
    return int(subject) if isinstance(subject, str) and subject.isdigit() else None


def _log_request(_app, response, **_extra) -> None:
    started = g.get("request_log_started")
    duration_ms = None if started is None else round((time.perf_counter() - started) * 1000, 2)
    logger.info(
        "%s %s %s",
        request.method,
        request.path,
        response.status_code,
        extra={
            "method": request.method,
            "path": request.path,
            "status": response.status_code,
            "duration_ms": duration_ms,
            "user_id": _user_id(),
        },
    )


def register_request_log(app) -> None:
    """Log every request of ``app`` at INFO (a ``LOG_LEVEL`` above INFO hides the lines)."""
    request_started.connect(_start_clock, app)
    request_finished.connect(_log_request, app)
