"""Authentication and authorization: JWT wiring, sessions, the blocklist, role checks.

An operation declares its security with ``auth_required``/``public``; the same
declaration writes the spec (``security``, 401/403 responses) and drives the
check in ``api.restx.base.Resource``, so the two cannot disagree.

Every token carries, besides its user (``sub``) and role:

- ``sid``, its session: one per login, shared by the login's refresh token and
  every access token minted from it (``POST /auth/refresh`` keeps it). Logout
  revokes the session, so all of them stop working at once.
- ``ver``, the user's ``token_version`` when it was minted: a password change
  or reset raises the version, which revokes every earlier token of the user
  while a login right after the change works.

Tokens minted before these claims existed still work: one without ``ver`` is
of version 0, and one without ``sid`` is a session of its own, its ``jti``.
"""

import logging
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import redis
from flask import current_app, g, request
from flask_jwt_extended import current_user, get_jwt, verify_jwt_in_request
from flask_jwt_extended.exceptions import RevokedTokenError
from redis.backoff import NoBackoff
from redis.retry import Retry

from api.errors import ApiProblem, Problem, unauthorized
from api.extensions import jwt
from models import User
from models.token import REVOKED_PREFIX, Blocklist, DatabaseBlocklist, RedisBlocklist
from models.user import configure_password_hashing

BEARER = "Bearer"
OAUTH2 = "OAuth2"
TOKEN_URL = "/api/v1/auth/token"  # noqa: S105 (a URL, not a secret)
AUTHORIZATIONS = {
    BEARER: {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": f"A JWT from POST {TOKEN_URL} or /api/v1/auth/login, "
        "sent as `Authorization: Bearer <token>`",
    },
}
# The other way to an access token: log in from the docs' Authorize dialog.
# Only the OpenAPI 3 document has it, beside an HTTP bearer scheme for pasting
# a token (restx can only say "apiKey"): Swagger 2.0 wants an absolute
# tokenUrl, and the document does not know the host it is served from. The
# converter (tools/openapi/converter.py) adds it to every operation that takes
# an access token, as an alternative to Bearer.
OAUTH2_SCHEME = {
    "type": "oauth2",
    "description": "Log in with your email as the username and your password "
    f"(RFC 6749's password grant at POST {TOKEN_URL}); leave client_id and "
    "client_secret empty",
    "flows": {"password": {"tokenUrl": TOKEN_URL, "scopes": {}}},
}
# The OpenAPI 3 document's HTTP bearer scheme, where a token is pasted as it is.
HTTP_BEARER_DESCRIPTION = (
    f"An access token (a JWT from POST {TOKEN_URL} or /api/v1/auth/login), pasted as it "
    "is, without a Bearer prefix: clients send it as `Authorization: Bearer <token>`"
)
# Marks the operations that take a refresh token, which is never what the
# Authorize dialog holds: those accept only a pasted one.
TOKEN_TYPE = "x-token-type"  # noqa: S105 (an extension's name)


@dataclass(frozen=True)
class AuthRule:
    """What an operation demands of the caller's token."""

    admin: bool = False
    refresh: bool = False
    any_token: bool = False


def auth_required(ns, *, admin: bool = False, refresh: bool = False, any_token: bool = False):
    """Require a valid Bearer token (an admin's, when ``admin``) and document it."""
    rule = AuthRule(admin=admin, refresh=refresh, any_token=any_token)

    def decorate(func):
        func.__auth__ = rule
        func = ns.doc(security=BEARER)(func)
        if refresh:
            func = ns.vendor({TOKEN_TYPE: "refresh"})(func)
        func = ns.response(401, "Missing, invalid, expired or revoked token", Problem)(func)
        if admin:
            func = ns.response(403, "The token's user is not an admin", Problem)(func)
        return func

    return decorate


def public(ns):
    """Mark an operation as open to everyone (``security: []`` in the spec)."""
    return ns.doc(security=[])


SESSION_CLAIM = "sid"
VERSION_CLAIM = "ver"
# Redis is a fast path: a slow or unreachable one must cost a request little,
# and one attempt, before the database answers instead.
REDIS_TIMEOUT_SECONDS = 0.5
NOT_BEARER = "Missing Bearer token: the Authorization header must be 'Bearer <token>'"
NO_SCHEME = "The Authorization header must be 'Bearer <token>': the scheme is missing"
_CREDENTIALS_SEPARATOR = re.compile(r",\s*")


def enforce(rule: AuthRule) -> None:
    """Check the request's token against ``rule``; raise 401/403 problems."""
    _read_bearer_scheme()
    verify_jwt_in_request(refresh=rule.refresh, verify_type=not rule.any_token)
    if rule.refresh:
        # Tokens minted while serving a refresh continue the refresh token's session.
        g.token_session = session_of(get_jwt())
    if rule.admin and not current_user.is_admin:
        raise ApiProblem(403, "This operation needs an admin")


