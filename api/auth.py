"""Authentication and authorization: JWT wiring, the blocklist, role checks.

An operation declares its security with ``auth_required``/``public``; the same
declaration writes the spec (``security``, 401/403 responses) and drives the
check in ``api.restx.base.Resource``, so the two cannot disagree.
"""

import re
from dataclasses import dataclass
from datetime import UTC, datetime

import redis
from flask import current_app, g, request
from flask_jwt_extended import current_user, get_jwt, verify_jwt_in_request

from api.errors import ApiProblem, Problem, unauthorized
from api.extensions import jwt
from models import User, db
from models.token import DatabaseBlocklist, RedisBlocklist
from models.user import configure_password_hashing

BEARER = "Bearer"
AUTHORIZATIONS = {
    BEARER: {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": "A JWT from POST /api/v1/auth/login, sent as `Bearer <token>`",
    }
}


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
        func = ns.response(401, "Missing, invalid, expired or revoked token", Problem)(func)
        if admin:
            func = ns.response(403, "The token's user is not an admin", Problem)(func)
        return func

    return decorate


def public(ns):
    """Mark an operation as open to everyone (``security: []`` in the spec)."""
    return ns.doc(security=[])


NOT_BEARER = "Missing Bearer token: the Authorization header must be 'Bearer <token>'"
NO_SCHEME = "The Authorization header must be 'Bearer <token>': the scheme is missing"
_CREDENTIALS_SEPARATOR = re.compile(r",\s*")


def enforce(rule: AuthRule) -> None:
    """Check the request's token against ``rule``; raise 401/403 problems."""
    _read_bearer_scheme()
    verify_jwt_in_request(refresh=rule.refresh, verify_type=not rule.any_token)
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


def tokens_minted() -> bool:
    """True when this request minted a token (its response must not be stored)."""
    return g.get("tokens_minted", False)


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
    """The claims of every token minted; noting that this request minted one."""
    g.tokens_minted = True
    return {"role": user.role}
