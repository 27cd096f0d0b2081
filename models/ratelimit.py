"""Rate-limit windows in the database: counters that every worker and instance on it shares.

The API counts the attempts its strict limits guard (login, register) here when
no Redis is configured, so that a limit holds across gunicorn's workers with
nothing to set up. One statement counts a hit and answers the window: an
upsert that restarts a window that has ended, atomic on SQLite and PostgreSQL
alike.
"""

from sqlalchemy import Float, Integer, String, case, delete
from sqlalchemy.orm import Mapped, mapped_column

from models.base import db, upsert_insert

KEY_MAX_LENGTH = 255


class RateLimitWindow(db.Model):
    """One fixed window of one limit for one caller: how many hits, and when it ends."""

    __tablename__ = "rate_limit_windows"

    key: Mapped[str] = mapped_column(String(KEY_MAX_LENGTH), primary_key=True)
    hits: Mapped[int] = mapped_column(Integer, nullable=False)
    # Seconds since the epoch, as the API's clock reads them (time.time()).
    ends_at: Mapped[float] = mapped_column(Float, nullable=False)


def count_hit(connection, *, key: str, seconds: int, now: float) -> tuple[int, float]:
    """Count one hit on ``key``'s window of ``seconds``; return its hits and its end.

    ``connection`` is one of the engine's, in a transaction of its own: the
    count holds whatever becomes of the request. A window that ended ``now``
    or before starts again at one hit.
    """
    table = RateLimitWindow.__table__
    insert = upsert_insert(connection, table).values(key=key, hits=1, ends_at=now + seconds)
    ended = table.c.ends_at <= now
    upsert = insert.on_conflict_do_update(
        index_elements=[table.c.key],
        set_={
            "hits": case((ended, 1), else_=table.c.hits + 1),
            "ends_at": case((ended, insert.excluded.ends_at), else_=table.c.ends_at),
        },
    ).returning(table.c.hits, table.c.ends_at)
    hits, ends_at = connection.execute(upsert).one()
    return hits, ends_at


def forget_ended_windows(connection, *, now: float) -> None:
    """Delete the windows that have ended: the table holds the callers of the last window only."""
    table = RateLimitWindow.__table__
    connection.execute(delete(table).where(table.c.ends_at <= now))
