"""Settings from the environment, and production's refusal to start unsafely."""

import logging
from datetime import timedelta
from pathlib import Path

import pytest

from api import create_app
from api.config import (
    DEV_JWT_SECRET_KEY,
    DEV_SECRET_KEY,
    ConfigError,
    check_production_safety,
    normalize_database_url,
    settings_from_env,
)
from models import db
from tests.contract import ContractClient

GOOD_SECRET = "s" * 40
GOOD_JWT_SECRET = "j" * 32
PRODUCTION = {"APP_ENV": "production", "SECRET_KEY": GOOD_SECRET, "JWT_SECRET_KEY": GOOD_JWT_SECRET}


def settings(**environ) -> dict:
    return settings_from_env(environ, root=Path("/srv/shop"))


# --- settings_from_env --------------------------------------------------------------------


def test_defaults_for_an_empty_environment():
    config = settings()

    assert config["APP_ENV"] == "development"
    assert config["TESTING"] is False
    assert config["SECRET_KEY"] == DEV_SECRET_KEY
    assert config["JWT_SECRET_KEY"] == DEV_JWT_SECRET_KEY
    assert config["JWT_ACCESS_TOKEN_EXPIRES"] == timedelta(minutes=15)
    assert config["JWT_REFRESH_TOKEN_EXPIRES"] == timedelta(days=30)
    assert config["SQLALCHEMY_DATABASE_URI"] == "sqlite:////srv/shop/instance/storefront.db"
    assert config["REDIS_URL"] is None
    assert config["REDIS_KEY_PREFIX"] == ""
    assert config["RATELIMIT_ENABLED"] is True
    assert config["RATELIMIT_STORAGE_URI"] == "memory://"
    assert config["CORS_ORIGINS"] == []
    assert config["MAX_CONTENT_LENGTH"] == 1024 * 1024
    assert config["UPLOAD_FOLDER"] == "/srv/shop/instance/uploads"
    assert config["MAX_UPLOAD_MB"] == 5
    assert config["MAX_IMAGE_PIXELS"] == 40_000_000
    assert config["BEHIND_PROXY"] is False
    assert config["LOG_LEVEL"] == "INFO"
    assert config["DEBUG_REQUESTED"] is False
    assert config["PAGE_COUNT_CACHE_MIN"] == 1000
    assert config["PAGE_COUNT_CACHE_SECONDS"] == 10


def test_empty_values_count_as_unset():
    names = ("JWT_ACCESS_MINUTES", "MAX_BODY_MB", "RATELIMIT_ENABLED", "SECRET_KEY", "DATABASE_URL")

    assert settings(**dict.fromkeys(names, "")) == settings()


@pytest.mark.parametrize("app_env", ["development", "testing", "production"])
def test_app_env_selects_the_environment(app_env):
    config = settings(APP_ENV=app_env)

    assert config["APP_ENV"] == app_env
    assert config["TESTING"] is (app_env == "testing")


@pytest.mark.parametrize("app_env", ["prod", "Production", "staging", " "])
def test_an_unknown_app_env_is_refused(app_env):
    with pytest.raises(ConfigError, match="APP_ENV"):
        settings(APP_ENV=app_env)


def test_numbers_are_parsed():
    config = settings(
        JWT_ACCESS_MINUTES="5",
        JWT_REFRESH_DAYS="7",
        MAX_BODY_MB="2.5",
        MAX_UPLOAD_MB="10",
        MAX_IMAGE_PIXELS="1000000",
        ARGON2_TIME_COST="4",
        ARGON2_MEMORY_KIB="131072",
        PAGE_COUNT_CACHE_MIN="0",
        PAGE_COUNT_CACHE_SECONDS="2.5",
    )

    assert config["JWT_ACCESS_TOKEN_EXPIRES"] == timedelta(minutes=5)
    assert config["JWT_REFRESH_TOKEN_EXPIRES"] == timedelta(days=7)
    assert config["MAX_CONTENT_LENGTH"] == int(2.5 * 1024 * 1024)
    assert config["MAX_UPLOAD_MB"] == 10
    assert config["MAX_IMAGE_PIXELS"] == 1_000_000
    assert config["ARGON2_TIME_COST"] == 4
    assert config["ARGON2_MEMORY_KIB"] == 131072
    assert config["PAGE_COUNT_CACHE_MIN"] == 0
    assert config["PAGE_COUNT_CACHE_SECONDS"] == 2.5


