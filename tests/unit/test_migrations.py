"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

import re
import warnings
from datetime import UTC, datetime, timedelta

import pytest
import redis
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import current_app
from flask_migrate import downgrade, upgrade
from sqlalchemy import DateTime, String, column, inspect, select, text
from sqlalchemy import table as sa_table

from api import create_app
from models import db
from models.token import REVOKED_PREFIX
from models.user import find_user_by_email
from tests.conftest import REDIS_URL, UNREACHABLE_REDIS_URL
from tests.databases import fresh_database

# What Alembic says when it cannot compare an expression index (SQLite's cannot
# be reflected); it then leaves that index out of the comparison.
SKIPPED_EXPRESSION_INDEX = re.compile(
    r"autogenerate skipping metadata-specified expression-based index '(\w+)'"
)


@pytest.fixture
def migrated_app(app_config, tmp_path):
    with fresh_database(tmp_path) as url:
        application = create_app({**app_config, "SQLALCHEMY_DATABASE_URI": url})
        with application.app_context():
            upgrade()
            yield application
            db.session.remove()
            db.engine.dispose()


def _postgresql_only_indexes() -> set[str]:
    """The models' indexes built on PostgreSQL alone (``Index.ddl_if(dialect=...)``)."""
    return {
        index.name
        for table in db.metadata.tables.values()
        for index in table.indexes
        # SQLAlchemy keeps the ddl_if() condition there; it has no public accessor.
        if index._ddl_if is not None and index._ddl_if.dialect == "postgresql"
    }


def _schema() -> dict:
    """Every table's columns and indexes, as the database reports them."""
    inspector = inspect(db.engine)
    return {
        table: {
            "columns": [
                (column["name"], str(column["type"]), column["nullable"])
                for column in inspector.get_columns(table)
            ],
            "indexes": sorted(
                (
                    index["name"],
                    tuple(index.get("expressions") or index["column_names"]),
                    index["unique"],
                    # The partial condition, as SQL (a TextClause on SQLite).
                    sorted(
                        (option, str(value))
                        for option, value in index.get("dialect_options", {}).items()
                    ),
                )
                for index in inspector.get_indexes(table)
            ),
        }
        for table in inspector.get_table_names()
        if table != "alembic_version"
    }


def _revisions() -> list[str]:
    """Every revision id, oldest first."""
    config = current_app.extensions["migrate"].migrate.get_config()
    script = ScriptDirectory.from_config(config)
    return [revision.revision for revision in reversed(list(script.walk_revisions()))]


def test_upgrade_builds_the_schema_the_models_describe(migrated_app):
    with warnings.catch_warnings(record=True) as caught, db.engine.connect() as connection:
        warnings.simplefilter("always")
        differences = compare_metadata(MigrationContext.configure(connection), db.metadata)
    assert differences == []
    messages = [str(warning.message) for warning in caught]
    assert [m for m in messages if not SKIPPED_EXPRESSION_INDEX.match(m)] == []
    # Only the PostgreSQL-only indexes may go uncompared, and only where they do
    # not exist: on PostgreSQL every index is compared.
    skipped = {SKIPPED_EXPRESSION_INDEX.match(m).group(1) for m in messages}
    if db.engine.dialect.name == "postgresql":
        assert skipped == set()
    else:
        assert skipped == _postgresql_only_indexes()
        built = {name for indexes in _schema().values() for name, *_ in indexes["indexes"]}
        assert built & skipped == set()


def test_downgrade_to_base_removes_every_table(migrated_app):
    downgrade(revision="base")
    tables = set(inspect(db.engine).get_table_names()) - {"alembic_version"}
    assert tables == set()
    upgrade()
    assert {"users", "products", "revoked_tokens"} <= set(inspect(db.engine).get_table_names())


def test_each_downgrade_restores_the_schema_its_upgrade_started_from(migrated_app):
    revisions = _revisions()
    downgrade(revision="base")
    before = {}
    for revision in revisions:
        before[revision] = _schema()
        upgrade(revision=revision)
    for revision in reversed(revisions):
        downgrade(revision="-1")
        assert _schema() == before[revision], f"downgrade of {revision}"


