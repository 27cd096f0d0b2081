"""token versions: a password change revokes every earlier token

Revision ID: 0006
Revises: 0004
Create Date: 2026-12-03 14:00:00.000000

- ``users.token_version``: every token carries the version current when it was
  minted; a password change or reset raises it, revoking every earlier token.
  Existing users start at 0, which is what tokens minted before this change
  (without the claim) count as: they keep working until the next change.

Sessions (the ``sid`` claim) need no column: a logout revokes the session's id
in ``revoked_tokens``, where a token's ``jti`` went before.
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('token_version', sa.Integer(), server_default='0', nullable=False))


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('token_version')
