"""Seed a benchmark database of a given size, fast: migrations, then bulk inserts.

The schema comes from ``flask db upgrade``, exactly as in production; the rows
are then written with the driver's bulk paths, not the ORM (a million ORM
objects would take many minutes):

- SQLite: one transaction, ``executemany`` over generators, journal and fsync
  off while loading (the file is thrown away if the load fails).
- PostgreSQL: ``COPY ... FROM STDIN``, then ``ANALYZE`` (what autovacuum would
  do soon after a real bulk load).

On both, the secondary indexes are dropped before the load and re-created from
their own definitions after it: building an index once over sorted data is far
cheaper than updating it a million times, and the definitions read back from
the database are exactly the ones the migrations made.

The data is deterministic for a given size. A SQLite seed is kept as a pristine
file under ``build/bench/`` with a marker beside it, and reused while the size,
the seed and the migrations are unchanged; each benchmark run works on a copy.

    python -m bench.seed --products 100000 --orders 10000   # prints where and how long
"""

import argparse
import hashlib
import json
import random
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from argon2 import PasswordHasher
from sqlalchemy import DateTime, create_engine, text
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import make_url

from api.config import normalize_database_url
from bench.server import BIN, ROOT, production_env

# Bump when the generated data changes, so stale seeds are rebuilt.
SEED_VERSION = 1
WORK = ROOT / "build" / "bench"
TABLES = ("users", "products", "orders", "order_items", "idempotency_keys", "revoked_tokens")

PASSWORD = "bench-password"  # noqa: S105 (a throwaway account in a throwaway database)
ADMIN_EMAIL = "bench-admin@example.com"
CUSTOMER_EMAIL = "bench-customer-1@example.com"
# Products 1..ORDER_POOL have a stock no benchmark can exhaust: POST /orders buys them.
ORDER_POOL = 32
POOL_STOCK = 1_000_000_000
# The point read draws its ids at random from this many live products (fewer on
# a smaller seed), so a response cache is measured over many keys, not one.
HOT_PRODUCTS = 10_000
START = datetime(2025, 1, 1, tzinfo=UTC)
SPAN = timedelta(days=365)
STATUSES = ("pending", "paid", "shipped", "delivered", "cancelled")
STATUS_WEIGHTS = (10, 15, 20, 50, 5)
ADJECTIVES = ("Enamel", "Waxed", "Organic", "Brass", "Steel", "Linen", "Oak", "Wool", "Cork")
NOUNS = ("mug", "tote", "tee", "cap", "notebook", "pen", "bottle", "lamp", "scarf", "bowl")
DESCRIPTIONS = (
    "Made to last, easy to repair.",
    "A small-batch run from a family workshop.",
    "Ships in recycled packaging within two days.",
    "Dishwasher safe; the finish does not fade.",
)


@dataclass(frozen=True)
class Size:
    """How many rows of each kind; orders have 1 to 3 items each."""

    products: int
    orders: int
    users: int = 1000

    @property
    def label(self) -> str:
        """A file-name-safe name for the size."""
        return f"p{self.products}-o{self.orders}-u{self.users}"


@dataclass(frozen=True)
class Fixtures:
    """What a benchmark needs to know about a seeded database."""

    admin_email: str
    customer_email: str
    password: str
    point_id: int  # a live product in the middle of the table
    hot_first: int  # the point read's ids: the hot_count live products from hot_first,
    hot_count: int  # a multiple of 100, on (ids ending in 99 are soft-deleted)
    pool_first: int  # the products POST /orders buys from
    pool_last: int
    deep_page: int  # the page of 50 that starts at 99 % of the catalog


def is_deleted(product_id: int) -> bool:
    """One product in a hundred is soft-deleted, so queries filter for real."""
    return product_id % 100 == 99


