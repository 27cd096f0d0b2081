"""One error shape everywhere: ``application/problem+json`` (RFC 9457).

Every exception, whoever raises it (werkzeug routing, the JSON parser, the body
validator, flask-jwt-extended, the rate limiter, a domain function or a bug), is
turned into a problem response here and nowhere else.
"""

from http import HTTPStatus

from flask import current_app, g, has_request_context, json, request
from flask_jwt_extended.exceptions import JWTExtendedException
from flask_restx import Model, fields
from jwt.exceptions import ExpiredSignatureError, PyJWTError
from werkzeug.exceptions import HTTPException

from models import (
    ConflictError,
    ForbiddenError,
    InvalidCredentialsError,
    InvalidValueError,
    NotFoundError,
    PreconditionFailedError,
)
from models.catalog_import import ImportFileError, ImportTooLargeError
from models.image_checks import (
    ImageTooLargeError,
    ImageTooManyPixelsError,
    InvalidImageError,
    UnsupportedImageError,
)

PROBLEM_MEDIA_TYPE = "application/problem+json"


class FieldErrors(fields.Raw):
    """A map of field name to the list of that field's messages."""

    __schema_type__ = "object"

    def schema(self):
        """Document the map as an object whose values are lists of strings."""
        return {
            **super().schema(),
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        }


Problem = Model(
    "Problem",
    {
        "type": fields.String(required=True, example="about:blank", description="Problem type URI"),
        "title": fields.String(required=True, example="Not Found", description="Status phrase"),
        "status": fields.Integer(required=True, example=404, description="HTTP status code"),
        "detail": fields.String(
            required=True, example="Product 42 does not exist", description="What went wrong"
        ),
        "instance": fields.String(
            required=True, example="/api/v1/products/42", description="The request path"
        ),
        "request_id": fields.String(
            required=True,
            example="5f0c9d1e2b7a4c8e9f3a6b1d2c4e8f70",
            description="The X-Request-ID of the request, for support and logs",
        ),
        "errors": FieldErrors(
            description="Validation failures only: messages per field",
            example={"email": ["is required"]},
        ),
        # RFC 6749 §5.2's members, so that OAuth 2 clients (Swagger UI's
        # Authorize dialog) understand the token endpoint's problems too.
        "error": fields.String(
            description="Token endpoint only: the RFC 6749 §5.2 error code "
            "(invalid_request, invalid_grant, unsupported_grant_type)",
            example="invalid_grant",
        ),
        "error_description": fields.String(
            description="Token endpoint only: the same as detail, under its RFC 6749 name",
            example="Invalid email or password",
        ),
    },
)


# Default descriptions of the problem responses an operation can declare.
PROBLEM_DESCRIPTIONS = {
    400: "Malformed request: not JSON, wrong shape, missing or unknown field, wrong type",
    401: "Missing, invalid, expired or revoked token",
    403: "Authenticated, but not allowed",
    404: "No such resource",
    409: "Conflicts with the current state",
    412: "If-Match names a version that is no longer current",
    413: "Request body too large",
    406: "The Accept header asks for no media type this operation produces",
    415: "Request body is not application/json",
    422: "A value breaks a documented bound (length, range, pattern, enum)",
    429: "Rate limit hit; retry after Retry-After seconds",
    500: "Unexpected server error; the request_id finds it in the logs",
    503: "A dependency is unavailable",
}


def problems(ns, *codes: int, examples: dict | None = None, **descriptions: str):
    """Declare problem responses on an operation: ``problems(ns, 404, 409)``.

    ``descriptions`` overrides the default text, keyed ``d404="..."``.
    ``examples`` gives the documented example of a status: its ``detail`` (a
    template filled with the path parameters' examples, ``"Product
    {product_id} does not exist"``), or a dict of the problem's members
    (``detail``, ``errors``, ...). A status without one gets the default of
    ``api.restx.examples``, where it has one that fits every operation.
    """
    examples = examples or {}

    def decorate(func):
        for code in codes:
            description = descriptions.get(f"d{code}", PROBLEM_DESCRIPTIONS[code])
            example = examples.get(code)
            options = {} if example is None else {"example": example}
            func = ns.response(code, description, Problem, **options)(func)
        return func

    return decorate


# A body-carrying operation can fail in these ways before its own logic runs.
BODY_PROBLEMS = (400, 413, 415, 422)


