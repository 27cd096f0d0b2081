"""Query-string parsing: restx's reqparse, with errors in the problem shape.

A value that is not of the parameter's type (``page=abc``, an unknown ``sort``)
is a 400; a well-typed value outside the documented bounds (``per_page=500``)
is a 422, as for bodies.
"""

import re
from datetime import UTC, datetime

from flask import request
from flask_restx import reqparse

from api.errors import ApiProblem
from api.restx.fields import NO_CONTROL

_NO_CONTROL = re.compile(NO_CONTROL)
# [0-9], not \d: \d matches the digits of every script.
_INTEGER = re.compile("-?[0-9]+")
# RFC 3339 date-time (T or a space between date and time, any case), the offset optional.
_RFC_3339 = re.compile(
    "[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(?:[.][0-9]+)?"
    "(?:[Zz]|[+-][0-9]{2}:[0-9]{2})?"
)
_NOT_A_DATE_TIME = "must be an RFC 3339 date-time, e.g. 2026-11-21T12:00:00Z"


class OutOfBoundsError(ValueError):
    """A well-typed query value outside its documented range."""


class MalformedError(ValueError):
    """A value not of its parameter's type, whose message says what the type is (a 400)."""


# A problem's detail names where the bad value was: the client looks there.
_DETAILS = {
    "args": "Invalid query parameter",
    "headers": "Invalid header",
    "files": "Invalid form field",
    "form": "Invalid form field",
}
UNKNOWN_FIELD = "is not an accepted field"
# What a multipart part is, by where werkzeug puts it: with a filename or without.
_KINDS = {"files": "a file", "form": "a text field"}


class Argument(reqparse.Argument):
    """A query, header or form argument whose errors become problem responses."""

    @property
    def detail(self) -> str:
        """What a problem with this argument says went wrong, by where it is read from."""
        location = self.location if isinstance(self.location, str) else self.location[0]
        return _DETAILS.get(location, "Invalid request parameter")

    def parse(self, request, bundle_errors=False):
        """Parse the argument; a required one that is absent is "is required"."""
        if self.required and self.name not in self.source(request):
            raise ApiProblem(400, self.detail, errors={self.name: ["is required"]})
        return super().parse(request, bundle_errors)

    def handle_validation_error(self, error, bundle_errors):
        """Raise a 422 for a bound the value breaks, a 400 for anything else."""
        status = 422 if isinstance(error, OutOfBoundsError) else 400
        shown = (OutOfBoundsError, MalformedError, TypeError)
        message = str(error) if isinstance(error, shown) else None
        if message is None:
            message = _type_message(self) if not self.choices else _choices_message(self)
        raise ApiProblem(status, self.detail, errors={self.name: [message]})


def _type_message(argument) -> str:
    schema = getattr(argument.type, "__schema__", {}) or {}
    return f"must be of type {schema.get('type', 'string')}"


def _choices_message(argument) -> str:
    return "must be one of: " + ", ".join(map(str, argument.choices))


def make_parser() -> reqparse.RequestParser:
    """A parser whose arguments answer problems; use it for every query string."""
    return reqparse.RequestParser(argument_class=Argument)


def parse_form(parser: reqparse.RequestParser) -> dict:
    """Parse a multipart form with ``parser``: each part one it declares, sent once.

    reqparse alone ignores parts it was not asked for and takes the first of a
    repeated one, so a misnamed file field would only show as the declared one
    missing. Every field at fault is named in one 400 problem.
    """
    declared = {argument.name: argument for argument in parser.args}
    errors: dict[str, list[str]] = {}
    for name, argument in declared.items():
        if argument.required and name not in argument.source(request):
            errors[name] = ["is required"]
    for location, parts in (("files", request.files), ("form", request.form)):
        for name in parts:
            argument = declared.get(name)
            if argument is None:
                errors.setdefault(name, []).append(UNKNOWN_FIELD)
            elif argument.location != location:
                wanted, sent = _KINDS[argument.location], _KINDS[location]
                errors.setdefault(name, []).append(f"must be {wanted}, not {sent}")
            elif len(parts.getlist(name)) > 1:
                errors.setdefault(name, []).append("must be sent once")
    if errors:
        raise ApiProblem(400, _DETAILS["form"], errors=errors)
    return parser.parse_args()


