"""The declarative base, the ``db`` object and the transaction owner."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import BigInteger, DateTime, Integer, MetaData, text
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column
from sqlalchemy.orm.exc import StaleDataError

from models.errors import ConflictError

# Stable constraint names, so Alembic can alter and drop them on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# Ids are 64-bit on PostgreSQL (the API promises ids up to 2**63 - 1); SQLite
# needs plain INTEGER for a primary key to alias its 64-bit rowid.
IdType = BigInteger().with_variant(Integer, "sqlite")


class Base(DeclarativeBase):
    """Declarative base with the project's constraint naming convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)


def utcnow() -> datetime:
    """Return the current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


class TimestampedMixin:
    """Created/updated/deleted timestamps and an optimistic-locking version."""

    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, index=True
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # SQLAlchemy bumps it on every UPDATE and refuses a stale one; it backs ETags.
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    @declared_attr.directive
    def __mapper_args__(cls) -> dict:  # noqa: N805 (a class-level directive)
        return {"version_id_col": cls.__table__.c.version}

    @property
    def is_deleted(self) -> bool:
        """True once the row has been soft-deleted."""
        return self.deleted_at is not None


@contextmanager
def transaction(*, conflict: str = "The change conflicts with existing data") -> Iterator[None]:
    """Commit the block's changes, or roll all of them back.

    A unique or check constraint that the database refuses becomes a
    ``ConflictError`` carrying ``conflict``: the database's own message names
    tables and columns and is never shown to a client.
    """
    try:
        yield
        db.session.commit()
    except IntegrityError as error:
        db.session.rollback()
        raise ConflictError(conflict) from error
    except StaleDataError as error:
        db.session.rollback()
        raise ConflictError(
            "The object was changed by another request; reload it and retry"
        ) from error
    except BaseException:
        db.session.rollback()
        raise


def is_database_ready() -> bool:
    """Return True when the database answers a trivial query."""
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        db.session.rollback()
        return False
    return True