def test_the_app_never_creates_tables_itself(app_config, tmp_path):
    application = create_app(
        {**app_config, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.db'}"}
    )
    with application.app_context():
        application.test_client().get("/ready")
        assert inspect(db.engine).get_table_names() == []


# --- 0005: the emails already stored, normalised --------------------------------------------


@pytest.fixture
def app_at_0004(app_config, tmp_path):
    """An app on a fresh database migrated to 0004, the revision before emails were normalised."""
    with fresh_database(tmp_path) as url:
        application = create_app({**app_config, "SQLALCHEMY_DATABASE_URI": url})
        with application.app_context():
            upgrade(revision="0004")
            yield application
            db.session.remove()
            db.engine.dispose()


def _stored_user(email: str, *, deleted: bool = False) -> int:
    """A user row as the code before 0005 could leave it; its id."""
    now = datetime.now(UTC)
    user_id = db.session.execute(
        text(
            "INSERT INTO users (email, name, role, password_hash, created_at, updated_at,"
            " version, deleted_at) VALUES (:email, 'Someone', 'customer', 'not a hash', :now,"
            " :now, 1, :deleted) RETURNING id"
        ),
        {"email": email, "now": now, "deleted": now if deleted else None},
    ).scalar_one()
    db.session.commit()
    return user_id


def _stored() -> dict[int, tuple[str, int]]:
    rows = db.session.execute(text("SELECT id, email, version FROM users")).all()
    db.session.commit()
    return {user_id: (email, version) for user_id, email, version in rows}


def _upgrade_to_0005() -> None:
    """Upgrade with Alembic itself: Flask-Migrate would turn a refusal into sys.exit."""
    command.upgrade(current_app.extensions["migrate"].migrate.get_config(), "0005")


def _revision() -> str:
    with db.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def test_0005_normalises_the_emails_already_stored(app_at_0004):
    full_width = _stored_user("\uff41\uff44\uff41@example.com")  # lower-cased, not normalised
    hidden = _stored_user("gr\u200bace@example.com")
    plain = _stored_user("linus@example.com")
    # Deleted accounts may share an address with a live one.
    deleted_twin = _stored_user("\uff4cinus@example.com", deleted=True)

    _upgrade_to_0005()

    assert _stored() == {
        full_width: ("ada@example.com", 2),  # a new version: the old ETag is stale
        hidden: ("grace@example.com", 2),
        plain: ("linus@example.com", 1),
        deleted_twin: ("linus@example.com", 2),
    }
    upgrade()  # the models are the head's
    assert find_user_by_email("ADA@example.com").id == full_width


def test_0005_stops_naming_live_accounts_that_would_share_an_address(app_at_0004):
    ada = _stored_user("ada@example.com")
    twin = _stored_user("\uff41\uff44\uff41@example.com")
    before = _stored()

    with pytest.raises(RuntimeError) as caught:
        _upgrade_to_0005()

    message = str(caught.value)
    assert f"user {ada} ('ada@example.com')" in message
    assert f"user {twin} ('\uff41\uff44\uff41@example.com')" in message
    assert "would all become 'ada@example.com'" in message
    assert (_revision(), _stored()) == ("0004", before)
    assert "rate_limit_windows" not in inspect(db.engine).get_table_names()


def test_0005_stops_naming_a_live_account_too_long_once_normalised(app_at_0004):
    grows = _stored_user("\u0130" * 240 + "@x.example")  # 250 characters, 490 lower-cased

    with pytest.raises(RuntimeError, match=f"user {grows} .* would be 490 characters long"):
        _upgrade_to_0005()

    assert _revision() == "0004"


# --- 0006: the database becomes the record of revocations -----------------------------------


@pytest.fixture
def before_0006(app_config, tmp_path):
    """Build an app with settings on a fresh database migrated up to 0004 (before sessions)."""
    built = []

    def build(**settings):
        database = fresh_database(tmp_path / str(len(built)))
        url = database.__enter__()
        application = create_app({**app_config, "SQLALCHEMY_DATABASE_URI": url, **settings})
        context = application.app_context()
        context.push()
        built.append((database, context))
        upgrade(revision="0004")
        return application

    yield build
    for database, context in reversed(built):
        db.session.remove()
        db.engine.dispose()
        context.pop()
        database.__exit__(None, None, None)


def _revocations() -> dict:
    """What revoked_tokens holds: id → expiry (aware, in UTC)."""
    table = sa_table("revoked_tokens", column("jti", String), column("expires_at", DateTime))
    rows = db.session.execute(select(table.c.jti, table.c.expires_at)).all()
    return {jti: at if at.tzinfo else at.replace(tzinfo=UTC) for jti, at in rows}


def test_0006_copies_the_revocations_redis_still_holds(before_0006, redis_prefix, capsys):
    prefix = f"{redis_prefix}{REVOKED_PREFIX}"
    before_0006(REDIS_URL=REDIS_URL, REDIS_KEY_PREFIX=redis_prefix)
    stored = redis.Redis.from_url(REDIS_URL)
    stored.set(f"{prefix}only-in-redis", b"1", ex=600)
    stored.set(f"{prefix}in-both", b"1", ex=600)
    db.session.execute(
        text("INSERT INTO revoked_tokens (jti, expires_at) VALUES ('in-both', :at)"),
        {"at": datetime.now(UTC) + timedelta(seconds=300)},
    )
    db.session.commit()

    upgrade()

    copied = _revocations()
    assert set(copied) == {"only-in-redis", "in-both"}
    assert abs((copied["only-in-redis"] - datetime.now(UTC)).total_seconds() - 600) < 30
    assert "copied 1 revocation(s) from Redis" in capsys.readouterr().err
    stored.close()


def test_0006_without_redis_url_copies_nothing_and_says_so(before_0006, capsys):
    before_0006(REDIS_URL=None)

    upgrade()

    assert _revocations() == {}
    assert "no revocation was copied from Redis" in capsys.readouterr().err


def test_0006_migrates_without_the_copy_when_redis_does_not_answer_and_says_so(before_0006, capsys):
    # Redis may still be starting (a first `docker compose up`): the schema comes first.
    before_0006(REDIS_URL=UNREACHABLE_REDIS_URL)

    upgrade()

    columns = {column["name"] for column in inspect(db.engine).get_columns("users")}
    assert "token_version" in columns
    err = capsys.readouterr().err
    assert "Redis does not answer" in err
    assert "no revocation was copied from Redis" in err
