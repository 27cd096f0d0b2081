"""The declarative base, the ``db`` object and the transaction owner."""

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from typing import Any

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import (
    DDL,
    BigInteger,
    ColumnElement,
    DateTime,
    Index,
    Integer,
    MetaData,
    Select,
    String,
    event,
    literal_column,
    text,
    tuple_,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine, Row
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column
from sqlalchemy.orm.exc import StaleDataError
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeEngine

from models.errors import ConflictError, PreconditionFailedError

# Stable constraint names, so Alembic can alter and drop them on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# The detail of a 409 for two writes to one row at the same moment, neither
# naming the version it edited: the loser's transaction found the row changed.
CHANGED_MEANWHILE = "The object was changed by another request; reload it and retry"


# Ids are 64-bit on PostgreSQL (the API promises ids up to 2**63 - 1); SQLite
# needs plain INTEGER for a primary key to alias its 64-bit rowid.
IdType = BigInteger().with_variant(Integer, "sqlite")


class Base(DeclarativeBase):
    """Declarative base with the project's constraint naming convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)


_UPSERT_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def upsert_insert(connection, table):
    """The dialect's ``insert(table)``, which has ``on_conflict_do_update``.

    SQLite and PostgreSQL spell ``ON CONFLICT`` alike, but SQLAlchemy builds it
    from each dialect's own ``insert``.
    """
    return _UPSERT_INSERTS[connection.dialect.name](table)


def utcnow() -> datetime:
    """Return the current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


class TimestampedMixin:
    """Created/updated timestamps and an optimistic-locking version."""

    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, index=True
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )
    # SQLAlchemy bumps it on every UPDATE and refuses a stale one; it backs ETags.
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    @declared_attr.directive
    def __mapper_args__(cls) -> dict:  # noqa: N805 (a class-level directive)
        return {"version_id_col": cls.__table__.c.version}


# Session.info key: the object whose version the writes of this session are conditional on.
_PRECONDITION = "storefront.precondition"


def check_version(obj, expected: frozenset[int] | None, *, entity: str) -> None:
    """Refuse to change ``obj`` unless it is at one of the ``expected`` versions.

    ``None`` means the client stated no precondition (no ``If-Match``). The
    version can still move on between this check and the commit, when another
    request writes first; the UPDATE's own version check (``version_id_col``)
    then fails, and ``transaction`` answers that with the same precondition
    failure, so a client that sent ``If-Match`` learns its version is stale
    whichever of the two checks noticed.
    """
    if expected is None:
        return
    if obj.version not in expected:
        raise PreconditionFailedError(entity, obj.id, obj.version)
    db.session.info[_PRECONDITION] = (entity, obj)


class SoftDeleteMixin:
    """A ``deleted_at`` mark: deleted rows stay (orders refer to them) but count as gone."""

    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    @property
    def is_deleted(self) -> bool:
        """True once the row has been soft-deleted."""
        return self.deleted_at is not None


# The execution option that makes a connection's next transaction a locking one.
LOCKING = "storefront_locking"


@contextmanager
def transaction(
    *, conflict: str = "The change conflicts with existing data", locking: bool = False
) -> Iterator[None]:
    """Commit the block's changes, or roll all of them back.

    A unique or check constraint that the database refuses becomes a
    ``ConflictError`` carrying ``conflict``: the database's own message names
    tables and columns and is never shown to a client. A version another
    request committed first is a ``PreconditionFailedError`` when the client
    named the version it edited (``check_version``), else a ``ConflictError``.

    ``locking``: the block decides what to write from rows it reads (a count, a
    rule over several rows), so two such blocks must never decide on the same
    reads. The block reads those rows with ``SELECT ... FOR UPDATE``
    (``with_for_update()``, in a fixed order), which PostgreSQL locks until the
    commit. SQLite has no row locks (SQLAlchemy leaves ``FOR UPDATE`` out), so
    there the transaction takes the database's write lock as it begins
    (``BEGIN IMMEDIATE``): its reads are then current, and no other writer
    commits before it does. Either way the block runs in a transaction of its
    own, begun here: the session's earlier read-only one (the token's user
    lookup) ends, and the objects it loaded are read again when next used.
    """
    if locking:
        _begin_locking_transaction()
    try:
        yield
        db.session.commit()
    except IntegrityError as error:
        db.session.rollback()
        raise ConflictError(conflict) from error
    except StaleDataError as error:
        db.session.rollback()
        guarded = db.session.info.pop(_PRECONDITION, None)
        if guarded is not None:
            entity, obj = guarded
            raise PreconditionFailedError(entity, obj.id, _current_version(obj)) from error
        # No precondition was stated, so none failed: two writes conflicted.
        raise ConflictError(CHANGED_MEANWHILE) from error
    except BaseException:
        db.session.rollback()
        raise
    finally:
        db.session.info.pop(_PRECONDITION, None)


