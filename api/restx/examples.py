"""Examples in the spec: request bodies safe to run, and one problem per error status.

Swagger UI pre-fills *Try it out* with the examples and Redoc shows them, so
they are part of the contract (``tests/api/test_examples.py`` walks both
documents and runs every write example):

- A request example validates against its schema and, executed as it stands
  by an admin on the demo data (``flask --app wsgi seed``), deletes, renames or
  demotes nothing that was there: a delete names an id that does not exist
  (``NO_SUCH_ID``), an edit changes a price, a stock or a display name.
- Every problem response has an example of its own status whose ``detail`` is
  one that operation answers (the domain's own messages, with the path's
  example ids filled in) and whose ``instance`` is the operation's path.

flask-restx emits neither, so ``StorefrontSwagger`` adds them to the 2.0
document: ``x-examples`` on a body parameter (as Redoc reads 2.0), ``x-example``
on other parameters, ``examples`` on responses. The OpenAPI 3 converter turns
each into a 3.0 ``example``.
"""

from http import HTTPStatus

from api.config import DEFAULT_RATE_LIMITS
from api.errors import PROBLEM_MEDIA_TYPE

# An id no demo record has: a delete example naming it deletes nothing.
NO_SUCH_ID = 999_999_999
REQUEST_ID = "5f0c9d1e2b7a4c8e9f3a6b1d2c4e8f70"
JSON = "application/json"

# Details that fit whichever operation answers the status; ``{entity}`` and
# ``{id}`` name the resource of the path (its last parameter).
DEFAULT_DETAILS = {
    401: "Missing Authorization header with a Bearer token",
    403: "This operation needs an admin",
    404: "{entity} {id} does not exist",
    412: "{entity} {id} is at version 3, not the one you edited; fetch it again and retry",
    413: "The data value transmitted exceeds the capacity limit.",
    415: "Send the request body as application/json",
    500: "The server hit an unexpected error; it has been logged",
}
# Which bound a 422 example breaks, in this order of preference, and how the
# validator (api.restx.validation) words it.
_BOUNDS = (
    ("minimum", "must be at least {}"),
    ("minLength", "must be at least {} characters long"),
    ("maxLength", "must be at most {} characters long"),
    ("minItems", "must have at least {} items"),
    ("enum", "must be one of: {}"),
)


class MissingExampleError(ValueError):
    """An operation declares something the spec cannot show an example of."""


def request_example(ns, value):
    """Document the example body of an operation: what *Try it out* sends unless edited."""
    return ns.doc(body_example=value)


def problem_example(status: int, *, instance: str, detail: str, **members) -> dict:
    """A problem body as ``api.errors.problem_response`` writes it."""
    return {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "instance": instance,
        "request_id": REQUEST_ID,
        **members,
    }


class OperationExamples:
    """Writes the examples of one operation of the 2.0 document, in place.

    ``declared`` maps each status to what ``api.errors.problems`` was given
    for it (a detail template, or the problem's members); ``body_schema`` is
    the input model's schema, ``rate_limit`` the setting the resource is
    limited by.
    """

    def __init__(self, where: str, path: str, operation: dict, path_values: dict, **context):
        self.where = where
        self.operation = operation
        self.values = path_values
        self.instance = path.format(**{name: str(value) for name, value in path_values.items()})
        self.declared = context["declared"]
        self.body_schema = context["body_schema"]
        self.rate_limit = context["rate_limit"]

    def write(self, body_example) -> None:
        """Add the body's and every problem response's example."""
        parameters = self.operation.get("parameters") or []
        for parameter in parameters:
            if parameter["in"] == "body":
                if body_example is None:
                    raise MissingExampleError(f"{self.where}: declare request_example(ns, ...)")
                parameter["x-examples"] = {JSON: body_example}
        for code, response in self.operation["responses"].items():
            if code.isdigit() and int(code) >= 400:
                example = self.problem(int(code))
                response["examples"] = {PROBLEM_MEDIA_TYPE: example}

    def problem(self, status: int) -> dict:
        """The example problem of ``status``: declared, else the default that fits."""
        declared = self.declared.get(status)
        if declared is None:
            members = self.default(status)
        elif isinstance(declared, str):
            members = {"detail": declared}
        else:
            members = dict(declared)
        members["detail"] = members["detail"].format(**self.values)
        return problem_example(status, instance=self.instance, **members)

    def default(self, status: int) -> dict:
        """The members of a problem that any operation answering ``status`` sends."""
        if status in (400, 422):
            return self._invalid_input(status)
        if status == 406:
            offered = [m for m in self.operation.get("produces", [JSON]) if m != PROBLEM_MEDIA_TYPE]
            return {
                "detail": f"This operation answers in {', '.join(offered)}; "
                "the Accept header asks for none"
            }
        if status == 429:
            limit = DEFAULT_RATE_LIMITS[self.rate_limit].replace(" per ", " per 1 ")
            return {"detail": f"Rate limit exceeded ({limit}); retry after Retry-After seconds"}
        template = DEFAULT_DETAILS.get(status)
        if template is None or ("{entity}" in template and not self.values):
            raise MissingExampleError(
                f"{self.where}: declare the example of its {status} (problems(examples=...))"
            )
        if "{entity}" in template:
            name, value = list(self.values.items())[-1]
            template = template.replace("{entity}", name.removesuffix("_id").capitalize())
            template = template.replace("{id}", str(value))
        return {"detail": template}

    def _invalid_input(self, status: int) -> dict:
        if self.body_schema is not None:
            return _invalid_body(status, self.body_schema)
        query = {p["name"]: p for p in self.operation.get("parameters") or [] if p["in"] == "query"}
        if "page" in query and "per_page" in query:
            low, high = query["per_page"]["minimum"], query["per_page"]["maximum"]
            errors = (
                {"page": ["must be of type integer"]}
                if status == 400
                else {"per_page": [f"must be between {low} and {high}"]}
            )
            return {"detail": "Invalid query parameter", "errors": errors}
        raise MissingExampleError(
            f"{self.where}: declare the example of its {status} (problems(examples=...))"
        )


def _invalid_body(status: int, schema: dict) -> dict:
    """A 400 (a missing or unknown field) or 422 (a broken bound) of a body of ``schema``."""
    properties = schema.get("properties", {})
    if status == 400:
        required = schema.get("required") or []
        declared_first = [name for name in properties if name in required]
        if declared_first:
            errors = {declared_first[0]: ["is required"]}
        else:
            errors = {"id": ["is not an accepted field"]}
        return {"detail": "The request body is malformed", "errors": errors}
    for keyword, message in _BOUNDS:
        for name, field in properties.items():
            bound = field.get(keyword)
            # A minimum length of one is no example: "at least 1 characters".
            if bound is None or (keyword == "minLength" and bound <= 1):
                continue
            shown = ", ".join(map(str, bound)) if keyword == "enum" else bound
            return {
                "detail": "The request body has invalid values",
                "errors": {name: [message.format(shown)]},
            }
    raise MissingExampleError(f"no bound in {sorted(properties)} to break in a 422 example")


def path_example(ns, **values):
    """Give one operation its own examples of path parameters (a delete: ``NO_SUCH_ID``)."""
    return ns.doc(params={name: {"x-example": value} for name, value in values.items()})
