"""Fixtures: the app, a contract-checked client, users, tokens and products.

The database is SQLite in a temporary file, or a database of the suite's own on
the server of ``TEST_DATABASE_URL`` (CI sets a PostgreSQL URL). Tables are
emptied after every test. Tests call domain functions inside their own app
context and never hold one around a request, so each request gets its own
session, as in production.
"""

import logging
import os
from collections.abc import Iterator

import pytest
from flask_jwt_extended import create_access_token, create_refresh_token

from api import create_app
from models import db
from models.product import create_product
from models.user import Role, create_user
from tests.contract import ContractClient
from tests.databases import fresh_database
from tests.helpers import StatementCounter
from tests.redis_keys import RUN_PREFIX, TEST_REDIS_URL, connect, delete_keys, new_prefix

PASSWORD = "correct horse battery"
# The Redis that tests needing one use (here and in CI); unreachable, they fail.
REDIS_URL = TEST_REDIS_URL
# Nothing listens on port 1: every call fails at once, as in an outage.
UNREACHABLE_REDIS_URL = "redis://127.0.0.1:1/0"


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> Iterator[str]:
    """The suite's own database: a SQLite file, or a new database on ``TEST_DATABASE_URL``'s server.

    Never the configured database itself: the suite empties its tables after every
    test, and another run (or anything else) may be using that one. It fails, never
    skips, when the configured server is unreachable.
    """
    with fresh_database(tmp_path_factory.mktemp("db")) as url:
        yield url


@pytest.fixture(scope="session")
def app_config(tmp_path_factory, database_url) -> dict:
    """Settings every test app shares; a test may build an app with overrides."""
    return {
        "APP_ENV": "testing",
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "RATELIMIT_ENABLED": False,
        "REDIS_URL": None,
        "ARGON2_TIME_COST": 1,
        "ARGON2_MEMORY_KIB": 64,
        "UPLOAD_FOLDER": str(tmp_path_factory.mktemp("uploads")),
        # Jobs run inside the request that starts them; tests/e2e run real workers.
        "JOB_IMMEDIATE": True,
        "JOB_FOLDER": str(tmp_path_factory.mktemp("jobs")),
    }


@pytest.fixture(scope="session")
def app(app_config):
    """The application under test, with fresh tables."""
    application = create_app(app_config)
    application.test_client_class = ContractClient
    with application.app_context():
        db.drop_all()
        db.create_all()
    yield application
    with application.app_context():
        db.engine.dispose()


@pytest.fixture(autouse=True)
def _empty_tables(app) -> Iterator[None]:
    yield
    with app.app_context():
        db.session.rollback()
        for table in reversed(db.metadata.sorted_tables):
            db.session.execute(table.delete())
        db.session.commit()


@pytest.fixture(scope="session")
def redis_client():
    """A client of the test Redis (``TEST_REDIS_URL``); fails, never skips, when it is down.

    At the end of the run it deletes whatever is left under the run's own prefix.
    """
    client = connect()
    yield client
    delete_keys(client, RUN_PREFIX)
    client.close()


@pytest.fixture
def redis_prefix(redis_client) -> Iterator[str]:
    """A key prefix of this test's own (``REDIS_KEY_PREFIX``); its keys are deleted afterwards."""
    prefix = new_prefix("test")
    yield prefix
    delete_keys(redis_client, prefix)


@pytest.fixture
def client(app):
    """A test client whose every response is checked against the contract."""
    return app.test_client()


@pytest.fixture
def make_user(app):
    """Create a user; returns a dict with id, email, password, role and tokens."""

    def make(*, email=None, role=Role.CUSTOMER, name="Test User", password=PASSWORD) -> dict:
        with app.app_context():
            email = email or f"user{os.urandom(4).hex()}@example.com"
            user = create_user(email=email, password=password, name=name, role=role)
            return {
                "id": user.id,
                "email": user.email,
                "password": password,
                "role": user.role,
                "access": create_access_token(identity=user),
                "refresh": create_refresh_token(identity=user),
            }

    return make


def bearer(token: str) -> dict:
    """The Authorization header for ``token``."""
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def admin(make_user) -> dict:
    """An admin user."""
    return make_user(role=Role.ADMIN, email="admin@example.com")


@pytest.fixture
def customer(make_user) -> dict:
    """A customer user."""
    return make_user(email="customer@example.com")


@pytest.fixture
def admin_headers(admin) -> dict:
    """Authorization headers of an admin."""
    return bearer(admin["access"])


@pytest.fixture
def customer_headers(customer) -> dict:
    """Authorization headers of a customer."""
    return bearer(customer["access"])


@pytest.fixture
def make_product(app):
    """Create a product directly in the database; returns its id."""
    counter = iter(range(1, 10**6))

    def make(**overrides) -> int:
        n = next(counter)
        fields = {"sku": f"SKU-{n:04d}", "name": f"Product {n}", "price_cents": 1000, "stock": 5}
        with app.app_context():
            return create_product(**{**fields, **overrides}).id

    return make


@pytest.fixture
def counter(app) -> Iterator[StatementCounter]:
    """Counts the statements the app's engine executes inside ``counter.counting()``."""
    with app.app_context():
        engine = db.engine
    counter = StatementCounter(engine)
    yield counter
    counter.close()


@pytest.fixture
def in_app(app):
    """Run a callable in a fresh app context (never around a request) and return its result."""

    def run(function, *args, **kwargs):
        with app.app_context():
            return function(*args, **kwargs)

    return run


@pytest.fixture
def build_app(app_config):
    """Build another app from the shared settings plus overrides, contract-checked.

    Every app logs through the same ``api`` logger, whose handler ``create_app``
    replaces (with one writing to the ``sys.stdout`` of that moment, so an app
    built inside a test logs to ``capsys``); it is put back afterwards.
    """
    logger = logging.getLogger("api")
    handlers, level = list(logger.handlers), logger.level
    built = []

    def build(**overrides):
        application = create_app({**app_config, **overrides})
        application.test_client_class = ContractClient
        built.append(application)
        return application

    yield build
    for application in built:
        with application.app_context():
            db.engine.dispose()
    logger.handlers[:] = handlers
    logger.setLevel(level)
