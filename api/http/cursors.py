"""Keyset cursors: the opaque ``after`` values that say where a listing continues.

A cursor is base64url (no padding) of compact JSON: the ``sort`` it was made for
(``s``), the last row's sort value (``v``: null when sorted by id; a timestamp
as RFC 3339 UTC with microseconds) and id (``i``), and the number of the page
it opens (``p``). Clients only ever copy one from a ``next`` link, so every
other value is refused with a 400 problem before it reaches SQL: a value of the
wrong type for the sort, an id or page out of range, or a cursor made for
another ``sort``. A cursor is not signed: all it can choose is where a listing
the client may read anyway starts.
"""

import base64
import binascii
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from api.errors import ApiProblem
from api.restx.fields import MAX_ID, NO_CONTROL
from api.restx.parsers import pattern_text

# The longest cursor this API makes: a product name of 200 characters (the
# longest sortable text) at four UTF-8 bytes each, with the rest, in base64.
MAX_CURSOR_LENGTH = 1200
CURSOR_PATTERN = "^[A-Za-z0-9_-]+$"
# The range of a signed 64-bit integer: every integer column here fits in it,
# and a value outside it would overflow SQLite's binding.
_INT64 = (-(2**63), 2**63 - 1)
_NO_CONTROL = re.compile(NO_CONTROL)
_FIELDS = {"s", "v", "i", "p"}
_UNREADABLE = "is not a cursor from this listing's links; start again from page 1"


@dataclass(frozen=True)
class Cursor:
    """Where a page starts: after ``position`` (sort value, id) under ``sort``."""

    sort: str | None
    position: tuple
    page: int


# The ``after`` query type: a cursor's characters and length, checked before decoding.
cursor_text = pattern_text(MAX_CURSOR_LENGTH, CURSOR_PATTERN, "a cursor: letters, digits, - and _")


def encode_cursor(cursor: Cursor) -> str:
    """The opaque text of ``cursor``, as a ``next`` link carries it."""
    value, row_id = cursor.position
    if isinstance(value, datetime):
        value = _utc(value).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    data = {"s": cursor.sort, "v": value, "i": row_id, "p": cursor.page}
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode("ascii")


def decode_cursor(text: str, *, sort: str | None, value_type: type | None, max_page: int):
    """The ``Cursor`` in ``text``, for a request sorted by ``sort``; a 400 problem otherwise.

    ``value_type`` is the Python type of the sort's column (None when sorted by id).
    """
    try:
        data = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (binascii.Error, ValueError):  # UnicodeDecodeError is a ValueError
        raise _invalid(_UNREADABLE) from None
    if not isinstance(data, dict) or set(data) != _FIELDS:
        raise _invalid(_UNREADABLE)
    if data["s"] != sort:
        made_for = f"sort={data['s']}" if isinstance(data["s"], str) else "the default sort"
        raise _invalid(f"was made for {made_for}: ask with that sort, or start again from page 1")
    if not _is_int(data["i"], 1, MAX_ID):
        raise _invalid(f"holds an id out of range (1 to {MAX_ID})")
    if not _is_int(data["p"], 2, max_page):
        raise _invalid(f"holds a page number out of range (2 to {max_page})")
    value = _sort_value(data["v"], value_type)
    return Cursor(sort=sort, position=(value, data["i"]), page=data["p"])


def _sort_value(value, value_type: type | None):
    """The sort value of a decoded cursor, of ``value_type``; a 400 problem otherwise."""
    if value_type is None:
        if value is not None:
            raise _invalid("holds a sort value, but the listing is sorted by id")
        return None
    if value_type is int and _is_int(value, *_INT64):
        return value
    if value_type is str and _is_text(value):
        return value
    if value_type is datetime and _is_text(value):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is not None:
            return parsed.astimezone(UTC)
    raise _invalid(f"holds a sort value that is not a valid {value_type.__name__}")


def _is_int(value, low: int, high: int) -> bool:
    # bool is an int to Python, never to a client
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _is_text(value) -> bool:
    """A string the databases can compare: no control characters, valid UTF-8."""
    if not isinstance(value, str) or not _NO_CONTROL.match(value):
        return False
    try:
        value.encode()
    except UnicodeEncodeError:  # an unpaired surrogate
        return False
    return True


def _utc(value: datetime) -> datetime:
    """``value`` in UTC; naive values (SQLite returns them) are UTC already."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _invalid(message: str) -> ApiProblem:
    return ApiProblem(400, "Invalid query parameter", errors={"after": [message]})
