"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect

from api import create_app
from models import db
from tests.databases import fresh_database


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
