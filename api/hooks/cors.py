"""Cross-origin requests from browsers, for the origins in ``CORS_ORIGINS`` only.

Tokens travel in the ``Authorization`` header, never in cookies, so credentials
mode is off. Preflight ``OPTIONS`` requests are answered by flask-cors; the
headers a browser client needs to read are exposed.
"""

from flask import request
from flask_cors import CORS

# Checked with the other settings (``settings_from_env``), and again here for an
# app built with its own ``CORS_ORIGINS``.
from api.config import check_origin

ALLOWED_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
ALLOWED_HEADERS = [
    "Accept",
    "Authorization",
    "Content-Type",
    "Idempotency-Key",
    "If-Match",
    "If-None-Match",
    "X-Request-ID",
]
EXPOSED_HEADERS = [
    "ETag",
    "Link",
    "Location",
    "Retry-After",
    "WWW-Authenticate",
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
    "X-Request-ID",
]
# How long a browser may cache a preflight answer (Chromium caps it at 2 hours).
PREFLIGHT_MAX_AGE = 600


def _is_preflight() -> bool:
    return request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers


def _vary_by_origin(response):
    # Whether the response carries Access-Control-Allow-Origin depends on the
    # request's Origin, so caches must keep one copy per origin. The header is
    # edited as text: ``response.vary`` parses it into a set and writes it back,
    # several times the cost, on every response.
    headers = response.headers
    vary = headers.get("Vary")
    if not vary:
        headers["Vary"] = "Origin"
    elif "origin" not in (value.strip().lower() for value in vary.split(",")):
        headers["Vary"] = f"{vary}, Origin"
    return response


def register_cors(app) -> None:
    """Answer cross-origin requests from ``CORS_ORIGINS``; without any, send no CORS headers.

    Call it after the rate limiter: preflights are exempt from limits, since a
    browser that is refused one never sends the request it asked about.
    """
    origins = [check_origin(origin) for origin in app.config["CORS_ORIGINS"]]
    if not origins:
        return
    limiter = app.extensions.get("storefront.limiter")
    if limiter is not None:
        limiter.request_filter(_is_preflight)
    app.after_request(_vary_by_origin)
    CORS(
        app,
        origins=origins,
        methods=ALLOWED_METHODS,
        allow_headers=ALLOWED_HEADERS,
        expose_headers=EXPOSED_HEADERS,
        max_age=PREFLIGHT_MAX_AGE,
        supports_credentials=False,
    )
