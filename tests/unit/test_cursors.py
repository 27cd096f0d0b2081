"""The cursor codec: what goes in comes out exactly, and anything else is refused."""

import base64
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import BigInteger, DateTime, Integer, SmallInteger, String

from api.errors import ApiProblem
from api.http.cursors import MAX_CURSOR_LENGTH, Cursor, decode_cursor, encode_cursor

MAX_PAGE = 1_000_000
BERLIN_WINTER = timezone(timedelta(hours=1))


@pytest.mark.parametrize(
    ("sort", "value", "column_type", "decoded"),
    [
        (None, None, None, None),
        ("price_cents", 0, Integer(), 0),
        ("price_cents", 2**31 - 1, Integer(), 2**31 - 1),
        ("-total_cents", 2**63 - 1, BigInteger(), 2**63 - 1),
        ("-total_cents", -(2**63), BigInteger(), -(2**63)),
        ("name", 'Mug "large" \\ 100% — 🫖', String(200), 'Mug "large" \\ 100% — 🫖'),
        # SQLite hands back naive UTC; PostgreSQL aware, in the session's zone.
        (
            "created_at",
            datetime(2026, 1, 1, 12, 0, 0, 1),
            DateTime(timezone=True),
            datetime(2026, 1, 1, 12, 0, 0, 1, tzinfo=UTC),
        ),
        (
            "-created_at",
            datetime(2026, 1, 1, 13, 0, 0, 999_999, tzinfo=BERLIN_WINTER),
            DateTime(timezone=True),
            datetime(2026, 1, 1, 12, 0, 0, 999_999, tzinfo=UTC),
        ),
    ],
)
def test_a_cursor_round_trips_exactly(sort, value, column_type, decoded):
    text = encode_cursor(Cursor(sort, (value, 42), 7))

    cursor = decode_cursor(text, sort=sort, column_type=column_type, max_page=MAX_PAGE)

    assert cursor == Cursor(sort, (decoded, 42), 7)
    assert set(text) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


@pytest.mark.parametrize(
    ("column_type", "low", "high"),
    [(SmallInteger(), -(2**15), 2**15 - 1), (Integer(), -(2**31), 2**31 - 1)],
)
def test_an_integer_is_bounded_by_its_columns_width(column_type, low, high):
    def decode(value):
        text = encode_cursor(Cursor("n", (value, 1), 2))
        return decode_cursor(text, sort="n", column_type=column_type, max_page=MAX_PAGE)

    assert decode(low).position == (low, 1)
    assert decode(high).position == (high, 1)
    for outside in (low - 1, high + 1):
        with pytest.raises(ApiProblem):
            decode(outside)


def test_a_timestamp_is_written_in_utc_with_microseconds():
    text = encode_cursor(Cursor("created_at", (datetime(2026, 1, 1, tzinfo=UTC), 1), 2))

    data = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))

    assert data == {"s": "created_at", "v": "2026-01-01T00:00:00.000000Z", "i": 1, "p": 2}


def test_the_longest_sort_value_fits():
    longest = Cursor("-name", ("\U0001f600" * 200, 2**63 - 1), MAX_PAGE)

    assert len(encode_cursor(longest)) <= MAX_CURSOR_LENGTH


def test_a_refusal_names_the_parameter():
    with pytest.raises(ApiProblem) as refused:
        decode_cursor("e30", sort=None, column_type=None, max_page=MAX_PAGE)  # {}

    assert refused.value.code == 400
    assert list(refused.value.errors) == ["after"]
