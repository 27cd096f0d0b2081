"""normalize stored emails; rate-limit windows in the database

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 15:10:00.000000

Emails were stored lower-cased only; the API now stores and compares them
NFKC-normalised, lower-cased, NFKC again, trimmed, with invisible characters
(format characters, default-ignorables) dropped (models/emails.py). This
rewrites every stored email to that form, so each account is found by the
addresses that now name it. The form is spelled out here, not imported: a
migration must do tomorrow what it did the day it was written.

Two live accounts whose addresses become one (``Ada@x.com`` and
``ａｄａ@x.com``) would break the unique index on live emails and leave one of
them unreachable, and a live address longer than 254 characters once
normalised fits no column: the migration then stops before changing anything,
naming those accounts, so that someone decides which address each keeps (change
one with ``PATCH /api/v1/users/{id}``, or delete it) and runs it again.
Soft-deleted accounts are normalised too where the result fits; they hold no
address anyone can log in with.

``rate_limit_windows`` holds the login and register limits' counters when no
Redis is configured (models/ratelimit.py), so that every worker shares them.

Downgrading drops that table and leaves the emails normalised: the old form
cannot be told back, and the old code reads these addresses as well as any.
"""
import unicodedata

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

EMAIL_MAX_LENGTH = 254
# Default_Ignorable_Code_Point beside the format characters (Cf), as of this revision.
INVISIBLE_RANGES = (
    (0x034F, 0x034F), (0x115F, 0x1160), (0x17B4, 0x17B5), (0x180B, 0x180F),
    (0x2065, 0x2065), (0x3164, 0x3164), (0xFE00, 0xFE0F), (0xFFA0, 0xFFA0),
    (0xFFF0, 0xFFF8), (0xE0000, 0xE0FFF),
)

users = sa.table(
    'users',
    sa.column('id', sa.Integer),
    sa.column('email', sa.String),
    sa.column('deleted_at', sa.DateTime),
    sa.column('version', sa.Integer),
)


def _invisible(char):
    code = ord(char)
    return unicodedata.category(char) == 'Cf' or any(a <= code <= b for a, b in INVISIBLE_RANGES)


def normalize(email):
    folded = unicodedata.normalize('NFKC', unicodedata.normalize('NFKC', email).lower()).strip()
    return ''.join(char for char in folded if not _invisible(char))


def _problems(rows):
    """What stops the migration: live accounts that would share an address, or outgrow the column."""
    live = {}
    for user_id, email, deleted_at in rows:
        if deleted_at is None:
            live.setdefault(normalize(email), []).append((user_id, email))
    problems = []
    for normal, accounts in sorted(live.items()):
        named = ', '.join(f'user {user_id} ({email!r})' for user_id, email in accounts)
        if len(accounts) > 1:
            problems.append(f'{named} would all become {normal!r}')
        if len(normal) > EMAIL_MAX_LENGTH:
            problems.append(f'{named} would be {len(normal)} characters long')
    return problems


def upgrade():
    connection = op.get_bind()
    rows = connection.execute(sa.select(users.c.id, users.c.email, users.c.deleted_at)).all()
    # Checked before anything is written: SQLite runs no migration in one transaction.
    problems = _problems(rows)
    if problems:
        raise RuntimeError(
            'Cannot normalise the stored emails: ' + '; '.join(problems) + '. Give those accounts '
            'addresses that stay apart and within 254 characters once normalised (NFKC, '
            'lower-cased), or delete them, then upgrade again.'
        )

    op.create_table(
        'rate_limit_windows',
        sa.Column('key', sa.String(length=255), nullable=False),
        sa.Column('hits', sa.Integer(), nullable=False),
        sa.Column('ends_at', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('key', name=op.f('pk_rate_limit_windows')),
    )

    for user_id, email, _deleted_at in rows:
        normal = normalize(email)
        if normal != email and len(normal) <= EMAIL_MAX_LENGTH:
            # A new version, so that an ETag of the old address is stale.
            connection.execute(
                users.update()
                .where(users.c.id == user_id)
                .values(email=normal, version=users.c.version + 1)
            )


def downgrade():
    op.drop_table('rate_limit_windows')