def fixtures(size: Size) -> Fixtures:
    """The fixed facts of a seed of ``size``."""
    point = max(1, size.products // 2)
    while is_deleted(point):
        point -= 1
    # 99 live ids in every hundred; centred on the middle of the table, past the
    # order pool, whose stock the order scenario changes.
    span = -(-HOT_PRODUCTS // 99) * 100
    hot_first = max(100, (size.products - span) // 200 * 100)
    last = min(size.products, hot_first + span - 1)
    live = sum(1 for product_id in range(hot_first, last + 1) if not is_deleted(product_id))
    return Fixtures(
        admin_email=ADMIN_EMAIL,
        customer_email=CUSTOMER_EMAIL,
        password=PASSWORD,
        point_id=point,
        hot_first=hot_first,
        hot_count=min(HOT_PRODUCTS, live),
        pool_first=1,
        pool_last=min(ORDER_POOL, size.products),
        deep_page=max(1, size.products * 99 // 100 // 50),
    )


# --- the rows ---------------------------------------------------------------------


def _prices(size: Size) -> list[int]:
    rng = random.Random(f"prices-{size.products}")
    return [rng.randrange(100, 100_001) for _ in range(size.products)]


def user_rows(size: Size, stamp: Callable) -> Iterator[tuple]:
    """Users: id 1 is the admin, the rest customers, all with one password.

    The password is hashed once, with argon2's defaults, which are production's
    (so logging in does not trigger a rehash); hashing a thousand times would
    take minutes and prove nothing.
    """
    password_hash = PasswordHasher().hash(PASSWORD)
    for user_id in range(1, size.users + 2):
        admin = user_id == 1
        email = ADMIN_EMAIL if admin else f"bench-customer-{user_id - 1}@example.com"
        created = stamp(START + SPAN * user_id / (size.users + 2))
        yield (
            user_id,
            email,
            "Bench admin" if admin else f"Customer {user_id - 1}",
            None,
            "admin" if admin else "customer",
            password_hash,
            created,
            created,
            None,
            1,
        )


USER_COLUMNS = (
    "id, email, name, age, role, password_hash, created_at, updated_at, deleted_at, version"
)


def product_rows(size: Size, prices: list[int], stamp: Callable) -> Iterator[tuple]:
    """Products in the order they were created; 1 % soft-deleted, some out of stock."""
    rng = random.Random(f"products-{size.products}")
    step = SPAN / size.products
    deleted = stamp(START + SPAN)
    for product_id in range(1, size.products + 1):
        created = stamp(START + step * product_id)
        stock = POOL_STOCK if product_id <= ORDER_POOL else rng.choice((0, 3, 12, 40, 250))
        yield (
            product_id,
            f"BENCH-{product_id:07d}",
            f"{rng.choice(ADJECTIVES)} {rng.choice(NOUNS)} {product_id}",
            rng.choice(DESCRIPTIONS),
            prices[product_id - 1],
            stock,
            created,
            created,
            deleted if is_deleted(product_id) else None,
            1,
        )


PRODUCT_COLUMNS = (
    "id, sku, name, description, price_cents, stock, created_at, updated_at, deleted_at, version"
)


def order_rows(size: Size, prices: list[int], stamp: Callable) -> tuple[list, list]:
    """Orders by random customers, each of 1 to 3 distinct live products."""
    rng = random.Random(f"orders-{size.orders}")
    orders, items = [], []
    step = SPAN / max(size.orders, 1)
    for order_id in range(1, size.orders + 1):
        wanted = rng.randint(1, 3)
        # A few spare candidates stand in for soft-deleted ones.
        candidates = rng.sample(range(1, size.products + 1), min(wanted + 2, size.products))
        picked = [product_id for product_id in candidates if not is_deleted(product_id)]
        picked = sorted(picked[:wanted]) or [1]
        total = 0
        for product_id in picked:
            quantity = rng.randint(1, 3)
            price = prices[product_id - 1]
            total += quantity * price
            items.append((len(items) + 1, order_id, product_id, quantity, price))
        created = stamp(START + step * order_id)
        status = rng.choices(STATUSES, STATUS_WEIGHTS)[0]
        orders.append(
            (order_id, rng.randint(2, size.users + 1), status, total, created, created, 1)
        )
    return orders, items


ORDER_COLUMNS = "id, user_id, status, total_cents, created_at, updated_at, version"
ITEM_COLUMNS = "id, order_id, product_id, quantity, unit_price_cents"


# --- the loaders ------------------------------------------------------------------


def _sqlite_stamp() -> Callable[[datetime], str]:
    """SQLAlchemy's own SQLite formatting of a timestamp column, so the app reads it back."""
    dialect = sqlite_dialect.dialect()
    return DateTime(timezone=True).dialect_impl(dialect).bind_processor(dialect)


class SqliteLoader:
    """Bulk inserts into a SQLite file: one transaction, no journal, no fsync."""

    def __init__(self, path: Path):
        self.connection = sqlite3.connect(path, isolation_level=None)
        for pragma in (
            "journal_mode=OFF",
            "synchronous=OFF",
            "foreign_keys=OFF",  # rows arrive parents first; checked after the load
            "cache_size=-262144",  # 256 MiB, for the index builds
            "temp_store=MEMORY",
        ):
            self.connection.execute(f"PRAGMA {pragma}")
        self.connection.execute("BEGIN")
        self.indexes = self.connection.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
        ).fetchall()
        for name, _ in self.indexes:
            self.connection.execute(f'DROP INDEX "{name}"')

    stamp = staticmethod(_sqlite_stamp())

    def insert(self, table: str, columns: str, rows: Iterable[tuple]) -> None:
        """Insert ``rows`` (tuples in the order of ``columns``)."""
        marks = ", ".join("?" * len(columns.split(",")))
        self.connection.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)  # noqa: S608

    def finish(self) -> None:
        """Rebuild the indexes, check the foreign keys, commit, and go back to WAL."""
        for _, sql in self.indexes:
            self.connection.execute(sql)
        broken = self.connection.execute("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise RuntimeError(f"seed broke foreign keys: {broken[:5]}")
        self.connection.execute("COMMIT")
        self.connection.execute("PRAGMA journal_mode=WAL")
        self.connection.close()


class PostgresLoader:
    """Bulk loads into PostgreSQL with COPY, into emptied tables."""

    def __init__(self, url: str):
        import psycopg  # noqa: PLC0415 (only needed for PostgreSQL)

        # psycopg wants a plain libpq URL, without SQLAlchemy's "+psycopg".
        url = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        self.connection = psycopg.connect(url)
        self.cursor = self.connection.cursor()
        self.cursor.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")
        # Indexes that back a constraint (primary keys, unique constraints) stay.
        self.cursor.execute(
            """SELECT i.relname, pg_get_indexdef(i.oid)
                 FROM pg_index x
                 JOIN pg_class i ON i.oid = x.indexrelid
                 JOIN pg_class t ON t.oid = x.indrelid
                WHERE t.relname = ANY(%s) AND pg_table_is_visible(t.oid)
                  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.oid)""",
            (list(TABLES),),
        )
        self.indexes = self.cursor.fetchall()
        for name, _ in self.indexes:
            self.cursor.execute(f'DROP INDEX "{name}"')

    @staticmethod
    def stamp(value: datetime) -> datetime:
        """psycopg sends datetimes as they are."""
        return value

    def insert(self, table: str, columns: str, rows: Iterable[tuple]) -> None:
        """COPY ``rows`` into ``table``."""
        with self.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

    def finish(self) -> None:
        """Rebuild the indexes, move the id sequences past the rows, commit, analyze."""
        for _, sql in self.indexes:
            self.cursor.execute(sql)
        for table in ("users", "products", "orders", "order_items"):
            self.cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                f"(SELECT max(id) FROM {table}))"
            )
        self.connection.commit()
        self.connection.autocommit = True
        self.cursor.execute("ANALYZE")
        self.connection.close()


# --- seeding ----------------------------------------------------------------------


def _migrations_digest() -> str:
    """A hash of the migration files: a new migration means a new seed."""
    digest = hashlib.sha256()
    for path in sorted((ROOT / "migrations" / "versions").glob("*.py")):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:16]


def _marker(size: Size) -> dict:
    return {**asdict(size), "seed_version": SEED_VERSION, "migrations": _migrations_digest()}


def _count_products(url: str) -> int | None:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return connection.scalar(text("SELECT count(*) FROM products"))
    except Exception:  # no table, no server: either way, not seeded
        return None
    finally:
        engine.dispose()


def _upgrade(url: str) -> None:
    subprocess.run(
        [str(BIN / "flask"), "--app", "wsgi", "db", "upgrade"],
        cwd=ROOT,
        env=production_env(url),
        check=True,
        capture_output=True,
    )


def _load(loader, size: Size) -> None:
    prices = _prices(size)
    loader.insert("users", USER_COLUMNS, user_rows(size, loader.stamp))
    loader.insert("products", PRODUCT_COLUMNS, product_rows(size, prices, loader.stamp))
    orders, items = order_rows(size, prices, loader.stamp)
    loader.insert("orders", ORDER_COLUMNS, orders)
    loader.insert("order_items", ITEM_COLUMNS, items)
    loader.finish()


def _sqlite_path(url: str) -> Path:
    return Path(make_url(url).database)


def seed(url: str, size: Size, *, log=print) -> bool:
    """Make the database at ``url`` hold a seed of ``size``; return True if it was reused.

    A seed is reused when its marker (size, seed version, migrations) matches
    and the product count agrees; otherwise the database is rebuilt: a SQLite
    file from scratch, a PostgreSQL database emptied and re-filled.
    """
    url = normalize_database_url(url)
    sqlite = url.startswith("sqlite")
    marker_path = (
        _sqlite_path(url).with_suffix(".json")
        if sqlite
        else WORK / f"postgres-{hashlib.sha256(url.encode()).hexdigest()[:12]}.json"
    )
    wanted = _marker(size)
    if (
        marker_path.exists()
        and json.loads(marker_path.read_text()) == wanted
        and _count_products(url) == size.products
    ):
        return True
    marker_path.unlink(missing_ok=True)
    started = time.perf_counter()
    log(f"seeding {size.products:,} products, {size.orders:,} orders, {size.users:,} users ...")
    if sqlite:
        path = _sqlite_path(url)
        path.parent.mkdir(parents=True, exist_ok=True)
        for stale in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            stale.unlink(missing_ok=True)
    _upgrade(url)
    try:
        _load(SqliteLoader(_sqlite_path(url)) if sqlite else PostgresLoader(url), size)
    except BaseException:
        if sqlite:
            _sqlite_path(url).unlink(missing_ok=True)
        raise
    marker_path.parent.mkdir(parents=True, exist_ok=True)
    marker_path.write_text(json.dumps(wanted, indent=2) + "\n")
    log(f"seeded in {time.perf_counter() - started:.1f} s")
    return False


def working_copy(url: str, size: Size, *, log=print) -> tuple[str, bool]:
    """Seed (or reuse) ``url`` and return (the URL a run should use, whether reused).

    For SQLite the run gets a fresh copy of the pristine seed, so every run starts
    from the same data however many orders the last one placed. A PostgreSQL
    database is used in place (copying one needs rights a benchmark should not).
    """
    url = normalize_database_url(url)
    reused = seed(url, size, log=log)
    if not url.startswith("sqlite"):
        return url, reused
    pristine = _sqlite_path(url)
    work = pristine.with_name("run.sqlite")
    for stale in (work, Path(f"{work}-wal"), Path(f"{work}-shm")):
        stale.unlink(missing_ok=True)
    with closing(sqlite3.connect(pristine)) as connection:  # fold any WAL into the file
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copyfile(pristine, work)
    return f"sqlite:///{work}", reused


def default_url(size: Size) -> str:
    """Where the SQLite seed of ``size`` lives."""
    return f"sqlite:///{WORK / f'seed-{size.label}.sqlite'}"


def main() -> None:
    """Seed a database from the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--products", type=int, default=1_000_000)
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--database-url", help="default: a SQLite file under build/bench/")
    args = parser.parse_args()
    size = Size(args.products, args.orders, args.users)
    url = args.database_url or default_url(size)
    reused = seed(url, size)
    print(f"{'reused' if reused else 'seeded'}: {url}")


if __name__ == "__main__":
    main()
