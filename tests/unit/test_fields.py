"""The shared field types render exactly what the spec promises."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from api.restx.fields import Timestamp


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # SQLite hands back naive datetimes, which are UTC.
        (datetime(2026, 11, 22, 3, 4, 5, 999_999), "2026-11-22T03:04:05Z"),
        (datetime(2026, 11, 22, 3, 4, 5, tzinfo=UTC), "2026-11-22T03:04:05Z"),
        # An offset is converted, across a date line too.
        (
            datetime(2026, 1, 1, 1, 30, tzinfo=timezone(timedelta(hours=5, minutes=30))),
            "2025-12-31T20:00:00Z",
        ),
        (datetime(2026, 12, 31, 20, tzinfo=timezone(timedelta(hours=-5))), "2027-01-01T01:00:00Z"),
        # Four-digit years below 1000, as RFC 3339 requires.
        (datetime(999, 1, 2, 3, 4, 5), "0999-01-02T03:04:05Z"),
        (datetime(9999, 12, 31, 23, 59, 59), "9999-12-31T23:59:59Z"),
    ],
)
def test_timestamps_are_rfc3339_utc_to_the_second(value, expected):
    assert Timestamp().format(value) == expected
