"""Fixtures for calling the domain directly, without HTTP.

A test that asks for ``domain`` runs inside one app context, as a request does,
and calls the keyword-only functions of ``models`` with model objects. What a
call left behind is read back through ``stored``, on a connection of its own,
so a test sees what was committed and never the session's own view of it.
"""

import itertools
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import func, select

from models import Product, User, db
from models.product import create_product
from models.user import Role, create_user
from tests.conftest import PASSWORD


@pytest.fixture
def domain(app) -> Iterator[None]:
    """Hold an app context (and so one session) for the whole test."""
    with app.app_context():
        yield


class Stored:
    """What the database holds, read on a fresh connection: committed rows only."""

    def rows(self, statement) -> list:
        """Every row of ``statement``."""
        with db.engine.connect() as connection:
            return connection.execute(statement).all()

    def scalar(self, statement):
        """The first column of the first row of ``statement``, or None."""
        with db.engine.connect() as connection:
            return connection.execute(statement).scalar()

    def count(self, model) -> int:
        """How many rows ``model``'s table holds, soft-deleted ones included."""
        return self.scalar(select(func.count()).select_from(model))

    def row(self, model, key: int):
        """The row of ``model`` with id ``key`` (a plain row, read like the object), or None."""
        table = model.__table__
        rows = self.rows(select(table).where(table.c.id == key))
        return rows[0] if rows else None


@pytest.fixture
def stored(domain) -> Stored:
    """Read committed data, as the next request would see it."""
    return Stored()


@pytest.fixture
def refused(domain) -> Callable[..., Exception]:
    """Call ``function(**kwargs)``, expect ``error``, then commit the session.

    A domain function that failed must leave nothing in the session: whatever the
    caller commits next would otherwise carry half of the failed change. So the
    commit here, and the test reads ``stored`` after it. Returns the exception.
    """

    def call(error: type[Exception], function: Callable, **kwargs) -> Exception:
        with pytest.raises(error) as caught:
            function(**kwargs)
        db.session.commit()
        return caught.value

    return call


@pytest.fixture
def new_user(domain) -> Callable[..., User]:
    """Create a user through ``create_user`` (a customer unless told otherwise)."""
    numbers = itertools.count(1)

    def make(*, role=Role.CUSTOMER, email=None, name="Test User", password=PASSWORD) -> User:
        email = email or f"user{next(numbers)}@example.com"
        return create_user(email=email, password=password, name=name, role=role)

    return make


@pytest.fixture
def new_product(domain) -> Callable[..., Product]:
    """Create a product through ``create_product``: 10.00, five in stock, unless overridden."""
    numbers = itertools.count(1)

    def make(**overrides) -> Product:
        n = next(numbers)
        fields = {"sku": f"SKU-{n:04d}", "name": f"Product {n}", "price_cents": 1000, "stock": 5}
        return create_product(**{**fields, **overrides})

    return make