def _current_version(obj) -> int | None:
    """The committed version of ``obj`` (the rollback expired it: this reads it again)."""
    try:
        return obj.version
    except SQLAlchemyError:
        return None


def _begin_locking_transaction() -> None:
    session = db.session
    if session.new or session.dirty or session.deleted:
        # Ending the earlier transaction would drop them: a bug in the caller.
        raise RuntimeError("a locking transaction must begin before any change")
    session.rollback()
    session.connection(execution_options={LOCKING: True})


class unicode_lower(FunctionElement):  # noqa: N801 (reads as the SQL function it is)
    """``lower()`` that folds every letter, not only ASCII, on every backend.

    PostgreSQL's ``lower`` is Unicode-aware; SQLite's only folds A-Z, so on
    SQLite it calls ``unicode_lower``, registered on each connection below.
    """

    type = String()
    inherit_cache = True


@compiles(unicode_lower)
def _compile_lower(element, compiler, **kw):
    return f"lower({compiler.process(element.clauses, **kw)})"


@compiles(unicode_lower, "sqlite")
def _compile_sqlite_lower(element, compiler, **kw):
    return f"unicode_lower({compiler.process(element.clauses, **kw)})"


def _python_lower(value):
    return value.lower() if isinstance(value, str) else value


@event.listens_for(Engine, "connect")
def _configure_sqlite(dbapi_connection, _record):
    """SQLite: enforce foreign keys, WAL so readers never block the writer, Unicode lower."""
    if not type(dbapi_connection).__module__.startswith("sqlite3"):
        return
    dbapi_connection.create_function("unicode_lower", 1, _python_lower, deterministic=True)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


@event.listens_for(Engine, "begin")
def _begin_sqlite_locking(connection):
    """SQLite: a locking ``transaction`` takes the write lock as it begins.

    Other transactions are left to the driver, which begins them (deferred) at
    their first write, so a request that only reads never takes the lock.
    """
    if connection.dialect.name == "sqlite" and connection.get_execution_options().get(LOCKING):
        connection.exec_driver_sql("BEGIN IMMEDIATE")


_LIVE = "deleted_at IS NULL"


def live_listing_indexes(table: str, *columns: str) -> list[Index]:
    """A ``(column, id)`` index over live rows for each of ``columns``.

    Each serves a listing sorted by the column, cut by a keyset cursor on
    (column, id) and limited: the page reads only its own rows. Partial on
    ``deleted_at IS NULL``, which every listing of a soft-deleted table filters
    on (SQLite uses a partial index only when the query repeats its condition).
    """
    return [
        Index(
            f"ix_{table}_live_{column}_id",
            column,
            "id",
            sqlite_where=text(_LIVE),
            postgresql_where=text(_LIVE),
        )
        for column in columns
    ]


def live_trigram_indexes(table: str, *columns: str) -> list[Index]:
    """PostgreSQL trigram indexes on ``lower(column)`` over live rows, for ``q`` searches.

    A substring match (``LIKE '%x%'``) cannot use a btree; these index exactly
    the expression ``unicode_lower`` compiles to. SQLite has no equivalent and
    gets none. The table needs ``PG_TRGM`` among its ``__table_args__``.
    """
    return [
        Index(
            f"ix_{table}_live_{column}_trgm",
            unicode_lower(literal_column(column)).label(f"lower_{column}"),
            postgresql_using="gin",
            postgresql_ops={f"lower_{column}": "gin_trgm_ops"},
            postgresql_where=text(_LIVE),
        ).ddl_if(dialect="postgresql")
        for column in columns
    ]


