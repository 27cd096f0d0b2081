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


# Keywords that only describe: they never make an instance invalid.
_ANNOTATIONS = frozenset({"description", "example", "title", "default", "readOnly"})
_TYPES = {"string": str, "integer": int, "boolean": bool}


def surely_valid(schema: dict):
    """A quick check, built from an object ``schema``, that says True only of valid instances.

    For checking many bodies with ``field_errors`` (a catalog import's lines):
    a ``Draft4Validator`` spends most of its time walking the schema, ~100 µs a
    body. This closure handles the keywords restx input models use (``type``,
    ``required``, ``additionalProperties: false``, ``properties`` with string
    and integer bounds, ``pattern``, ``enum``) with the very checks jsonschema
    makes (``len``, ``re.search``, exact types), and answers False, meaning "ask
    the validator", for anything else: any other keyword, any other type. So a
    body it passes is one the validator passes, and every body it does not pass
    still gets the validator's own verdict and messages. The tests hold the two
    to that on generated bodies.
    """
    if (
        # "definitions" only serve $refs, which no property check here accepts.
        set(schema)
        - _ANNOTATIONS
        - {"type", "required", "properties", "additionalProperties", "definitions"}
        or schema.get("type") != "object"
        or schema.get("additionalProperties") is not False
    ):
        return lambda _instance: False
    required = frozenset(schema.get("required", ()))
    checks = {name: _surely_valid_value(spec) for name, spec in schema["properties"].items()}

    def check(instance) -> bool:
        return (
            type(instance) is dict
            and required <= instance.keys()
            and all(name in checks and checks[name](value) for name, value in instance.items())
        )

    return check


def _surely_valid_value(spec: dict):
    """A check of one property's value for ``surely_valid`` (False: not sure)."""
    known = _ANNOTATIONS | {"type", "minLength", "maxLength", "pattern", "minimum", "maximum"}
    kind = _TYPES.get(spec.get("type"))
    if set(spec) - known - {"enum"} or kind is None:
        return lambda _value: False
    low, high = spec.get("minimum"), spec.get("maximum")
    shortest, longest = spec.get("minLength", 0), spec.get("maxLength")
    search = re.compile(spec["pattern"]).search if "pattern" in spec else None
    choices = spec.get("enum")

    def check(value) -> bool:
        # Exact types, as Draft 4 has them: a bool is no integer, 1.0 is none either.
        if type(value) is not kind:
            return False
        if kind is str and not (
            shortest <= len(value)
            and (longest is None or len(value) <= longest)
            and (search is None or search(value))
        ):
            return False
        if kind is int and not ((low is None or value >= low) and (high is None or value <= high)):
            return False
        return choices is None or value in choices

    return check


def validate_json_body(validator: Draft4Validator) -> dict:
    """Parse the request body as JSON and check it with ``validator``.

    Raises 415 (not JSON media type), 413 (too large), 400 (unparseable, nested
    too deeply, wrong shape) or 422 (a value out of bounds) problems; returns the
    parsed body. The depth is bounded by the request class
    (``api.http.bodies``) before the body is parsed, so nothing here recurses
    deeper than that.
    """
    if not request.is_json:
        raise ApiProblem(415, "Send the request body as application/json")
    # Reading the body raises the 413 when it is over MAX_CONTENT_LENGTH, and
    # the 400 when it nests too deeply.
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
