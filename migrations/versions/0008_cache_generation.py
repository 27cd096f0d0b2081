"""cache_generation: the token the response cache stores each read under

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 20:00:00.000000

One row (``id`` 1) whose ``token`` is replaced by a new random number after
every committed write to ``products`` (``models.cache_generation``). The row
is created here, so caching starts at once; were it missing, the next write
would create it, and nothing is cached meanwhile.
"""
import secrets

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    table = op.create_table('cache_generation',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('token', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cache_generation'))
    )
    op.bulk_insert(table, [{'id': 1, 'token': secrets.randbits(63)}])


def downgrade():
    op.drop_table('cache_generation')
