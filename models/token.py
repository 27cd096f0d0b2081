"""Revoked sessions: logout must hold across processes, so the list is shared state.

The database is the record of every revocation. With ``REDIS_URL`` set, Redis
holds a copy that is read first, so checking a token costs no query; it is
never the only copy, and it is trusted only while it can be known complete:

- Redis unreachable: the database answers, and an attempt to reach Redis again
  is made every ``RECHECK_SECONDS`` (never a failed request).
- Redis reachable again, but a revocation written while it was not never got
  there (maybe from another instance, cut off from Redis while this one was
  not): the revoking request counts it on the user's row
  (``User.unsynced_revocations``), which every check reads anyway; while that
  count is above zero the user's tokens are checked in the database, and the
  first check copies the user's revocations to Redis and settles the count.
- Redis lost its data (a restart without persistence, a flush): the marker key
  that says "complete" is gone with it; the database answers until the live
  revocations have been copied back and the marker set again. Redis must not
  evict these keys under memory pressure (``maxmemory-policy noeviction``).
"""

import logging
import threading
import time
from collections.abc import Iterable
from datetime import UTC, datetime

from redis.exceptions import RedisError
from sqlalchemy import DateTime, ForeignKey, String, bindparam, delete, select, update
from sqlalchemy.orm import Mapped, mapped_column

from models.base import IdType, db, read_rows, transaction, utcnow
from models.user import User

# While Redis is unreachable, how often a check asks whether it is back.
RECHECK_SECONDS = 10
# The Redis keys of revoked sessions: ``storefront:revoked:<id>``, after the
# deployment's ``REDIS_KEY_PREFIX`` when it sets one.
REVOKED_PREFIX = "storefront:revoked:"


class RevokedToken(db.Model):
    """A revoked session (or token), refused until every token of it would have expired anyway."""

    __tablename__ = "revoked_tokens"

    # The session's id (the tokens' ``sid`` claim), or, for a token minted before
    # sessions existed, that token's own ``jti``: both are opaque ids.
    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    # Whose session it was, so that one user's revocations can be copied to Redis
    # (empty for revocations copied from Redis by migration 0006).
    user_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("users.id"), index=True)


class DatabaseBlocklist:
    """Revoked ids in the database: the record, shared by every worker and instance."""

    def revoke(
        self, jti: str, expires_at: datetime, *, user_id: int | None = None, unsynced: bool = False
    ) -> None:
        """Record ``jti`` as revoked, and forget entries that have expired.

        ``unsynced``: Redis is configured but did not take the revocation; it is
        counted on the user's row in the same transaction.
        """
        with transaction():
            db.session.execute(delete(RevokedToken).where(RevokedToken.expires_at < utcnow()))
            if db.session.get(RevokedToken, jti) is None:
                db.session.add(RevokedToken(jti=jti, expires_at=expires_at, user_id=user_id))
            if unsynced and user_id is not None:
                db.session.execute(_count_unsynced(user_id, +1))

    def is_revoked(self, jti: str) -> bool:
        """Return True when ``jti`` has been revoked."""
        return (
            db.session.scalar(select(RevokedToken.jti).where(RevokedToken.jti == jti)) is not None
        )

    def user_and_revocation(self, user_id: int, jti: str) -> tuple[User | None, bool]:
        """User ``user_id`` (None when there is none) and whether ``jti`` is revoked, in one query.

        Checking a token needs both, and one statement reads them from the same
        snapshot at the cost of one round trip: the revocation is a primary-key
        probe beside the user's row. The user is loaded into the session, as
        ``db.session.get`` would, for the request to use and change.
        """
        row = db.session.execute(
            select(User, _REVOKED.label("revoked")).where(User.id == bindparam("user_id")),
            {"user_id": user_id, "jti": jti},
        ).first()
        return (None, False) if row is None else (row[0], bool(row[1]))

    def live(self, *, user_id: int | None = None) -> list[tuple[str, datetime]]:
        """The revocations that have not expired (one user's, given ``user_id``): (id, expiry)."""
        query = select(RevokedToken.jti, RevokedToken.expires_at).where(
            RevokedToken.expires_at > utcnow()
        )
        if user_id is not None:
            query = query.where(RevokedToken.user_id == user_id)
        return [(row.jti, _aware(row.expires_at)) for row in read_rows(query)]

    def settle(self, *, user_id: int, synced: int) -> None:
        """Take ``synced`` revocations, now copied to Redis, off the user's unsynced count.

        On a connection of its own, so that the request's session (which holds
        the user being checked) is left alone; a count raised meanwhile by
        another failed write stays above zero.
        """
        with db.engine.begin() as connection:
            connection.execute(
                _count_unsynced(user_id, -synced).where(User.unsynced_revocations >= synced)
            )


