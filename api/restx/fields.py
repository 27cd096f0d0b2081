"""Field types shared by the namespaces' models."""

from datetime import UTC, datetime

from flask_restx import Model, fields

# Every id in a path or a body is bounded by the largest signed 64-bit integer,
# the widest id column a database here has; past it a lookup would overflow.
MAX_ID = 2**63 - 1
# Text may hold any character but the control characters other than tab and
# newlines: PostgreSQL cannot store NUL, and XML 1.0 cannot carry any of them.
NO_CONTROL = "^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\ufffe\\uffff]*$"


def id_route(name: str) -> str:
    """A path segment for an id: positive, and past ``MAX_ID`` a 404 rather than an overflow."""
    return f"/<int(min=1, max={MAX_ID}):{name}>"


def id_param(description: str, *, example: int) -> dict:
    """The spec of an id path parameter, with the bounds ``id_route`` enforces.

    ``example`` is what *Try it out* fills in: an id of the demo data to read
    or edit, one that exists nowhere (``api.restx.examples.NO_SUCH_ID``) to delete.
    """
    return {
        "in": "path",
        "type": "integer",
        "minimum": 1,
        "maximum": MAX_ID,
        "description": description,
        "x-example": example,
    }


class File(fields.Raw):
    """A binary download (Swagger 2.0's ``type: file``), for responses such as images."""

    __schema_type__ = "file"


class Timestamp(fields.DateTime):
    """An RFC 3339 UTC timestamp with a ``Z`` suffix, to the second."""

    __schema_example__ = "2026-11-21T12:00:00Z"

    def format(self, value: datetime) -> str:
        """Render ``value`` in UTC (naive values, as SQLite returns them, are UTC)."""
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        # isoformat: several times faster than strftime, and it always writes
        # four-digit years, as RFC 3339 needs (glibc's "%Y" does not pad 999).
        return value.isoformat(timespec="seconds") + "Z"


def text(description: str, *, max_length: int, min_length: int = 0, **kwargs):
    """A string field that forbids control characters and states its bounds in the spec."""
    return fields.String(
        description=description,
        min_length=min_length,
        max_length=max_length,
        pattern=kwargs.pop("pattern", NO_CONTROL),
        **kwargs,
    )


def links(ns, name: str, self_example: str, **relations: tuple[str, str]):
    """Register and return a ``_links`` model: ``self`` plus named relations.

    ``relations`` maps a relation name to its (description, example URL).
    """
    described = {"self": ("URL of this resource", self_example), **relations}
    return ns.model(
        name,
        {
            rel: fields.String(
                required=rel == "self", readonly=True, description=text_, example=example
            )
            for rel, (text_, example) in described.items()
        },
    )


def nullable(field):
    """``field``, documented as ``x-nullable``: null until its value is known.

    Swagger 2.0 has no ``null`` type; ``x-nullable`` is the extension its tools
    read, and the OpenAPI 3 document turns it into ``nullable``. The field
    stays in every representation (no ``skip_none``), so clients always find it.
    """
    schema = field.schema
    field.schema = lambda: {**schema(), "x-nullable": True}
    return field


class NullableModel(Model):
    """A restx model whose value may be null (``x-nullable`` on its definition).

    For a field that is null until known and an object once it is: refer to it
    with a plain ``fields.Nested(model, allow_null=True)`` (no description, so
    the property is a bare ``$ref``; the model's definition is what says null
    is allowed, which both validators and SDK generators read).
    """

    @property
    def _schema(self):
        return {**super()._schema, "x-nullable": True}
