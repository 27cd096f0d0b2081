"""Every documented filter and sort of every listing is served by an index (PostgreSQL).

Each case builds the real query with the model's query function (products;
orders as an admin and as a customer; users), as a first page and, for sorts,
as the page after a keyset cursor (``(sort column, id) > (:value, :id)``, ``<``
when descending, built by ``models.base.Ordering`` as the listings build it),
and asks PostgreSQL for its plan on a migrated database: the indexes under test
are the ones the migrations build. The cases come from the code: every key of
``PRODUCT_SORTS``, ``ORDER_SORTS`` and ``USER_SORTS`` in both directions, and
every keyword filter of the query functions, so a new sort or filter fails here
until an index serves it.

A plan passes when it reads the table through an index, never a ``Seq Scan``;
when a filter's column (or a customer's ``user_id``) is in an index condition
(``Index Cond`` or a bitmap scan's ``Recheck Cond``), so the index narrows the
read; and when a sorted page has no ``Sort`` at all, so the index supplies the
order and the LIMIT stops the scan after one page. A filter is planned for its
whole result, which the page's total counts, and may sort the rows its index
condition selected, never a whole table. The tables hold tens of thousands of
rows with realistic spreads, vacuumed and analyzed, and ``enable_seqscan`` is
off, so that tables this small do not make a scan look cheap. Finally, dropping
any one of the listing indexes must make some case fail: each index is needed,
and the checks above notice when it is missing.
"""

import inspect
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from flask_migrate import upgrade
from sqlalchemy import ColumnElement, Select
from sqlalchemy.engine import Connection, Engine, make_url

from api import create_app
from api.config import normalize_database_url
from models import db
from models.base import Ordering
from models.order import ORDER_SORTS, Order, order_query
from models.product import PRODUCT_SORTS, Product, product_query
from models.user import USER_SORTS, Role, User, user_query
from tests.databases import fresh_database


def _on_postgresql() -> bool:
    url = os.environ.get("TEST_DATABASE_URL")
    return bool(url) and make_url(normalize_database_url(url)).get_backend_name() == "postgresql"


PAGE = 20
# The seeded data: one row a minute from T0, so filter values can be picked
# that select about 1% of a table, as a useful filter does.
T0 = datetime(2026, 1, 1, tzinfo=UTC)
PRODUCTS, USERS, ORDERS = 20_000, 10_000, 20_000
# A live customer with 1% of all orders, more than pages of them: a page must
# come from an index on their orders, not from sorting all of them.
CUSTOMER_ID = 42
OTHER_CUSTOMER_ID = 7
# mod(), not %, which the driver would read as a placeholder.
SEED = [
    """INSERT INTO users (id, email, name, role, password_hash, created_at, updated_at,
                          deleted_at, version)
       SELECT i, 'user' || i || '@example.com', 'User ' || md5('user' || i),
              CASE WHEN mod(i, 100) = 0 THEN 'admin' ELSE 'customer' END, 'not a hash',
              %(t0)s + i * INTERVAL '1 minute', %(t0)s + i * INTERVAL '1 minute',
              CASE WHEN mod(i, 50) = 1 THEN %(t0)s END, 1
       FROM generate_series(1, %(users)s) AS i""",
    """INSERT INTO products (id, sku, name, description, price_cents, stock, created_at,
                             updated_at, deleted_at, version)
       SELECT i, 'SKU-' || i, 'Product ' || md5('product' || i), '', mod(i * 7919, 100000),
              CASE WHEN mod(i, 20) = 0 THEN 0 ELSE mod(i, 100) + 1 END,
              %(t0)s + i * INTERVAL '1 minute', %(t0)s + i * INTERVAL '1 minute',
              CASE WHEN mod(i, 50) = 1 THEN %(t0)s END, 1
       FROM generate_series(1, %(products)s) AS i""",
    # 31 is prime to the number of users, so the other orders spread evenly over
    # them; few are cancelled.
    """INSERT INTO orders (id, user_id, status, total_cents, created_at, updated_at, version)
       SELECT i, CASE WHEN mod(i, 100) = 0 THEN %(customer)s ELSE 1 + mod(i * 31, %(users)s) END,
              CASE WHEN mod(i, 50) = 1 THEN 'cancelled'
                   ELSE (ARRAY['pending', 'paid', 'shipped', 'delivered'])[1 + mod(i, 4)] END,
              mod(i * 104729, 1000000),
              %(t0)s + i * INTERVAL '1 minute', %(t0)s + i * INTERVAL '1 minute', 1
       FROM generate_series(1, %(orders)s) AS i""",
]
SEED_PARAMETERS = {
    "t0": T0,
    "users": USERS,
    "products": PRODUCTS,
    "orders": ORDERS,
    "customer": CUSTOMER_ID,
}


@dataclass(frozen=True)
class Filter:
    """A value for one filter, and the columns an index condition may serve it on."""

    value: object
    columns: tuple[str, ...]
    # Matches most rows: no index on it helps; reading in the sort's index order
    # and stopping after a page does.
    broad: bool = False


