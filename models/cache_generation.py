"""The catalog's generation: a token that changes after every committed write to ``products``.

The response cache (``api.hooks.response_cache``) stores each public read under
the token it read first, and serves it only while the token is unchanged. The
token lives in the database, in one row, so every worker, every instance and
the job worker share it, and it survives a Redis outage or a Redis restored
from an old snapshot.

Who changes it: nobody calls ``bump``. Every engine of this app watches its own
statements (``watch_product_writes``): a transaction that ran an INSERT,
UPDATE or DELETE naming ``products`` (the ORM's flushes, Core statements such
as ``UPDATE ... RETURNING``, imports, ``flask seed``) marks its connection,
and once that transaction has committed and the connection goes back to the
pool, a short transaction of its own writes a new random token. So a write is
seen however it was issued, and the bump never holds a lock inside the
writer's transaction (a counter updated there would serialise every order on
one row).

Why after the commit, and why a random token rather than a counter: see
``docs/performance.md`` (the ordering argument). A reader that reads the token
before the data can only ever store data at least as new as that token; the
token becomes new only once the data it stands for is committed. Random, so
that a token never comes back: emptying the table (the tests do) or restoring
a backup cannot make an old entry current again. A missing row reads as
``None``: nothing is cached until the next write creates it.
"""

import contextlib
import logging
import re
import secrets
import threading

from sqlalchemy import BigInteger, Integer, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Mapped, mapped_column

from models.base import db

logger = logging.getLogger("api.response_cache")

ROW_ID = 1
_READ = f"SELECT token FROM cache_generation WHERE id = {ROW_ID}"  # noqa: S608 (a constant)
# Connection.info keys: a write to products ran in this transaction / has committed.
_TOUCHED = "storefront.generation.touched"
_COMMITTED = "storefront.generation.committed"
# A statement that may change products: anything but a read that names the table.
_PRODUCTS = re.compile(r"\bproducts\b", re.IGNORECASE)
_READS = ("SELECT", "PRAGMA", "EXPLAIN", "SHOW")


class CacheGeneration(db.Model):
    """The one row holding the catalog's current generation token."""

    __tablename__ = "cache_generation"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    token: Mapped[int] = mapped_column(BigInteger)


def writes_products(statement: str) -> bool:
    """Whether ``statement`` may change rows of ``products`` (a read never does).

    Conservative: DDL naming the table, or a CTE that only reads, counts too;
    a needless bump costs one small write and some cache misses, a missed one
    a stale response.
    """
    if "products" not in statement and "PRODUCTS" not in statement:
        return False
    return not statement.lstrip(" (\n\t").upper().startswith(_READS) and bool(
        _PRODUCTS.search(statement)
    )


def new_token() -> int:
    """A random signed 63-bit token: never equal to an earlier one, in practice."""
    return secrets.randbits(63)


def _bump_sql(token: int) -> str:
    # The token is an int made here, never client input; one statement that
    # also recreates the row if it was deleted (SQLite 3.24+ and PostgreSQL).
    return (
        f"INSERT INTO cache_generation (id, token) VALUES ({ROW_ID}, {int(token)}) "  # noqa: S608
        "ON CONFLICT (id) DO UPDATE SET token = excluded.token"
    )


class GenerationWatch:
    """One engine's side of the generation: detect product writes, bump after commit, read.

    ``owed`` is True while a bump failed (the database refused or was down):
    this process then neither serves nor stores cached responses, and retries
    the bump first (``settle``), since others may be serving what this
    process's write made stale.
    """

    def __init__(self, engine: Engine):
        self.engine = engine
        self.owed = False
        self.bumps = 0
        self._local = threading.local()
        self._readers: list = []
        self._lock = threading.Lock()
        event.listen(engine, "before_cursor_execute", self._executing)
        event.listen(engine, "commit", self._committing)
        event.listen(engine, "rollback", self._rolling_back)
        event.listen(engine, "checkin", self._checked_in)
        event.listen(engine, "engine_disposed", self._disposed)

    # --- writers -----------------------------------------------------------------

    def _executing(self, connection, _cursor, statement, _params, _context, _many) -> None:
        if writes_products(statement):
            connection.info[_TOUCHED] = True

    def _committing(self, connection) -> None:
        # Before the database commits: only a mark; the bump waits for the checkin.
        if connection.info.pop(_TOUCHED, False):
            connection.info[_COMMITTED] = True

    def _rolling_back(self, connection) -> None:
        connection.info.pop(_TOUCHED, None)

    def _checked_in(self, dbapi_connection, record) -> None:
        # After the commit and the pool's reset: the connection is idle and still ours.
        if record is None or not record.info.pop(_COMMITTED, False):
            return
        if dbapi_connection is None:  # invalidated on the way back
            self.owed = True
            return
        self._bump_on(dbapi_connection)

    def _bump_on(self, dbapi_connection) -> bool:
        try:
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute(_bump_sql(new_token()))
            finally:
                cursor.close()
            dbapi_connection.commit()
        except Exception as error:  # any driver's error: owe the bump
            # A broken connection may refuse even this; the pool drops it.
            with contextlib.suppress(Exception):
                dbapi_connection.rollback()
            if not self.owed:
                logger.warning(
                    "Could not bump the cache generation (%s); not caching until it can",
                    type(error).__name__,
                )
            self.owed = True
            return False
        self.bumps += 1
        return True

    def settle(self) -> bool:
        """Pay an owed bump; True when nothing is owed (any more)."""
        if not self.owed:
            return True
        connection = self.engine.raw_connection()
        try:
            paid = self._bump_on(connection.dbapi_connection)
        finally:
            connection.close()
        if paid:
            self.owed = False
            logger.info("Cache generation bumped again; caching resumes")
        return paid

    # --- readers -----------------------------------------------------------------

    def read(self) -> int | None:
        """The current token, as committed now; None when there is no row yet.

        One indexed single-row SELECT on a connection this thread keeps outside
        the pool, in autocommit: no checkout, no pre-ping, no transaction, so
        each read sees the latest commit. Raises the driver's error when the
        database does not answer (the caller then bypasses the cache); the
        connection is then replaced on the next read.
        """
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._connect()
        try:
            cursor = connection.cursor()
            cursor.execute(_READ)
            row = cursor.fetchone()
            cursor.close()
        except Exception:
            self._drop(connection)
            raise
        return None if row is None else row[0]

    def _connect(self):
        proxied = self.engine.raw_connection()
        proxied.detach()  # ours alone from now on: the pool neither resets nor reuses it
        connection = proxied.dbapi_connection
        if type(connection).__module__.startswith("sqlite3"):
            connection.isolation_level = None  # autocommit: no snapshot held between reads
        else:
            connection.autocommit = True
        self._local.connection = connection
        with self._lock:
            self._readers.append(connection)
        return connection

    def _drop(self, connection) -> None:
        self._local.connection = None
        with self._lock:
            if connection in self._readers:
                self._readers.remove(connection)
        with contextlib.suppress(Exception):  # already broken
            connection.close()

    def _disposed(self, _engine) -> None:
        # engine.dispose() closes the pool; the readers' connections are closed
        # with it (a test's database can then be dropped).
        with self._lock:
            readers, self._readers = self._readers, []
        for connection in readers:
            with contextlib.suppress(Exception):  # already broken
                connection.close()
        self._local = threading.local()


def watch_product_writes(engine: Engine) -> GenerationWatch:
    """Start bumping the generation after every committed write to ``products`` on ``engine``."""
    return GenerationWatch(engine)
