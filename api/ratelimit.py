"""Rate limits: one flask-limiter ``Limiter`` per app, limits declared on resources.

flask-limiter keeps its switch, storage and default limits on the ``Limiter``
object itself, so a module-level instance shared by several apps (every test
builds its own) would run with whichever app initialised it last. Each app gets
its own here; a resource names the setting that holds its limit instead of
decorating itself with one particular limiter.

Whom a limit counts: a caller with a valid access token is counted as its user,
wherever it connects from (``user:<id>``); anyone else by address (``ip:<addr>``).
Users behind one NAT or proxy therefore get a budget each, and a user cannot
multiply theirs by switching networks. The stricter limits on anonymous
endpoints (login, register) always count by address.
"""

from collections.abc import Callable

from flask import request
from flask_jwt_extended import decode_token
from flask_jwt_extended.exceptions import JWTExtendedException
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from jwt import PyJWTError

DEFAULT_LIMIT = "RATELIMIT_DEFAULT"


def address_key() -> str:
    """The caller's address as a rate-limit key.

    ``request.remote_addr`` is the peer's address, or the client's as the proxy
    reports it once ``ProxyFix`` is installed (``BEHIND_PROXY``); a client cannot
    choose it by sending ``X-Forwarded-For`` itself.
    """
    return f"ip:{get_remote_address()}"


def client_key() -> str:
    """The caller as a rate-limit key: its user with a valid access token, else its address.

    This runs before authentication and must never fail the request: a missing,
    malformed, expired or badly signed token just means the address is the key,
    and the operation then answers 401 as usual. ``decode_token`` verifies the
    signature and expiry, so a forged token can neither spend another user's
    budget nor mint a fresh one. It does not consult the blocklist (that would
    add a lookup to every request): a revoked access token keeps counting as its
    user until it expires, which only spends its own user's budget. Refresh
    tokens are not accepted for this, as they live for weeks.
    """
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        try:
            claims = decode_token(token.strip())
        except (PyJWTError, JWTExtendedException):
            claims = None
        if claims is not None and claims.get("type") == "access":
            return f"user:{claims['sub']}"
    return address_key()


def limited_by(setting: str, *, key: Callable[[], str] = address_key):
    """Class decorator: limit a resource by the config ``setting`` (e.g. ``RATELIMIT_LOGIN``).

    Such limits guard anonymous endpoints against brute force, so they count by
    address (``key``) by default: otherwise a caller could attach the token of
    each account it registers and get a fresh budget of password guesses per account.
    """

    def decorate(resource_class):
        resource_class.rate_limit = setting
        resource_class.rate_limit_key = key
        return resource_class

    return decorate


def unlimited(resource_class):
    """Class decorator: exempt a resource from every limit (health probes)."""
    resource_class.rate_limit = None
    return resource_class


def init_rate_limits(app) -> Limiter:
    """Build the app's limiter and apply each registered resource's declared limit.

    Call it after the API is registered: limits attach to the view functions.
    Counters live in ``RATELIMIT_STORAGE_URI``: in process by default, in Redis
    when ``REDIS_URL`` is set, so that every worker and instance shares them.
    """
    config = app.config
    limiter = Limiter(
        key_func=client_key,
        default_limits=[lambda: config[DEFAULT_LIMIT]],
        storage_uri=config["RATELIMIT_STORAGE_URI"],
        headers_enabled=True,
        enabled=config["RATELIMIT_ENABLED"],
        # Should Redis go away, count in process until it is back (logged),
        # rather than failing every request with a 500.
        in_memory_fallback_enabled=True,
        swallow_errors=True,
    )
    limiter.init_app(app)
    for endpoint, view in list(app.view_functions.items()):
        view_class = getattr(view, "view_class", None)
        setting = getattr(view_class, "rate_limit", DEFAULT_LIMIT)
        # A decorated limit is checked by the wrapper it returns, so the wrapper
        # replaces the registered view.
        if setting is None:
            app.view_functions[endpoint] = limiter.exempt(view)
        elif setting != DEFAULT_LIMIT:
            limit = limiter.limit(lambda s=setting: config[s], key_func=view_class.rate_limit_key)
            app.view_functions[endpoint] = limit(view)
    app.extensions["storefront.limiter"] = limiter
    return limiter
