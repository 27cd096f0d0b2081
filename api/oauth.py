"""The OAuth 2 token endpoint's request and errors: the password grant (RFC 6749 §4.3).

Swagger UI's Authorize dialog, like any OAuth 2 client, logs in by posting the
form ``grant_type=password&username=<email>&password=...`` to the ``tokenUrl``
that the spec's OAuth2 scheme declares. The answer is the JSON login's.

Its errors are the API's problems, which also carry RFC 6749 §5.2's ``error``
and ``error_description`` as extension members, so an OAuth client and a
problem-aware one both understand them: a missing, empty, over-long or repeated
field is a 400 ``invalid_request``, another grant type a 400
``unsupported_grant_type``, wrong credentials a 401 ``invalid_grant`` (a 401, as
for the JSON login). As §3.2 asks, whatever the endpoint does not use is
ignored: client authentication (Swagger UI sends ``Authorization: Basic Og==``,
an empty client id and secret), ``client_id``, ``scope`` and any other field.
"""

import re

from flask import request
from flask_restx import reqparse

from api.errors import ApiProblem, unauthorized
from api.restx.fields import NO_CONTROL

FORM = "application/x-www-form-urlencoded"
PASSWORD_GRANT = "password"  # noqa: S105 (the grant type's name)
GRANT_FIELDS = ("grant_type", "username", "password")
_NO_CONTROL = re.compile(NO_CONTROL)


def oauth_problem(status: int, error: str, description: str) -> ApiProblem:
    """A problem that is also an RFC 6749 §5.2 error response."""
    members = {"error": error, "error_description": description}
    if status == 401:
        return unauthorized(description, members=members)
    return ApiProblem(status, description, members=members)


def invalid_grant(description: str) -> ApiProblem:
    """Wrong credentials: a 401 problem with ``error: invalid_grant``."""
    return oauth_problem(401, "invalid_grant", description)


class _GrantField(reqparse.Argument):
    """A field of the token form, whose every failure is an RFC 6749 error."""

    def handle_validation_error(self, error, bundle_errors):
        """``unsupported_grant_type`` for a grant type we do not offer, else ``invalid_request``."""
        if self.name not in request.form:
            raise oauth_problem(400, "invalid_request", f"{self.name} is required")
        if self.choices:
            raise oauth_problem(
                400, "unsupported_grant_type", f"grant_type must be {PASSWORD_GRANT}"
            )
        raise oauth_problem(400, "invalid_request", f"{self.name} {error}")


def form_text(max_length: int, *, secret: bool = False):
    """A form field of 1 to ``max_length`` characters without control characters."""

    def parse(value):
        # Messages never echo the value: it may be a password.
        if not value:
            raise ValueError("must not be empty")
        if len(value) > max_length:
            raise ValueError(f"must be at most {max_length} characters long")
        if not _NO_CONTROL.match(value):
            raise ValueError("must not contain control characters")
        return value

    parse.__schema__ = {
        "type": "string",
        "minLength": 1,
        "maxLength": max_length,
        "pattern": NO_CONTROL,
        **({"format": "password"} if secret else {}),
    }
    return parse


def password_grant_parser(*, username_max_length: int, password_max_length: int):
    """The token form as the spec documents it; ``password_grant`` reads it."""
    parser = reqparse.RequestParser(argument_class=_GrantField)
    parser.add_argument(
        "grant_type",
        required=True,
        choices=[PASSWORD_GRANT],
        location="form",
        help="Always `password`: the resource owner password credentials grant",
    )
    parser.add_argument(
        "username",
        type=form_text(username_max_length),
        required=True,
        location="form",
        help="The account's email (matched in any case)",
    )
    parser.add_argument(
        "password",
        type=form_text(password_max_length, secret=True),
        required=True,
        location="form",
        help="The account's password",
    )
    return parser


def password_grant(parser) -> tuple[str, str]:
    """Read a password grant request: its (username, password), or raise its error.

    Not a form: 415. Reading a body over the limit raises the 413 as anywhere.
    """
    if request.mimetype != FORM:
        raise ApiProblem(415, f"Send the token request as {FORM}")
    repeated = [name for name in GRANT_FIELDS if len(request.form.getlist(name)) > 1]
    if repeated:
        raise oauth_problem(400, "invalid_request", f"{repeated[0]} is repeated")
    grant = parser.parse_args()
    return grant["username"], grant["password"]