def _read_bearer_scheme() -> None:
    """Accept the Bearer scheme in any case, and say what is wrong with a header without it.

    RFC 9110 §11.1: the scheme is case-insensitive. flask-jwt-extended matches
    "Bearer" exactly, so another spelling is rewritten to it before it reads the
    header; an absent header is left for it to report.
    """
    header = request.headers.get("Authorization", "").strip()
    if not header:
        return
    credentials = [c for c in _CREDENTIALS_SEPARATOR.split(header) if c.strip()]
    bearer = [c for c in credentials if c.split()[0].lower() == "bearer"]
    if not bearer:
        bare_token = len(credentials) == 1 and len(credentials[0].split()) == 1
        raise unauthorized(NO_SCHEME if bare_token else NOT_BEARER)
    if len(bearer) == 1 and not bearer[0].startswith("Bearer"):
        request.environ["HTTP_AUTHORIZATION"] = "Bearer" + bearer[0][len("Bearer") :]


def session_of(claims: dict) -> str:
    """The session a token belongs to: its ``sid``, or, from before sessions, its own ``jti``."""
    return claims.get(SESSION_CLAIM) or claims["jti"]


def tokens_minted() -> bool:
    """True when this request minted a token (its response must not be stored)."""
    return g.get("tokens_minted", False)


def blocklist() -> Blocklist:
    """The revoked sessions: the database, with Redis in front when ``REDIS_URL`` is set."""
    return current_app.extensions["storefront.blocklist"]


def redis_status() -> str | None:
    """Whether the Redis of ``REDIS_URL`` answers now (``ok``/``unavailable``); None when unset."""
    return blocklist().redis_status()


def revoke_current_session() -> None:
    """Revoke the session of the current request's token: every token of it stops working.

    The revocation lasts as long as any token of the session can: a session's
    refresh token lives ``JWT_REFRESH_TOKEN_EXPIRES`` from its login, and an
    access token minted from it just before that, ``JWT_ACCESS_TOKEN_EXPIRES``
    more. Counted from this token's ``iat``, which is never before the login.
    A token from before sessions is revoked alone, until it expires.
    """
    claims = get_jwt()
    expires_at = datetime.fromtimestamp(claims["exp"], UTC)
    if SESSION_CLAIM in claims:
        config = current_app.config
        longest = config["JWT_REFRESH_TOKEN_EXPIRES"] + config["JWT_ACCESS_TOKEN_EXPIRES"]
        expires_at = max(expires_at, datetime.fromtimestamp(claims["iat"], UTC) + longest)
    blocklist().revoke(session_of(claims), expires_at, user_id=current_user.id)


def connect_redis(url: str) -> redis.Redis:
    """A Redis client that fails fast: short timeouts, one attempt."""
    return redis.Redis.from_url(
        url,
        socket_timeout=REDIS_TIMEOUT_SECONDS,
        socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        retry=Retry(NoBackoff(), 0),
    )


def register_auth(app) -> None:
    """Register the JWT callbacks, build the blocklist and set the password hashing cost."""
    fast_path = None
    if app.config["REDIS_URL"]:
        client = app.extensions["storefront.redis"] = connect_redis(app.config["REDIS_URL"])
        fast_path = RedisBlocklist(client, app.config["REDIS_KEY_PREFIX"] + REVOKED_PREFIX)
    app.extensions["storefront.blocklist"] = Blocklist(
        DatabaseBlocklist(), fast_path, logger=logging.getLogger("api.blocklist")
    )
    jwt.init_app(app)
    configure_password_hashing(
        time_cost=app.config["ARGON2_TIME_COST"], memory_cost=app.config["ARGON2_MEMORY_KIB"]
    )


@jwt.user_identity_loader
def _identity(user: User) -> str:
    return str(user.id)


@jwt.user_lookup_loader
def _lookup_user(header, claims) -> User | None:
    """The token's live user; a revoked token raises. One query, once per request.

    A deleted user's tokens stop working at once (None: "no longer exists").
    Revoked are a token older than the user's last password change (compared
    on the row just read), and one of a session that logged out: the same
    query reads whether the database holds the session as revoked, and with
    ``REDIS_URL`` Redis answers instead when it can (``Blocklist.is_revoked``).
    flask-jwt-extended keeps the user for the rest of the request
    (``current_user``), so nothing else looks it up again.
    """
    try:
        user_id = int(claims["sub"])
    except (TypeError, ValueError):
        return None
    user, revoked = blocklist().user_and_revocation(user_id, session_of(claims))
    if user is None or user.is_deleted:
        return None
    if revoked or claims.get(VERSION_CLAIM, 0) != user.token_version:
        raise RevokedTokenError(header, claims)
    return user


@jwt.additional_claims_loader
def _claims(user: User) -> dict:
    """The claims of every token minted: role, token version and session.

    Every token minted in one request (a login's pair) shares one new session,
    unless the request continues one (``enforce`` on a refresh).
    """
    if "token_session" not in g:
        g.token_session = uuid.uuid4().hex
    g.tokens_minted = True
    return {
        "role": user.role,
        VERSION_CLAIM: user.token_version or 0,
        SESSION_CLAIM: g.token_session,
    }
