"""The database layer: SQLite pragmas, the transaction owner, optimistic locking."""

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from models import ConflictError, Product, db
from models.base import transaction
from models.product import create_product, get_product


def test_sqlite_runs_in_wal_mode_with_foreign_keys(app, in_app):
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):

        def pragmas():
            return (
                db.session.execute(text("PRAGMA journal_mode")).scalar(),
                db.session.execute(text("PRAGMA foreign_keys")).scalar(),
            )

        assert in_app(pragmas) == ("wal", 1)
    else:
        assert app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql+psycopg://")


def test_transaction_rolls_back_everything_on_error(in_app):
    def failing_write():
        with transaction():
            db.session.add(Product(sku="GONE-1", name="x", price_cents=1, stock=1))
            db.session.flush()
            raise RuntimeError("boom")

    def attempt():
        with pytest.raises(RuntimeError):
            failing_write()
        return db.session.scalar(db.select(db.func.count()).select_from(Product))

    assert in_app(attempt) == 0


def test_a_constraint_violation_becomes_a_conflict_without_database_text(in_app):
    def attempt():
        with pytest.raises(ConflictError) as caught, transaction(conflict="Nope"):
            db.session.add(Product(sku="NEG-1", name="x", price_cents=-1, stock=0))
        return caught.value.detail

    assert in_app(attempt) == "Nope"


def test_a_stale_version_is_a_conflict(app, make_product):
    product_id = make_product()
    with app.app_context():
        stale = get_product(product_id)
        stale_name = stale.name
        # Another request changes the row behind this session's back.
        with db.engine.begin() as connection:
            connection.execute(
                text("UPDATE products SET version = version + 1 WHERE id = :id"), {"id": product_id}
            )
        with pytest.raises(ConflictError), transaction():
            stale.name = stale_name + " (edited)"
    with app.app_context():
        assert get_product(product_id).name == stale_name


def test_every_write_bumps_the_version(app, in_app):
    def scenario():
        product = create_product(sku="VER-1", name="v", price_cents=1)
        first = product.version
        with transaction():
            product.stock = 3
        return first, product.version

    first, second = in_app(scenario)
    assert second == first + 1


def test_a_locking_transaction_never_drops_changes_made_before_it(in_app):
    def attempt():
        db.session.add(Product(sku="PENDING-1", name="x", price_cents=1, stock=1))
        with pytest.raises(RuntimeError, match="before any change"), transaction(locking=True):
            pass
        db.session.rollback()

    in_app(attempt)


def test_a_locking_transaction_sees_what_committed_after_the_session_read(make_product, in_app):
    product_id = make_product(stock=5)

    def scenario():
        product = get_product(product_id)
        assert product.stock == 5
        with db.engine.begin() as other:  # another request's write, committed meanwhile
            other.execute(text("UPDATE products SET stock = 2 WHERE id = :id"), {"id": product_id})
        with transaction(locking=True):
            return get_product(product_id).stock

    assert in_app(scenario) == 2


def test_a_failed_statement_never_shows_its_bound_parameters(in_app):
    # The message of a database error is what a 500 logs; its values may be a
    # password hash or an email.
    secret = "$argon2id$v=19$m=64,t=1,p=4$never-in-a-log"

    def attempt():
        statement = text("INSERT INTO no_such_table (password_hash) VALUES (:secret)")
        with pytest.raises(DBAPIError) as caught:
            db.session.execute(statement, {"secret": secret})
        db.session.rollback()
        return str(caught.value)

    message = in_app(attempt)
    assert "INSERT INTO no_such_table" in message
    assert secret not in message