@dataclass(frozen=True)
class Listing:
    """A listing as a client sees it: its query function, sorts and filter values."""

    name: str
    model: type
    function: Callable[..., Select]
    sorts: dict
    filters: dict[str, tuple[Filter, ...]]
    fixed: dict = field(default_factory=dict)
    # Columns every query of the listing narrows by, which an index must serve.
    scope: tuple[str, ...] = ()

    @property
    def table(self) -> str:
        return self.model.__tablename__


def _viewer(role: Role, user_id: int) -> Callable[[], User]:
    return lambda: User(id=user_id, role=role.value)


ORDER_FILTERS = {
    "status": (Filter("cancelled", ("status",)),),
    "user_id": (Filter(OTHER_CUSTOMER_ID, ("user_id",)),),
    "created_from": (Filter(T0 + timedelta(minutes=ORDERS - 200), ("created_at",)),),
    "created_to": (Filter(T0 + timedelta(minutes=200), ("created_at",)),),
}
LISTINGS = [
    Listing(
        "products",
        Product,
        product_query,
        PRODUCT_SORTS,
        {
            # md5 names: a four-character needle matches about ten of them.
            "q": (Filter("c0ff", ("name", "sku")),),
            "min_price": (Filter(99_000, ("price_cents",)),),
            "max_price": (Filter(1_000, ("price_cents",)),),
            "in_stock": (Filter(False, ("stock",)), Filter(True, (), broad=True)),
        },
    ),
    Listing(
        "orders as admin",
        Order,
        order_query,
        ORDER_SORTS,
        ORDER_FILTERS,
        fixed={"viewer": _viewer(Role.ADMIN, 100)},
    ),
    Listing(
        "orders as customer",
        Order,
        order_query,
        ORDER_SORTS,
        ORDER_FILTERS,
        fixed={"viewer": _viewer(Role.CUSTOMER, CUSTOMER_ID)},
        scope=("user_id",),
    ),
    Listing(
        "users",
        User,
        user_query,
        USER_SORTS,
        {
            "email": (Filter(f"user{CUSTOMER_ID}@example.com", ("email",)),),
            "role": (Filter(Role.ADMIN.value, ("role",)),),
            "q": (Filter("c0ff", ("name",)),),
        },
    ),
]

# Indexes of the listed tables that serve something other than a listing.
OTHER_PURPOSES = {
    "uq_products_sku_live": "unique SKUs among live products",
    "uq_users_email_live": "unique emails among live users; login finds users by email",
    "ix_products_image_sha256": "images: how many products share a stored file",
    # TimestampedMixin's index=True (models/base.py): the (created_at, id)
    # indexes do their work; they can go when the mixin stops asking for them.
    "ix_products_created_at": "TimestampedMixin",
    "ix_orders_created_at": "TimestampedMixin",
    "ix_users_created_at": "TimestampedMixin",
}


@dataclass(frozen=True)
class Case:
    """One query to plan, and what its plan must show."""

    id: str
    listing: Listing
    arguments: dict
    # Groups of columns: each group needs one of its columns in an index condition.
    conditions: tuple[tuple[str, ...], ...]
    # No Sort at all: the index supplies the order.
    ordered: bool
    # One page (LIMIT), or the whole result.
    page: bool
    after_cursor: bool = False


def _sort_cases() -> Iterator[Case]:
    for listing in LISTINGS:
        for sort in [None, *listing.sorts, *(f"-{key}" for key in listing.sorts)]:
            column = listing.sorts[sort.lstrip("-")].key if sort else "id"
            for after_cursor in (False, True):
                page = "after a cursor" if after_cursor else "first page"
                yield Case(
                    id=f"{listing.name}, sort={sort or 'default'}, {page}",
                    listing=listing,
                    arguments={"sort": sort},
                    # After a cursor the index must seek to it, not filter up to it.
                    conditions=(
                        *((listing.scope,) if listing.scope else ()),
                        *(((column,),) if after_cursor else ()),
                    ),
                    ordered=True,
                    page=True,
                    after_cursor=after_cursor,
                )


def _filter_cases() -> Iterator[Case]:
    for listing in LISTINGS:
        for name, filters in listing.filters.items():
            for filter_ in filters:
                # A customer's filters narrow down their own orders, which an
                # index on user_id has found.
                needed = listing.scope or (() if filter_.broad else filter_.columns)
                yield Case(
                    id=f"{listing.name}, {name}={filter_.value}",
                    listing=listing,
                    arguments={name: filter_.value},
                    conditions=(needed,) if needed else (),
                    ordered=filter_.broad,
                    # The whole result: the page's total counts all of it.
                    page=False,
                )


SORT_CASES = list(_sort_cases())
FILTER_CASES = list(_filter_cases())
CASES = SORT_CASES + FILTER_CASES


def _arguments(case: Case) -> dict:
    # The viewer is made only now: a model instance needs configured mappers.
    return {
        name: value() if callable(value) else value
        for name, value in {**case.listing.fixed, **case.arguments}.items()
    }


