"""Authentication and authorization: JWT wiring, the blocklist, role checks.

An operation declares its security with ``auth_required``/``public``; the same
declaration writes the spec (``security``, 401/403 responses) and drives the
check in ``api.restx.base.Resource``, so the two cannot disagree.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

import redis
from flask import current_app
from flask_jwt_extended import current_user, get_jwt, verify_jwt_in_request

from api.errors import ApiProblem, Problem
from api.extensions import jwt
from models import User, db
from models.token import DatabaseBlocklist, RedisBlocklist
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


def enforce(rule: AuthRule) -> None:
    """Check the request's token against ``rule``; raise 401/403 problems."""
    verify_jwt_in_request(refresh=rule.refresh, verify_type=not rule.any_token)
    if rule.admin and not current_user.is_admin:
        raise ApiProblem(403, "This operation needs an admin")


def blocklist():
    """The revoked-token store: Redis when ``REDIS_URL`` is set, else the database."""
    return current_app.extensions["storefront.blocklist"]


def revoke_current_token() -> None:
    """Revoke the token of the current request until it would expire."""
    claims = get_jwt()
    blocklist().revoke(claims["jti"], datetime.fromtimestamp(claims["exp"], UTC))


def register_auth(app) -> None:
    """Register the JWT callbacks, choose the blocklist store and set the password hashing cost."""
    if app.config["REDIS_URL"]:
        store = RedisBlocklist(redis.Redis.from_url(app.config["REDIS_URL"]))
    else:
        store = DatabaseBlocklist()
    app.extensions["storefront.blocklist"] = store
    jwt.init_app(app)
    configure_password_hashing(
        time_cost=app.config["ARGON2_TIME_COST"], memory_cost=app.config["ARGON2_MEMORY_KIB"]
    )


@jwt.user_identity_loader
def _identity(user: User) -> str:
    return str(user.id)


@jwt.user_lookup_loader
def _lookup_user(_header, claims) -> User | None:
    """A deleted user's tokens stop working at once."""
    try:
        user = db.session.get(User, int(claims["sub"]))
    except (TypeError, ValueError):
        return None
    return None if user is None or user.is_deleted else user


@jwt.token_in_blocklist_loader
def _is_revoked(_header, claims) -> bool:
    return blocklist().is_revoked(claims["jti"])


@jwt.additional_claims_loader
def _claims(user: User) -> dict:
    return {"role": user.role}