_REVOKED = select(RevokedToken.jti).where(RevokedToken.jti == bindparam("jti")).exists()


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; they were stored in UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _count_unsynced(user_id: int, change: int):
    # A plain UPDATE: bookkeeping, which neither bumps the user's version (its
    # ETag) nor its updated_at.
    return (
        update(User.__table__)
        .where(User.id == user_id)
        .values(
            unsynced_revocations=User.unsynced_revocations + change,
            updated_at=User.updated_at,
        )
    )


class RedisBlocklist:
    """Revoked ids in Redis, each expiring with its tokens, and a marker of completeness.

    Every method may raise ``redis.RedisError``; ``Blocklist`` decides what an
    unreachable Redis means.
    """

    def __init__(self, client, prefix: str = REVOKED_PREFIX):
        self.client = client
        self.prefix = prefix
        # Outside the ids' key space, and without an expiry: it goes only with
        # the data, on a restart without persistence or a flush.
        self.complete_key = prefix.rstrip(":") + "-complete"

    def revoke(self, jti: str, expires_at: datetime) -> None:
        """Record ``jti`` as revoked until ``expires_at``."""
        self.client.set(self.prefix + jti, b"1", ex=_seconds_until(expires_at))

    def is_revoked(self, jti: str) -> bool:
        """Return True when Redis holds ``jti`` as revoked."""
        return bool(self.client.exists(self.prefix + jti))

    def lookup(self, jti: str) -> bool | None:
        """Whether ``jti`` is revoked, or None when Redis may not hold every revocation."""
        complete, revoked = self.client.mget(self.complete_key, self.prefix + jti)
        if complete is None:
            return None
        return revoked is not None

    def copy(self, entries: Iterable[tuple[str, datetime]], *, complete: bool = False) -> None:
        """Store ``entries`` (id, expiry); with ``complete``, then mark Redis as holding all."""
        with self.client.pipeline(transaction=False) as pipe:
            for jti, expires_at in entries:
                pipe.set(self.prefix + jti, b"1", ex=_seconds_until(expires_at))
            if complete:
                pipe.set(self.complete_key, b"1")
            pipe.execute()

    def ping(self) -> bool:
        """Return True when Redis answers."""
        return bool(self.client.ping())


def _seconds_until(expires_at: datetime) -> int:
    # At least a second: Redis refuses an expiry of zero.
    return max(1, int((expires_at - datetime.now(UTC)).total_seconds()) + 1)


