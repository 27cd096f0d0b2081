"""Listing totals: exact while small, reused for a few seconds once large.

A page's ``total`` is ``SELECT count(*) FROM (<the listing's query>)``; at a
million rows that costs tens of milliseconds, many times the page itself. So a
count of at least ``PAGE_COUNT_CACHE_MIN`` rows is kept for
``PAGE_COUNT_CACHE_SECONDS`` (0: never kept), keyed by the count statement's
SQL and its parameter values: the filters and the viewer's visibility are part
of the key, so no listing ever gets another's total. Smaller counts are cheap
and always made afresh.

Every commit through this process's engine forgets every kept count, so this
process never shows a total older than its own last write; other processes'
writes show within the TTL.
"""

import itertools
import threading
import time
from collections.abc import Callable

from flask import Flask, current_app
from sqlalchemy import Select, event, func, select

from models import db

EXTENSION = "storefront.page_counts"
# Marks a pooled connection whose transaction committed since it was checked out.
_COMMITTED = "storefront.page_counts.committed"


class PageCounts:
    """The kept counts of one app's database, and when each stops being served."""

    # Bounds the memory whatever filters clients send (``q`` is free text).
    CAPACITY = 1024

    def __init__(
        self, *, minimum: int, seconds: float, clock: Callable[[], float] = time.monotonic
    ):
        self.minimum = minimum
        self.seconds = seconds
        # Replaceable, so a test can move time on instead of sleeping.
        self.clock = clock
        # Count statements' SQL by their structure: compiled once per filter combination.
        self._sql: dict = {}
        self._generations = itertools.count()
        self.generation = next(self._generations)
        # key -> (count, generation it was counted in, clock time it expires)
        self._kept: dict[str, tuple[int, int, float]] = {}
        self._lock = threading.Lock()

    def watch(self, engine) -> None:
        """Forget the kept counts whenever a transaction commits through ``engine``.

        The engine's ``commit`` event comes just before the database commits, so
        a count made in between could still miss the write: the connection's
        return to the pool, after the commit, forgets them once more.
        """
        event.listen(engine, "commit", self._committing)
        event.listen(engine, "checkin", self._checked_in)

    def forget(self) -> None:
        """Stop serving every count kept so far."""
        # next() on itertools.count is atomic: concurrent commits never share a number.
        self.generation = next(self._generations)

    def _committing(self, connection) -> None:
        self.forget()
        connection.info[_COMMITTED] = True

    def _checked_in(self, _dbapi_connection, record) -> None:
        if record is not None and record.info.pop(_COMMITTED, False):
            self.forget()

    def count(self, query: Select) -> int:
        """The number of rows ``query`` selects: a kept count, or a new one."""
        statement = select(func.count()).select_from(query.order_by(None).subquery())
        key = self._key(statement) if self.seconds else None
        if key is None:
            return db.session.scalar(statement)
        kept = self._kept.get(key)
        if kept is not None and kept[1] == self.generation and self.clock() < kept[2]:
            return kept[0]
        # Read before counting: a commit during the count makes the result stale.
        generation = self.generation
        total = db.session.scalar(statement)
        if total >= self.minimum:
            self._keep(key, (total, generation, self.clock() + self.seconds))
        return total

    def _key(self, statement: Select) -> str | None:
        """The SQL of ``statement`` and its parameter values: SQLAlchemy's "offline" cache key.

        Compiling a statement costs more than the page it counts; its structural
        cache key (what SQLAlchemy's own statement cache uses) finds the SQL
        compiled for the same filters before, and only the values are new.
        """
        cache_key = statement._generate_cache_key()
        if cache_key is None:  # a construct SQLAlchemy cannot cache: count every time
            return None
        if len(self._sql) >= self.CAPACITY:
            self._sql.clear()
        return cache_key.to_offline_string(self._sql, statement, {})

    def _keep(self, key: str, entry: tuple[int, int, float]) -> None:
        with self._lock:
            if len(self._kept) >= self.CAPACITY:
                now = self.clock()
                self._kept = {
                    k: v for k, v in self._kept.items() if v[1] == self.generation and now < v[2]
                }
            if len(self._kept) >= self.CAPACITY:
                del self._kept[next(iter(self._kept))]  # the oldest
            self._kept[key] = entry


def register_page_counts(app: Flask) -> None:
    """Give ``app`` its count cache, watching its engine's commits."""
    counts = PageCounts(
        minimum=app.config["PAGE_COUNT_CACHE_MIN"],
        seconds=app.config["PAGE_COUNT_CACHE_SECONDS"],
    )
    with app.app_context():
        counts.watch(db.engine)
    app.extensions[EXTENSION] = counts


def count_rows(query: Select) -> int:
    """The number of rows ``query`` selects, counted or kept by this app's cache."""
    return current_app.extensions[EXTENSION].count(query)