@pytest.mark.parametrize(
    ("name", "value"),
    [("JWT_ACCESS_MINUTES", "fifteen"), ("JWT_REFRESH_DAYS", "1.5"), ("MAX_BODY_MB", "1MB")],
)
def test_a_malformed_number_is_refused_by_name(name, value):
    with pytest.raises(ConfigError, match=name):
        settings(**{name: value})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PAGE_COUNT_CACHE_MIN", "-1"),
        ("PAGE_COUNT_CACHE_MIN", "1.5"),
        ("PAGE_COUNT_CACHE_SECONDS", "-0.5"),
        ("PAGE_COUNT_CACHE_SECONDS", "nan"),
        ("PAGE_COUNT_CACHE_SECONDS", "inf"),
        ("PAGE_COUNT_CACHE_SECONDS", "ten"),
        ("MAX_IMAGE_PIXELS", "0"),
        ("MAX_IMAGE_PIXELS", "40 megapixels"),
    ],
)
def test_a_count_or_size_setting_out_of_range_is_refused_by_name(name, value):
    with pytest.raises(ConfigError, match=name):
        settings(**{name: value})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("RATELIMIT_DEFAULT", "lots"),
        ("RATELIMIT_LOGIN", "10 per fortnight"),
        ("CORS_ORIGINS", "https://shop.example.com/"),
        ("CORS_ORIGINS", "https://ok.example, *.example.com"),
    ],
)
def test_a_malformed_limit_or_origin_is_refused_with_the_other_settings(name, value):
    # Here, not only when the app is built: gunicorn's master reads the settings alone.
    with pytest.raises(ConfigError, match=name):
        settings(**{name: value})


@pytest.mark.parametrize("value", ["false", "False", "0", "no", "off"])
def test_rate_limiting_can_be_switched_off(value):
    assert settings(RATELIMIT_ENABLED=value)["RATELIMIT_ENABLED"] is False


@pytest.mark.parametrize("value", ["true", "TRUE", "1", "yes", "on", " on "])
def test_rate_limiting_can_be_switched_on(value):
    assert settings(RATELIMIT_ENABLED=value)["RATELIMIT_ENABLED"] is True


def test_rate_limit_values_and_other_strings_are_read():
    config = settings(
        RATELIMIT_DEFAULT="100 per minute",
        RATELIMIT_LOGIN="3 per minute",
        CORS_ORIGINS=" https://a.example , https://b.example,,",
        BEHIND_PROXY="1",
        LOG_LEVEL="debug",
        UPLOAD_FOLDER="/data/uploads",
        FLASK_DEBUG="1",
    )

    assert config["RATELIMIT_DEFAULT"] == "100 per minute"
    assert config["RATELIMIT_LOGIN"] == "3 per minute"
    assert config["CORS_ORIGINS"] == ["https://a.example", "https://b.example"]
    assert config["BEHIND_PROXY"] is True
    assert config["LOG_LEVEL"] == "DEBUG"
    assert config["UPLOAD_FOLDER"] == "/data/uploads"
    assert config["DEBUG_REQUESTED"] is True


def test_redis_url_also_stores_the_rate_limit_counters():
    config = settings(REDIS_URL="redis://cache:6379/1", REDIS_KEY_PREFIX="shop-eu:")

    assert config["REDIS_URL"] == "redis://cache:6379/1"
    assert config["RATELIMIT_STORAGE_URI"] == "redis://cache:6379/1"
    assert config["REDIS_KEY_PREFIX"] == "shop-eu:"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgres://u:p@db:5432/shop", "postgresql+psycopg://u:p@db:5432/shop"),
        ("postgresql://u:p@db/shop", "postgresql+psycopg://u:p@db/shop"),
        ("postgresql+psycopg://u@db/shop", "postgresql+psycopg://u@db/shop"),
        ("sqlite:////var/shop.db", "sqlite:////var/shop.db"),
    ],
)
def test_database_url_is_normalized_to_psycopg_3(url, expected):
    assert normalize_database_url(url) == expected
    assert settings(DATABASE_URL=url)["SQLALCHEMY_DATABASE_URI"] == expected


