"""Revoked JWTs: logout must hold across processes, so the list is shared state."""

from datetime import UTC, datetime

from sqlalchemy import DateTime, String, delete, select
from sqlalchemy.orm import Mapped, mapped_column

from models.base import db, transaction, utcnow

# The Redis keys of revoked tokens: ``storefront:revoked:<jti>`` (after the
# deployment's ``REDIS_KEY_PREFIX``, when it sets one).
REVOKED_PREFIX = "storefront:revoked:"


class RevokedToken(db.Model):
    """A token id (``jti``) that must be refused until the token would expire anyway."""

    __tablename__ = "revoked_tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class DatabaseBlocklist:
    """Revoked ``jti``s in the database: the default, shared by every worker."""

    def revoke(self, jti: str, expires_at: datetime) -> None:
        """Record ``jti`` as revoked, and forget entries that have expired."""
        with transaction():
            db.session.execute(delete(RevokedToken).where(RevokedToken.expires_at < utcnow()))
            if db.session.get(RevokedToken, jti) is None:
                db.session.add(RevokedToken(jti=jti, expires_at=expires_at))

    def is_revoked(self, jti: str) -> bool:
        """Return True when ``jti`` has been revoked."""
        return (
            db.session.scalar(select(RevokedToken.jti).where(RevokedToken.jti == jti)) is not None
        )


class RedisBlocklist:
    """Revoked ``jti``s in Redis, each expiring with its token (``REDIS_URL`` set)."""

    def __init__(self, client, prefix: str = REVOKED_PREFIX):
        self.client = client
        self.prefix = prefix

    def revoke(self, jti: str, expires_at: datetime) -> None:
        """Record ``jti`` as revoked until ``expires_at``."""
        seconds = max(1, int((expires_at - datetime.now(UTC)).total_seconds()) + 1)
        self.client.set(self.prefix + jti, b"1", ex=seconds)

    def is_revoked(self, jti: str) -> bool:
        """Return True when ``jti`` has been revoked."""
        return bool(self.client.exists(self.prefix + jti))
