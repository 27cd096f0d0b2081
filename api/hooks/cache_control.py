"""``Cache-Control`` for responses with secrets or one user's data, decided once for all.

- A response that carries tokens (login, refresh, a password change: whatever
  minted one) is ``no-store``, with ``Pragma: no-cache`` for HTTP/1.0 caches,
  as RFC 6749 §5.1 asks of every token response.
- A response to a request with credentials (an ``Authorization`` header) may
  hold that user's data (their account, their orders), so it is ``private``:
  the user's own browser may keep it, no shared cache (a CDN, a proxy) may.

A view that sets its own ``Cache-Control`` (product images) keeps it, and a
public read without credentials gets none, so it stays cacheable.
"""

from flask import request

from api.auth import tokens_minted


def _cache_control(response):
    headers = response.headers
    if "Cache-Control" in headers:
        return response
    if tokens_minted():
        headers["Cache-Control"] = "no-store"
        headers["Pragma"] = "no-cache"
    elif "Authorization" in request.headers:
        headers["Cache-Control"] = "private"
    return response


def register_cache_control(app) -> None:
    """Mark token responses ``no-store`` and responses to requests with credentials ``private``."""
    app.after_request(_cache_control)