def test_testing_uses_cheap_password_hashes_and_production_does_not():
    testing, production = settings(APP_ENV="testing"), settings(**PRODUCTION)

    assert testing["ARGON2_TIME_COST"] < production["ARGON2_TIME_COST"]
    assert testing["ARGON2_MEMORY_KIB"] < production["ARGON2_MEMORY_KIB"]


# --- check_production_safety --------------------------------------------------------------


def test_production_with_good_secrets_passes():
    check_production_safety(settings(**PRODUCTION))


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"SECRET_KEY": ""}, "SECRET_KEY is missing"),
        ({"SECRET_KEY": DEV_SECRET_KEY}, "SECRET_KEY is missing or the development default"),
        ({"JWT_SECRET_KEY": ""}, "JWT_SECRET_KEY is missing"),
        ({"JWT_SECRET_KEY": DEV_JWT_SECRET_KEY}, "JWT_SECRET_KEY is missing or the development"),
        ({"JWT_SECRET_KEY": "k" * 31}, "JWT_SECRET_KEY must be at least 32 characters"),
        ({"FLASK_DEBUG": "1"}, "debug"),
    ],
    ids=["no-secret", "dev-secret", "no-jwt-secret", "dev-jwt-secret", "short-jwt", "debug"],
)
def test_production_refuses_to_start_unsafely(overrides, reason):
    with pytest.raises(ConfigError, match="refusing to start in production") as refused:
        check_production_safety(settings(**{**PRODUCTION, **overrides}))

    assert reason in str(refused.value)


def test_production_names_every_problem_at_once():
    with pytest.raises(ConfigError) as refused:
        check_production_safety(settings(APP_ENV="production", FLASK_DEBUG="true"))

    message = str(refused.value)
    assert "SECRET_KEY is missing" in message
    assert "JWT_SECRET_KEY is missing" in message
    assert "debug" in message


def test_production_refuses_debug_set_in_the_config():
    with pytest.raises(ConfigError, match="debug"):
        check_production_safety({**settings(**PRODUCTION), "DEBUG": True})


@pytest.mark.parametrize("app_env", ["development", "testing"])
def test_other_environments_accept_the_development_secrets(app_env):
    check_production_safety(settings(APP_ENV=app_env, FLASK_DEBUG="1"))


# --- create_app ---------------------------------------------------------------------------


@pytest.fixture
def restore_shared_state():
    """``create_app`` replaces the shared ``api`` logger's handler: put it back."""
    logger = logging.getLogger("api")
    handlers, level = list(logger.handlers), logger.level
    yield
    logger.handlers[:] = handlers
    logger.setLevel(level)


@pytest.mark.usefixtures("restore_shared_state")
def test_create_app_in_production_with_good_secrets(app_config, monkeypatch):
    monkeypatch.delenv("FLASK_DEBUG", raising=False)

    production = create_app({**app_config, **PRODUCTION, "TESTING": False})
    production.test_client_class = ContractClient

    assert production.config["APP_ENV"] == "production"
    assert production.debug is False
    assert production.config["SECRET_KEY"] == GOOD_SECRET
    assert production.test_client().get("/health").status_code == 200
    with production.app_context():
        db.engine.dispose()


@pytest.mark.usefixtures("restore_shared_state")
@pytest.mark.parametrize(
    "overrides",
    [{"SECRET_KEY": DEV_SECRET_KEY}, {"JWT_SECRET_KEY": "short"}, {"DEBUG": True}],
    ids=["dev-secret", "short-jwt", "debug"],
)
def test_create_app_refuses_an_unsafe_production(app_config, monkeypatch, overrides):
    monkeypatch.delenv("FLASK_DEBUG", raising=False)

    with pytest.raises(ConfigError, match="refusing to start in production"):
        create_app({**app_config, **PRODUCTION, "TESTING": False, **overrides})


@pytest.mark.usefixtures("restore_shared_state")
def test_create_app_refuses_flask_debug_from_the_environment_in_production(app_config, monkeypatch):
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", GOOD_SECRET)
    monkeypatch.setenv("JWT_SECRET_KEY", GOOD_JWT_SECRET)
    monkeypatch.setenv("FLASK_DEBUG", "1")
    config = {k: v for k, v in app_config.items() if k not in ("APP_ENV", "TESTING")}

    with pytest.raises(ConfigError, match="debug"):
        create_app(config)
