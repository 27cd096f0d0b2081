"""token versions and sessions; the database becomes the record of revocations

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 14:00:00.000000

- ``users.token_version``: every token carries the version current when it was
  minted; a password change or reset raises it, revoking every earlier token.
  Existing users start at 0, which is what tokens minted before this change
  (without the claim) count as: they keep working until the next change.
- ``users.unsynced_revocations``: revocations of the user's sessions that the
  database holds and Redis may not (its write failed); while above zero, the
  user's tokens are checked in the database (``models/token.py``).
- ``revoked_tokens.user_id``: whose session a revocation ended, so that one
  user's revocations can be copied to Redis. Empty for the rows that exist
  already, and for those copied below.

Before this change, with ``REDIS_URL`` set, a revocation (a logout) was written
to Redis only. From now on the database is the record and Redis a copy read
first; so this migration copies into ``revoked_tokens`` the revocations that
Redis still holds. It can copy nothing it cannot see: a revocation that only
Redis held and that Redis has since lost (a restart without persistence, an
eviction) cannot be recovered, and its token, if not expired, would be accepted
again. When ``REDIS_URL`` is not set while migrating, nothing is copied and a
warning says so: if the deployment used Redis, its old revocations then stay in
Redis alone (still refused while Redis holds them, not during an outage) until
their tokens expire, at most ``JWT_REFRESH_DAYS`` after their login. When
``REDIS_URL`` is set but Redis does not answer (it may still be starting, as
on a first ``docker compose up``), the same goes, and the warning names the
error: a fresh install has nothing to copy, and an upgrade is better off
migrated than stopped, since the app keeps reading Redis first.

Redis is read before anything changes. Downgrading drops the columns (the
revocations stay, as plain ids).
"""
import logging
from datetime import UTC, datetime, timedelta

import redis
import sqlalchemy as sa
from alembic import context, op
from flask import current_app

# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

log = logging.getLogger('alembic.migration.0006')
# models.token.REVOKED_PREFIX when this was written (a migration keeps its own copy).
REVOKED_PREFIX = 'storefront:revoked:'
# The length of revoked_tokens.jti; the app never writes longer ids.
MAX_ID_LENGTH = 64


def upgrade():
    # Redis first: should it fail, nothing has changed yet (SQLite's DDL is not
    # transactional here, so a later failure would leave the new columns behind).
    held = _revocations_in_redis()

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('token_version', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('unsynced_revocations', sa.Integer(), server_default='0', nullable=False))

    with op.batch_alter_table('revoked_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True))
        batch_op.create_index(batch_op.f('ix_revoked_tokens_user_id'), ['user_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_revoked_tokens_user_id_users'), 'users', ['user_id'], ['id'])

    if held is not None:
        known = set(op.get_bind().execute(sa.select(_revoked_tokens.c.jti)).scalars())
        rows = [{'jti': jti, 'expires_at': at} for jti, at in held.items() if jti not in known]
        if rows:
            op.bulk_insert(_revoked_tokens, rows)
        log.info('copied %d revocation(s) from Redis into revoked_tokens', len(rows))


def downgrade():
    with op.batch_alter_table('revoked_tokens', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_revoked_tokens_user_id_users'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_revoked_tokens_user_id'))
        batch_op.drop_column('user_id')

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('unsynced_revocations')
        batch_op.drop_column('token_version')


_revoked_tokens = sa.table(
    'revoked_tokens',
    sa.column('jti', sa.String(MAX_ID_LENGTH)),
    sa.column('expires_at', sa.DateTime(timezone=True)),
)


def _revocations_in_redis():
    """The revocations Redis holds (id → expiry), or None when there is no Redis to ask.

    See the module's docstring for what cannot be copied, and why.
    """
    url = current_app.config.get('REDIS_URL')
    if not url:
        _not_copied('REDIS_URL is not set')
        return None
    if context.is_offline_mode():
        _not_copied('the migration runs offline (--sql)')
        return None
    prefix = (current_app.config.get('REDIS_KEY_PREFIX') or '') + REVOKED_PREFIX
    client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
    try:
        now = datetime.now(UTC)
        held = {}
        for key in client.scan_iter(match=f'{prefix}*', count=1000):
            jti = key.decode(errors='replace')[len(prefix):]
            remaining_ms = client.pttl(key)
            # -2: gone meanwhile; -1: no expiry, which the app never wrote.
            if remaining_ms > 0 and 0 < len(jti) <= MAX_ID_LENGTH:
                held[jti] = now + timedelta(milliseconds=remaining_ms)
        return held
    except redis.RedisError as error:
        _not_copied(f'REDIS_URL is set but Redis does not answer ({error})')
        return None
    finally:
        client.close()


def _not_copied(reason: str) -> None:
    log.warning(
        '%s: no revocation was copied from Redis. If this deployment ran with REDIS_URL, '
        'the logouts made before this migration are recorded in Redis alone until their '
        'tokens expire (at most JWT_REFRESH_DAYS), and would be accepted again should Redis '
        'lose them or fail.',
        reason,
    )