def bounded_int(low: int, high: int):
    """An integer query type with inclusive bounds, documented in the spec.

    An integer is ASCII digits with an optional leading ``-``, nothing else:
    ``int()`` would also take ``1_000``, ``+5``, surrounding spaces and the
    digits of other scripts (a full-width one, U+FF11), none of which the
    spec's ``integer`` means (a 400). A negative number is well-typed, so below
    ``low`` it is a 422.
    """

    def parse(value):
        if isinstance(value, int) and not isinstance(value, bool):
            number = value  # a default, not client text
        elif isinstance(value, str) and _INTEGER.fullmatch(value):
            try:
                number = int(value)
            except ValueError:  # more digits than int() converts: far out of any bound
                raise OutOfBoundsError(f"must be between {low} and {high}") from None
        else:
            raise ValueError("must be an integer")
        if not low <= number <= high:
            raise OutOfBoundsError(f"must be between {low} and {high}")
        return number

    parse.__schema__ = {"type": "integer", "minimum": low, "maximum": high}
    return parse


def boolean(value) -> bool:
    """``true``/``false`` (also ``1``/``0``), as a query-string boolean."""
    text = str(value).strip().lower()
    if text in ("true", "1"):
        return True
    if text in ("false", "0"):
        return False
    raise ValueError("must be true or false")


boolean.__schema__ = {"type": "boolean"}


def bounded_text(max_length: int):
    """A string query type: at most ``max_length`` characters, no control characters."""

    def parse(value):
        text = str(value)
        if not _NO_CONTROL.match(text):
            raise OutOfBoundsError("must not contain control characters")
        if len(text) > max_length:
            raise OutOfBoundsError(f"must be at most {max_length} characters long")
        return text

    parse.__schema__ = {"type": "string", "maxLength": max_length, "pattern": NO_CONTROL}
    return parse


def pattern_text(max_length: int, pattern: str, what: str):
    """A string of 1 to ``max_length`` characters matching ``pattern`` (``what`` names it).

    Both bounds are in the spec, so breaking one is a 422, as for every bounded value.
    """
    matches = re.compile(pattern).match

    def parse(value):
        text = str(value)
        if not 1 <= len(text) <= max_length:
            raise OutOfBoundsError(f"must be 1 to {max_length} characters long")
        if not matches(text):
            raise OutOfBoundsError(f"must be {what}")
        return text

    parse.__schema__ = {
        "type": "string",
        "minLength": 1,
        "maxLength": max_length,
        "pattern": pattern,
    }
    return parse


def token(max_length: int):
    """A header token: 1 to ``max_length`` visible ASCII characters (no spaces)."""
    return pattern_text(max_length, "^[!-~]+$", "visible ASCII characters without spaces")


def utc_datetime(value) -> datetime:
    """An RFC 3339 timestamp, returned in UTC (a time without offset is taken as UTC).

    ``datetime.fromisoformat`` alone would also read week dates (``2026-W01``),
    compact forms and bare dates, none of them the spec's ``date-time``; and a
    time whose offset puts it before year 1 or after 9999 in UTC has no UTC.
    """
    text = str(value)
    if not _RFC_3339.fullmatch(text):
        raise MalformedError(_NOT_A_DATE_TIME)
    try:
        parsed = datetime.fromisoformat(text.upper().replace("Z", "+00:00"))
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError):  # month 13, or no UTC equivalent
        raise MalformedError(_NOT_A_DATE_TIME) from None


utc_datetime.__schema__ = {"type": "string", "format": "date-time"}