class Blocklist:
    """Revocations as the app reads and writes them: the database, and Redis in front of it.

    Without ``redis`` it is the database alone. With it, a revocation is
    written to Redis and then to the database, and a check reads Redis first:
    see the module's docstring for when the database answers instead. Nothing
    here raises for Redis: an outage is logged once, and once more when it ends.
    """

    def __init__(
        self,
        database: DatabaseBlocklist,
        redis: RedisBlocklist | None = None,
        *,
        logger: logging.Logger | None = None,
    ):
        self.database = database
        self.redis = redis
        self.logger = logger or logging.getLogger(__name__)
        self._up = True
        self._next_check = 0.0
        self._lock = threading.Lock()

    def revoke(self, jti: str, expires_at: datetime, *, user_id: int | None = None) -> None:
        """Revoke ``jti`` (a session id, or a token id) until ``expires_at``.

        Redis first: should the database then fail, the revocation holds where
        Redis is read, and the request fails, so the client knows to retry.
        """
        in_redis = False
        if self.redis is not None and self._usable():
            try:
                self.redis.revoke(jti, expires_at)
                in_redis = True
            except (RedisError, OSError) as error:
                self._failed(error)
        unsynced = self.redis is not None and not in_redis
        self.database.revoke(jti, expires_at, user_id=user_id, unsynced=unsynced)

    def is_revoked(
        self, jti: str, *, user: User | None = None, in_database: bool | None = None
    ) -> bool:
        """Return True when ``jti`` has been revoked; ``user`` is the user the token names.

        ``in_database``: the database's answer, when the caller has read it
        already (``user_and_revocation``), so that none is asked again.
        """
        if self.redis is not None and self._usable():
            try:
                if user is not None and user.unsynced_revocations:
                    self._catch_up(user)
                else:
                    known = self.redis.lookup(jti)
                    if known is not None:
                        return known
                    self._copy_all()
            except (RedisError, OSError) as error:
                self._failed(error)
        if in_database is not None:
            return in_database
        return self.database.is_revoked(jti)

    def user_and_revocation(self, user_id: int, jti: str) -> tuple[User | None, bool]:
        """User ``user_id`` (None when there is none) and whether ``jti`` is revoked.

        One query answers both when the database is the one asked; with Redis,
        the query still reads the user (whose ``unsynced_revocations`` says
        whether Redis may be trusted) and Redis answers when it can.
        """
        user, in_database = self.database.user_and_revocation(user_id, jti)
        if user is None:
            return None, False
        return user, self.is_revoked(jti, user=user, in_database=in_database)

    def redis_status(self) -> str | None:
        """``ok`` or ``unavailable`` for the configured Redis, asked now; None without one."""
        if self.redis is None:
            return None
        try:
            self.redis.ping()
        except (RedisError, OSError):
            return "unavailable"
        return "ok"

    def _catch_up(self, user: User) -> None:
        """Copy ``user``'s revocations to Redis, then settle the count the check read.

        The count was read before the revocations are, so every revocation it
        counts is among those copied; one counted later keeps the user checked
        in the database until the next catch-up. The database answers this check.
        """
        owed = user.unsynced_revocations
        self.redis.copy(self.database.live(user_id=user.id))
        self.database.settle(user_id=user.id, synced=owed)

    def _copy_all(self) -> None:
        """Copy every live revocation to Redis and mark it complete.

        The database answers the check that found the marker gone.
        """
        self.redis.copy(self.database.live(), complete=True)
        self.logger.info(
            "Redis did not hold every revoked session (first use, or it lost its data); "
            "copied them from the database"
        )

    def _failed(self, error: Exception) -> None:
        with self._lock:  # threads failing at once log it once
            if self._up:
                self._up = False
                self._next_check = time.monotonic() + RECHECK_SECONDS
                self.logger.warning(
                    "Redis unreachable for revoked sessions (%s); checking them in the "
                    "database until it is back",
                    error,
                )

    def _usable(self) -> bool:
        """True while Redis is up; while it is down, asks again every ``RECHECK_SECONDS``."""
        if self._up:
            return True
        with self._lock:  # one check asks, the others use the database meanwhile
            if time.monotonic() < self._next_check:
                return False
            self._next_check = time.monotonic() + RECHECK_SECONDS
        try:
            self.redis.ping()
        except (RedisError, OSError):
            return False
        self._up = True
        self.logger.info("Redis is back; checking revoked sessions there again")
        return True