# ``create_all`` (the tests' schema) needs the extension before a trigram
# index, as migration 0004 creates it.
PG_TRGM = {
    "listeners": [
        (
            "before_create",
            DDL("CREATE EXTENSION IF NOT EXISTS pg_trgm").execute_if(dialect="postgresql"),
        )
    ]
}


@dataclass(frozen=True)
class Ordering:
    """A listing's orderings: its sort allow-list and the id column that breaks ties.

    It gives the ORDER BY of a sort, and the keyset condition that continues a
    listing after a position: the (sort value, id) of the last row a page showed.
    A listing that offers cursors builds its query with both.
    """

    sorts: Mapping[str, Any]
    tiebreak: Any

    def order_by(self, sort: str | None) -> tuple:
        """ORDER BY clauses for ``sort`` (a key of ``sorts``, ``-`` for descending).

        The tiebreak column (the id) follows in the same direction, so pages
        never overlap or skip rows that share a sort value.
        """
        if not sort:
            return (self.tiebreak,)
        column = self.sorts[sort.lstrip("-")]
        if sort.startswith("-"):
            return column.desc(), self.tiebreak.desc()
        return column, self.tiebreak

    def after(self, sort: str | None, position: tuple) -> ColumnElement[bool]:
        """The rows that follow ``position`` in the order of ``sort``.

        A row-value comparison, ``(column, id) > (:value, :id)`` (``<`` when
        descending): PostgreSQL and SQLite both seek the (column, id) index to
        it. SQLite scans that index from its start for the equivalent
        ``column > :value OR (column = :value AND id > :id)``, so the row value
        is the form that keeps deep pages as cheap as the first.
        """
        value, last_id = position
        if not sort:
            return self.tiebreak > last_id
        column = self.sorts[sort.lstrip("-")]
        keys = tuple_(column, self.tiebreak)
        start = tuple_(value, last_id, types=[column.type, self.tiebreak.type])
        return keys < start if sort.startswith("-") else keys > start

    def position(self, row, sort: str | None) -> tuple:
        """The (sort value, id) of ``row`` under ``sort``; the value is None when sorted by id."""
        value = getattr(row, self.sorts[sort.lstrip("-")].key) if sort else None
        return value, getattr(row, self.tiebreak.key)

    def column_type(self, sort: str | None) -> TypeEngine | None:
        """The column type of a position's sort value under ``sort`` (None when sorted by id).

        A position that comes from a client (a cursor) is checked against it:
        a value the column cannot hold would fail in the database, not match.
        """
        return self.sorts[sort.lstrip("-")].type if sort else None


def read_row(statement, **params) -> Row | None:
    """Run a read-only ``statement`` on a connection of its own; its first row, or None.

    A read that only renders a row does not need the ORM: no session to open
    and tear down, no identity map, no change tracking. That is most of the
    cost of a point read. The row has one attribute per column, read like a
    model instance. The connection sees committed data only, so this is not for
    a request that has written in its session.
    """
    with db.engine.connect() as connection:
        return connection.execute(statement, params).first()


def read_rows(statement) -> list[Row]:
    """Every row of a read-only ``statement``, as ``read_row`` reads one (no ORM objects)."""
    with db.engine.connect() as connection:
        return connection.execute(statement).all()


def session_rows(statement) -> list:
    """Every ORM object ``statement`` selects, through the request's session."""
    return db.session.scalars(statement).all()


@dataclass(frozen=True)
class Listing:
    """A collection as the API pages it: its select, its orderings and how its rows are read.

    ``select(**filters, sort=..., after=...)`` builds the statement; ``after``
    (a position in ``ordering``) is passed only when ``cursors`` is on. The read
    path is chosen here, once per listing, so the API never chooses it:
    ``read_rows`` (Core rows, half the cost of ORM objects) for items that need
    no relationship loaded, ``session_rows`` (ORM objects) for the others. A
    listing is only ever read by a GET, which has written nothing, so the
    committed data ``read_rows`` sees is what the session would see.
    """

    select: Callable[..., Select]
    ordering: Ordering
    read: Callable[[Select], list] = session_rows
    cursors: bool = True

    def where(self, **fixed) -> "Listing":
        """The same listing with some filters fixed (the viewer, a parent's id)."""
        return replace(self, select=partial(self.select, **fixed))


def is_database_ready() -> bool:
    """Return True when the database answers a trivial query."""
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        db.session.rollback()
        return False
    return True
