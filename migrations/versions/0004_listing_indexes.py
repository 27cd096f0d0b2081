"""listing indexes: one per documented filter and sort

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 03:40:12.518204

Every listing (``product_query``, ``order_query``, ``user_query``) orders by
(sort column, id) and a keyset cursor continues it with
``(sort column, id) > (:value, :id)``. A btree on (column, id) serves both in
either direction, so a page reads its own rows and no more, however deep it is
and however big the table grows; the same index serves an equality or range
filter on the column. Products and users are soft-deleted and every listing
says ``deleted_at IS NULL``, so their indexes are partial on that condition:
smaller, and used by SQLite too (its planner needs the same term in the query).

- products (live rows): (name, id), (price_cents, id), (created_at, id), and
  (stock, id) for ``in_stock``. They replace ix_products_name and
  ix_products_price_cents, which nothing else used.
- orders: (created_at, id), (total_cents, id) and (status, id) for admins;
  (user_id, id), (user_id, created_at, id), (user_id, total_cents, id) for a
  customer, who only sees their own orders. They replace ix_orders_status and
  ix_orders_user_id (the foreign key is served by the user_id ones).
- users (live rows): (name, id), (email, id), (created_at, id), (role, id).

The single-column ix_*_created_at indexes stay, though the (created_at, id)
ones do their work: TimestampedMixin declares them for every model.

The substring search ``q`` is ``lower(column) LIKE '%needle%'``, which no btree
can serve. On PostgreSQL, pg_trgm's GIN trigram indexes on exactly that
expression (``lower(name)``, ``lower(sku)`` of live products, ``lower(name)`` of
live users) turn it into an index lookup for needles of three characters or
more. SQLite has nothing like them: there ``q`` reads every live row.

``CREATE EXTENSION`` needs a superuser or, for this trusted extension, the
database owner; downgrading leaves the extension in place, since other objects
may use it. The indexes are built inside the migration's transaction, so the
migration applies whole or not at all; writes to a table wait while its
indexes build (seconds at a million rows). ``tests/api/test_query_plans.py``
proves on PostgreSQL that every documented filter and sort uses them.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

LIVE = {
    'sqlite_where': sa.text('deleted_at IS NULL'),
    'postgresql_where': sa.text('deleted_at IS NULL'),
}
# (index, table, column) of the PostgreSQL-only trigram indexes.
TRIGRAM_INDEXES = [
    ('ix_products_live_name_trgm', 'products', 'name'),
    ('ix_products_live_sku_trgm', 'products', 'sku'),
    ('ix_users_live_name_trgm', 'users', 'name'),
]


def _is_postgresql():
    return op.get_context().dialect.name == 'postgresql'


def upgrade():
    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_products_name'))
        batch_op.drop_index(batch_op.f('ix_products_price_cents'))
        batch_op.create_index('ix_products_live_name_id', ['name', 'id'], unique=False, **LIVE)
        batch_op.create_index('ix_products_live_price_cents_id', ['price_cents', 'id'], unique=False, **LIVE)
        batch_op.create_index('ix_products_live_created_at_id', ['created_at', 'id'], unique=False, **LIVE)
        batch_op.create_index('ix_products_live_stock_id', ['stock', 'id'], unique=False, **LIVE)

    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_orders_status'))
        batch_op.drop_index(batch_op.f('ix_orders_user_id'))
        batch_op.create_index('ix_orders_created_at_id', ['created_at', 'id'], unique=False)
        batch_op.create_index('ix_orders_total_cents_id', ['total_cents', 'id'], unique=False)
        batch_op.create_index('ix_orders_status_id', ['status', 'id'], unique=False)
        batch_op.create_index('ix_orders_user_id_id', ['user_id', 'id'], unique=False)
        batch_op.create_index('ix_orders_user_id_created_at_id', ['user_id', 'created_at', 'id'], unique=False)
        batch_op.create_index('ix_orders_user_id_total_cents_id', ['user_id', 'total_cents', 'id'], unique=False)

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.create_index('ix_users_live_name_id', ['name', 'id'], unique=False, **LIVE)
        batch_op.create_index('ix_users_live_email_id', ['email', 'id'], unique=False, **LIVE)
        batch_op.create_index('ix_users_live_created_at_id', ['created_at', 'id'], unique=False, **LIVE)
        batch_op.create_index('ix_users_live_role_id', ['role', 'id'], unique=False, **LIVE)

    if _is_postgresql():
        op.execute('CREATE EXTENSION IF NOT EXISTS pg_trgm')
        for name, table, column in TRIGRAM_INDEXES:
            # The models' unicode_lower() compiles to exactly lower(column) here.
            op.create_index(
                name,
                table,
                [sa.literal_column(f'lower({column})').label(f'lower_{column}')],
                unique=False,
                postgresql_using='gin',
                postgresql_ops={f'lower_{column}': 'gin_trgm_ops'},
                postgresql_where=sa.text('deleted_at IS NULL'),
            )


def downgrade():
    if _is_postgresql():
        for name, table, _column in reversed(TRIGRAM_INDEXES):
            op.drop_index(name, table_name=table)

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_index('ix_users_live_role_id', **LIVE)
        batch_op.drop_index('ix_users_live_created_at_id', **LIVE)
        batch_op.drop_index('ix_users_live_email_id', **LIVE)
        batch_op.drop_index('ix_users_live_name_id', **LIVE)

    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_index('ix_orders_user_id_total_cents_id')
        batch_op.drop_index('ix_orders_user_id_created_at_id')
        batch_op.drop_index('ix_orders_user_id_id')
        batch_op.drop_index('ix_orders_status_id')
        batch_op.drop_index('ix_orders_total_cents_id')
        batch_op.drop_index('ix_orders_created_at_id')
        batch_op.create_index(batch_op.f('ix_orders_user_id'), ['user_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_orders_status'), ['status'], unique=False)

    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.drop_index('ix_products_live_stock_id', **LIVE)
        batch_op.drop_index('ix_products_live_created_at_id', **LIVE)
        batch_op.drop_index('ix_products_live_price_cents_id', **LIVE)
        batch_op.drop_index('ix_products_live_name_id', **LIVE)
        batch_op.create_index(batch_op.f('ix_products_price_cents'), ['price_cents'], unique=False)
        batch_op.create_index(batch_op.f('ix_products_name'), ['name'], unique=False)