class ApiProblem(HTTPException):
    """An HTTP error raised on purpose, optionally with per-field messages."""

    def __init__(self, status: int, detail: str, *, errors=None, headers=None, members=None):
        self.code = status
        super().__init__(description=detail)
        self.errors = errors
        self.extra_headers = headers or {}
        # Extension members of the problem (RFC 9457 §3.2), after the standard ones.
        self.members = members or {}

    def get_headers(self, *args, **kwargs):
        """Keep werkzeug's headers and add ours (``WWW-Authenticate``, ``Retry-After``)."""
        return [*super().get_headers(*args, **kwargs), *self.extra_headers.items()]


def unauthorized(detail: str, *, members=None) -> ApiProblem:
    """A 401 that tells the client which scheme to use."""
    return ApiProblem(
        401, detail, headers={"WWW-Authenticate": 'Bearer realm="storefront"'}, members=members
    )


def _field_errors(raw) -> dict[str, list[str]] | None:
    if not raw:
        return None
    return {str(k): v if isinstance(v, list) else [str(v)] for k, v in raw.items()}


# Domain exceptions answered with their own detail, checked in this order.
_DOMAIN_STATUS = (
    (NotFoundError, 404),
    (ConflictError, 409),
    (ForbiddenError, 403),
    (PreconditionFailedError, 412),
    ((ImageTooLargeError, ImageTooManyPixelsError, ImportTooLargeError), 413),
    (UnsupportedImageError, 415),
)


def _translate(error: BaseException) -> ApiProblem:
    """Map any exception to the problem a client should see."""
    if isinstance(error, ApiProblem):
        return error
    if isinstance(error, InvalidValueError):
        return ApiProblem(422, error.detail, errors={error.field: [error.rule]})
    # An upload has one field, the file: name it, as other 422s name theirs.
    if isinstance(error, InvalidImageError):
        return ApiProblem(422, error.detail, errors={"image": [error.detail]})
    if isinstance(error, ImportFileError):
        return ApiProblem(422, error.detail, errors={"file": [error.detail]})
    for kind, status in _DOMAIN_STATUS:
        if isinstance(error, kind):
            return ApiProblem(status, error.detail)
    if isinstance(error, InvalidCredentialsError):
        return unauthorized(error.detail)
    if isinstance(error, ExpiredSignatureError):
        return unauthorized("The token has expired")
    if isinstance(error, (JWTExtendedException, PyJWTError)):
        return unauthorized(_jwt_detail(error))
    if isinstance(error, HTTPException) and error.code:
        # restx's reqparse puts its messages in ``data``; werkzeug's own errors
        # carry a generic description that is safe to show.
        data = getattr(error, "data", None) or {}
        detail = data.get("message") or _routing_detail(error) or error.description
        problem = ApiProblem(error.code, detail, errors=_field_errors(data.get("errors")))
        problem.extra_headers = {
            k: v for k, v in error.get_headers() if k.lower() != "content-type"
        }
        return problem
    return ApiProblem(500, "The server hit an unexpected error; it has been logged")


def _routing_detail(error: HTTPException) -> str | None:
    """Short, specific messages for werkzeug's routing errors."""
    if not has_request_context():
        return None
    if error.code == 404:
        return f"Nothing exists at {request.path}"
    if error.code == 405:
        allowed = ", ".join(getattr(error, "valid_methods", None) or [])
        return f"{request.method} is not allowed on {request.path}; allowed: {allowed}"
    return None


def _jwt_detail(error: BaseException) -> str:
    name = type(error).__name__
    if name == "NoAuthorizationError":
        return "Missing Authorization header with a Bearer token"
    if name == "RevokedTokenError":
        return "The token has been revoked"
    if name == "WrongTokenError":
        return str(error) or "Wrong token type"
    if name == "UserLookupError":
        return "The token's user no longer exists"
    return "The token is invalid"


def problem_response(error: BaseException):
    """Return the problem+json response for ``error``, logging unexpected ones."""
    problem = _translate(error)
    if problem.code >= 500:
        current_app.logger.error("unhandled error", exc_info=error)
    status = HTTPStatus(problem.code)
    body = {
        "type": "about:blank",
        "title": status.phrase,
        "status": status.value,
        "detail": problem.description,
        "instance": request.path if has_request_context() else "",
        "request_id": g.get("request_id", ""),
    }
    if problem.errors:
        body["errors"] = problem.errors
    body.update(problem.members)
    response = current_app.response_class(
        json.dumps(body) + "\n", status=status.value, mimetype=PROBLEM_MEDIA_TYPE
    )
    for key, value in problem.extra_headers.items():
        response.headers[key] = value
    return response


def register_error_handlers(app) -> None:
    """Answer errors outside the restx routes (``/docs``, static files) the same way."""
    app.register_error_handler(HTTPException, problem_response)
    app.register_error_handler(Exception, problem_response)