def _after(case: Case, query: Select) -> ColumnElement[bool]:
    """The keyset condition of the page after the fifth row of the first page."""
    ordering = Ordering(case.listing.sorts, case.listing.model.id)
    sort = case.arguments["sort"]
    fifth = db.session.scalars(query.limit(5)).all()[-1]
    return ordering.after(sort, ordering.position(fifth, sort))


def _compile(case: Case) -> tuple[str, dict]:
    query = case.listing.function(**_arguments(case))
    if case.after_cursor:
        query = query.where(_after(case, query))
    if case.page:
        query = query.limit(PAGE)
    compiled = query.compile(dialect=db.engine.dialect)
    return compiled.string, compiled.params


@pytest.fixture(scope="module")
def planner(app_config, tmp_path_factory) -> Iterator[tuple[Engine, dict]]:
    """A migrated, seeded, analyzed database, and every case's SQL and parameters."""
    if not _on_postgresql():
        pytest.skip(
            "query plans are PostgreSQL's: set TEST_DATABASE_URL to a PostgreSQL URL "
            "(CI's PostgreSQL run does)"
        )
    with fresh_database(tmp_path_factory.mktemp("plans")) as url:
        application = create_app({**app_config, "SQLALCHEMY_DATABASE_URI": url})
        with application.app_context():
            upgrade()
            with db.engine.begin() as connection:
                for statement in SEED:
                    connection.exec_driver_sql(statement, SEED_PARAMETERS)
            # Statistics, as autovacuum keeps them; VACUUM also moves the rows the
            # GIN indexes hold in their pending list into the index proper.
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.exec_driver_sql("VACUUM ANALYZE")
            queries = {case.id: _compile(case) for case in CASES}
            db.session.remove()
            engine = db.engine
        yield engine, queries
        engine.dispose()


def _plan(connection: Connection, sql: str, params: dict) -> dict:
    # Inside the caller's transaction: SET LOCAL ends with it.
    connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
    result = connection.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {sql}", params)
    return result.scalar_one()[0]["Plan"]


def _nodes(plan: dict) -> Iterator[dict]:
    yield plan
    for child in plan.get("Plans", ()):
        yield from _nodes(child)


def _index_conditions(plan: dict, table: str) -> list[str]:
    """The conditions an index evaluates on ``table`` (a bitmap scan repeats its
    children's in ``Recheck Cond``)."""
    return [
        node[key]
        for node in _nodes(plan)
        if node.get("Relation Name") == table
        for key in ("Index Cond", "Recheck Cond")
        if key in node
    ]


def _problems(plan: dict, case: Case) -> list[str]:
    """What is wrong with ``plan`` for ``case``; empty when an index serves it."""
    table = case.listing.table
    problems = [
        f"Seq Scan on {table}"
        for node in _nodes(plan)
        if node["Node Type"] == "Seq Scan" and node.get("Relation Name") == table
    ]
    conditions = " ".join(_index_conditions(plan, table))
    problems += [
        f"no index condition on {' or '.join(columns)}"
        for columns in case.conditions
        if not any(re.search(rf"\b{column}\b", conditions) for column in columns)
    ]
    for node in _nodes(plan):
        if node["Node Type"] not in ("Sort", "Incremental Sort"):
            continue
        if case.ordered:
            problems.append(f"{node['Node Type']} on {node['Sort Key']}: no index gives the order")
        elif not _index_conditions(node, table):
            problems.append(f"{node['Node Type']} on {node['Sort Key']} of the whole table")
    return problems


def _explain(engine: Engine, queries: dict, case: Case) -> tuple[dict, list[str]]:
    with engine.connect() as connection, connection.begin():
        plan = _plan(connection, *queries[case.id])
    return plan, _problems(plan, case)


@pytest.mark.parametrize("case", SORT_CASES, ids=lambda case: case.id)
def test_an_index_gives_every_sort_its_order(planner, case):
    plan, problems = _explain(*planner, case)
    assert problems == [], plan


@pytest.mark.parametrize("case", FILTER_CASES, ids=lambda case: case.id)
def test_an_index_narrows_every_filter(planner, case):
    plan, problems = _explain(*planner, case)
    assert problems == [], plan


@pytest.mark.parametrize("listing", LISTINGS, ids=lambda listing: listing.name)
def test_every_filter_of_the_query_functions_is_checked(listing):
    parameters = inspect.signature(listing.function).parameters
    documented = set(parameters) - {"sort", "after", *listing.fixed}
    assert set(listing.filters) == documented


def _listing_indexes() -> list[str]:
    tables = {listing.model.__table__ for listing in LISTINGS}
    return sorted(
        index.name
        for table in tables
        for index in table.indexes
        if index.name not in OTHER_PURPOSES
    )


@pytest.mark.parametrize("index", _listing_indexes())
def test_without_the_index_some_case_fails(planner, index):
    engine, queries = planner
    with engine.connect() as connection:
        transaction = connection.begin()
        # DDL is transactional here: the index is back after the rollback.
        connection.exec_driver_sql(f'DROP INDEX "{index}"')
        failing = [
            case.id for case in CASES if _problems(_plan(connection, *queries[case.id]), case)
        ]
        transaction.rollback()
    assert failing, f"no documented filter or sort needs {index}"
