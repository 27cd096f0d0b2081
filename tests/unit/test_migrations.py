"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

import os
import uuid
from contextlib import contextmanager

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from api import create_app
from api.config import normalize_database_url
from models import db


@contextmanager
def fresh_database(tmp_path):
    """An empty database of the kind the suite runs on (a new one on PostgreSQL)."""
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        yield f"sqlite:///{tmp_path / 'migrated.db'}"
        return
    server = make_url(normalize_database_url(url))
    name = f"storefront_migrations_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def migrated_app(app_config, tmp_path):
    with fresh_database(tmp_path) as url:
        application = create_app({**app_config, "SQLALCHEMY_DATABASE_URI": url})
        with application.app_context():
            upgrade()
            yield application
            db.session.remove()
            db.engine.dispose()


def test_upgrade_builds_the_schema_the_models_describe(migrated_app):
    with db.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), db.metadata)
    assert differences == []


def test_downgrade_to_base_removes_every_table(migrated_app):
    downgrade(revision="base")
    tables = set(inspect(db.engine).get_table_names()) - {"alembic_version"}
    assert tables == set()
    upgrade()
    assert {"users", "products", "revoked_tokens"} <= set(inspect(db.engine).get_table_names())


def test_the_app_never_creates_tables_itself(app_config, tmp_path):
    application = create_app(
        {**app_config, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.db'}"}
    )
    with application.app_context():
        application.test_client().get("/ready")
        assert inspect(db.engine).get_table_names() == []
