"""Keyset cursors: the opaque ``after`` values that say where a listing continues.

A cursor is base64url (no padding) of compact JSON: the ``sort`` it was made for
(``s``), the last row's sort value (``v``: null when sorted by id; a timestamp
as RFC 3339 UTC with microseconds) and id (``i``), and the number of the page
it opens (``p``). Clients only ever copy one from a ``next`` link, so every
other value is refused with a 400 problem before it reaches SQL: a value the
sort's column cannot hold (of another type, past the integer's width or the
text's length, a timestamp outside years 1 to 9999 in UTC), an id or page out
of range, or a cursor made for another ``sort``. A cursor is not signed: all it
can choose is where a listing the client may read anyway starts.
"""

import base64
import binascii
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import BigInteger, DateTime, Integer, SmallInteger, String
from sqlalchemy.types import TypeEngine

from api.errors import ApiProblem
from api.http.bodies import json_depth
from api.restx.fields import MAX_ID, NO_CONTROL
from api.restx.parsers import pattern_text

# The longest cursor this API makes: a product name of 200 characters (the
# longest sortable text) at four UTF-8 bytes each, with the rest, in base64.
MAX_CURSOR_LENGTH = 1200
CURSOR_PATTERN = "^[A-Za-z0-9_-]+$"
_NO_CONTROL = re.compile(NO_CONTROL)
# Integer column widths, subclasses before ``Integer`` itself (32-bit everywhere).
_INTEGER_BITS = ((BigInteger, 64), (SmallInteger, 16), (Integer, 32))
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


def decode_cursor(
    text: str, *, sort: str | None, column_type: TypeEngine | None, max_page: int
) -> Cursor:
    """The ``Cursor`` in ``text``, for a request sorted by ``sort``; a 400 problem otherwise.

    ``column_type`` is the type of the sort's column (None when sorted by id):
    the sort value must be one that column can hold.
    """
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        # A cursor is one flat object: nothing nested reaches the parser's recursion.
        data = json.loads(raw) if json_depth(raw) <= 1 else None
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
    value = _sort_value(data["v"], column_type)
    return Cursor(sort=sort, position=(value, data["i"]), page=data["p"])


def _sort_value(value, column_type: TypeEngine | None):
    """The sort value of a decoded cursor, one ``column_type`` can hold; a 400 problem otherwise.

    Integers within the column's width, text within its length and without
    control characters, timestamps with an offset that stay within years 1 to
    9999 once in UTC: anything else would make the database fail, not compare.
    """
    if column_type is None:
        if value is not None:
            raise _invalid("holds a sort value, but the listing is sorted by id")
        return None
    if isinstance(column_type, Integer):
        low, high = _integer_range(column_type)
        if _is_int(value, low, high):
            return value
        raise _invalid(f"holds a sort value that is not an integer from {low} to {high}")
    if isinstance(column_type, String) and _fits_text(value, column_type.length):
        return value
    if isinstance(column_type, DateTime) and _is_text(value):
        parsed = _utc_timestamp(value)
        if parsed is not None:
            return parsed
    raise _invalid(
        f"holds a sort value that is not a valid {column_type.python_type.__name__} "
        "for this listing"
    )


def _integer_range(column_type: Integer) -> tuple[int, int]:
    """The signed range of an integer column: 64, 16 or (plain ``Integer``) 32 bits."""
    bits = next(bits for kind, bits in _INTEGER_BITS if isinstance(column_type, kind))
    return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1


def _utc_timestamp(value: str) -> datetime | None:
    """An RFC 3339 timestamp with an offset, in UTC; None when it is none or UTC cannot hold it."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return None
    try:
        # 0001-01-01T00:00+01:00 is in year 0 in UTC, which datetime cannot hold.
        return parsed.astimezone(UTC)
    except OverflowError:
        return None


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


def _fits_text(value, length: int | None) -> bool:
    """Text the databases can compare (``_is_text``) of at most ``length`` characters."""
    return _is_text(value) and (length is None or len(value) <= length)


def _utc(value: datetime) -> datetime:
    """``value`` in UTC; naive values (SQLite returns them) are UTC already."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _invalid(message: str) -> ApiProblem:
    return ApiProblem(400, "Invalid query parameter", errors={"after": [message]})
