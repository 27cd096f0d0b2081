"""Request body validation against the restx input models.

The split between 400 and 422 follows DESIGN.md: a body of the wrong shape
(not an object, missing or unknown fields, wrong JSON types) is a 400; a
well-shaped body whose values break a bound of the schema (length, range,
pattern, enum, format) is a 422. Messages never echo the offending value, so a
megabyte string does not come back in the error.
"""

import re

from flask import request
from jsonschema import Draft4Validator, FormatChecker

from api.errors import ApiProblem

_REQUIRED = re.compile(r"^'(.+)' is a required property$")
SHAPE_KEYWORDS = frozenset({"type", "required", "additionalProperties"})
BODY = "body"


def _message(error) -> tuple[str, str]:
    """Return (field path, message) for one jsonschema error."""
    path = ".".join(str(part) for part in error.absolute_path) or BODY
    keyword, bound = error.validator, error.validator_value
    if keyword == "required":
        # One error per missing property, which only its message names.
        named = _REQUIRED.match(error.message)
        missing = [named.group(1)] if named else [n for n in bound if n not in error.instance]
        return _join(path, missing[0] if missing else ""), "is required"
    if keyword == "additionalProperties":
        known = set(error.schema.get("properties", {}))
        unknown = sorted(str(name) for name in error.instance if name not in known)
        return _join(path, unknown[0] if unknown else ""), "is not an accepted field"
    messages = {
        "type": lambda: f"must be of type {bound}",
        "minLength": lambda: f"must be at least {bound} characters long",
        "maxLength": lambda: f"must be at most {bound} characters long",
        "minimum": lambda: f"must be at least {bound}",
        "maximum": lambda: f"must be at most {bound}",
        "pattern": lambda: f"must match the pattern {bound}",
        "enum": lambda: "must be one of: " + ", ".join(map(str, bound)),
        "format": lambda: f"must be a valid {bound}",
        "minItems": lambda: f"must have at least {bound} items",
        "maxItems": lambda: f"must have at most {bound} items",
    }
    message = messages.get(keyword)
    return path, message() if message else f"breaks the {keyword} rule"


def _join(path: str, name: str) -> str:
    return name if path == BODY else f"{path}.{name}"


def _unencodable_strings(value) -> bool:
    """True when any string in ``value`` holds an unpaired surrogate (not UTF-8)."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(_unencodable_strings(k) or _unencodable_strings(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_unencodable_strings(item) for item in value)
    return False


def build_validator(schema: dict, definitions: dict) -> Draft4Validator:
    """Compile a validator for one input model (restx emits JSON Schema draft 4)."""
    return Draft4Validator({**schema, "definitions": definitions}, format_checker=FormatChecker())


def field_errors(validator: Draft4Validator, payload) -> list[tuple[str, str]]:
    """(field path, message) for each way ``payload`` breaks ``validator``'s schema.

    The messages of a request body's 400 or 422, for a body that is not a
    request's: a line of an import file is checked with these.
    """
    return [_message(error) for error in validator.iter_errors(payload)]


def validate_json_body(validator: Draft4Validator) -> dict:
    """Parse the request body as JSON and check it with ``validator``.

    Raises 415 (not JSON media type), 413 (too large), 400 (unparseable, wrong
    shape) or 422 (a value out of bounds) problems; returns the parsed body.
    """
    if not request.is_json:
        raise ApiProblem(415, "Send the request body as application/json")
    # Reading the body raises the 413 when it is over MAX_CONTENT_LENGTH.
    payload = request.get_json(silent=True)
    if payload is None and request.get_data().strip() != b"null":
        raise ApiProblem(400, "The request body is not valid JSON")
    if _unencodable_strings(payload):
        raise ApiProblem(
            400, "The body is not valid UTF-8 text", errors={BODY: ["has an unpaired surrogate"]}
        )
    found = list(validator.iter_errors(payload))
    if not found:
        return payload
    errors: dict[str, list[str]] = {}
    for path, message in map(_message, found):
        errors.setdefault(path, []).append(message)
    if any(error.validator in SHAPE_KEYWORDS for error in found):
        raise ApiProblem(400, "The request body is malformed", errors=errors)
    raise ApiProblem(422, "The request body has invalid values", errors=errors)
