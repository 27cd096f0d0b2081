"""Settings from the environment (and a ``.env`` file), one place for all of them."""

import math
import os
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from dotenv import load_dotenv
from limits import RateLimitItem, parse_many

ENVIRONMENTS = ("development", "testing", "production")
# Development-only signing keys: production refuses to start with either.
DEV_SECRET_KEY = "dev-only-secret-key-change-me"  # noqa: S105
DEV_JWT_SECRET_KEY = "dev-only-jwt-secret-key-change-me-0123456789"  # noqa: S105
TRUE_WORDS = {"1", "true", "yes", "on"}
# The limits unless the environment sets others; the spec's examples quote them.
DEFAULT_RATE_LIMITS = {"RATELIMIT_DEFAULT": "300 per minute", "RATELIMIT_LOGIN": "10 per minute"}
# Listing totals (api/http/page_counts.py): counts of at least this many rows are
# reused for this many seconds; the spec's descriptions quote these defaults.
PAGE_COUNT_CACHE_MIN = 1000
PAGE_COUNT_CACHE_SECONDS = 10
# Uploaded images decode to at most this many pixels: 40 megapixels, a large
# photograph, at most 160 MB once decoded (RGBA). Pillow's own limit, which
# applies too, is 89 megapixels.
MAX_IMAGE_PIXELS = 40_000_000
# The response cache (api/hooks/response_cache.py): the largest body it stores,
# how long an entry may live at most (a backstop: invalidation is by
# generation), and the memory each worker gives it without Redis.
RESPONSE_CACHE_MAX_KB = 256
RESPONSE_CACHE_SECONDS = 300
RESPONSE_CACHE_MEMORY_MB = 32


class ConfigError(RuntimeError):
    """The configuration is unsafe or malformed; the app refuses to start."""


def _flag(environ, name: str, default: bool) -> bool:
    value = environ.get(name)
    return default if value is None or value == "" else value.strip().lower() in TRUE_WORDS


def _number(environ, name: str, default: float, cast=int, *, minimum: float | None = None):
    value = environ.get(name)
    if value is None or value == "":
        return default
    try:
        number = cast(value)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {value!r}") from None
    # Written so that NaN fails too; infinity is no setting anyone means.
    if minimum is not None and not minimum <= number < math.inf:
        raise ConfigError(f"{name} must be a finite number of at least {minimum}, got {value!r}")
    return number


def rate_limits(setting: str, value: str) -> list[RateLimitItem]:
    """The limits in ``value``: ``300 per minute``, or several (``5/second; 300/minute``).

    A malformed value stops the app at startup rather than leaving it unlimited.
    """
    try:
        return parse_many(value)
    except ValueError:
        raise ConfigError(
            f"{setting}: {value!r} is not a rate limit like '300 per minute'"
        ) from None


def check_origin(origin: str) -> str:
    """Return ``origin`` if it is ``*`` or a bare ``scheme://host[:port]``, else refuse it.

    flask-cors compares literal origins exactly and treats strings with regex
    characters as patterns, so a path, a trailing slash or a wildcard
    subdomain would silently never match, or match too much.
    """
    if origin == "*":
        return origin
    parts = urlsplit(origin)
    try:
        parts.port  # noqa: B018 (raises on a malformed port)
    except ValueError:
        parts = None
    if (
        parts is None
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or "*" in origin
        or origin != f"{parts.scheme}://{parts.netloc}"
    ):
        raise ConfigError(
            f"CORS_ORIGINS: {origin!r} is not an origin like https://shop.example.com"
        )
    return origin


def normalize_database_url(url: str) -> str:
    """Point PostgreSQL URLs at psycopg 3, the driver this project installs."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url.removeprefix(prefix)
    return url


def engine_options(url: str, environ) -> dict:
    """Engine settings: bound parameters hidden, and pool settings for a server database.

    ``hide_parameters`` keeps a statement's values out of the messages of its
    errors, which a 500 logs with its traceback: they may be password hashes and
    emails. SQLite keeps SQLAlchemy's own pool. For a server database,
    ``pool_pre_ping`` replaces a connection the server or a proxy has dropped
    instead of failing the request that draws it; ``pool_recycle`` retires
    connections before typical idle timeouts. A worker holds at most
    ``DB_POOL_SIZE + DB_MAX_OVERFLOW`` connections.
    """
    if url.startswith("sqlite"):
        return {"hide_parameters": True}
    return {
        "hide_parameters": True,
        "pool_size": _number(environ, "DB_POOL_SIZE", 5),
        "max_overflow": _number(environ, "DB_MAX_OVERFLOW", 10),
        "pool_recycle": _number(environ, "DB_POOL_RECYCLE", 1800),
        "pool_pre_ping": True,
    }


def settings_from_env(environ=None, root: Path | None = None) -> dict:
    """Return the Flask config for the environment named by ``APP_ENV``.

    ``environ`` defaults to ``os.environ`` after loading ``.env`` (which never
    overrides a variable that is already set).
    """
    root = root or Path.cwd()
    if environ is None:
        load_dotenv(root / ".env")
        environ = os.environ
    app_env = environ.get("APP_ENV", "development")
    if app_env not in ENVIRONMENTS:
        raise ConfigError(f"APP_ENV must be one of {', '.join(ENVIRONMENTS)}, got {app_env!r}")
    instance = root / "instance"
    max_body_mb = _number(environ, "MAX_BODY_MB", 1, float)
    database_url = normalize_database_url(
        environ.get("DATABASE_URL") or f"sqlite:///{instance / 'storefront.db'}"
    )
    settings = {
        "APP_ENV": app_env,
        "TESTING": app_env == "testing",
        "SECRET_KEY": environ.get("SECRET_KEY") or DEV_SECRET_KEY,
        "JWT_SECRET_KEY": environ.get("JWT_SECRET_KEY") or DEV_JWT_SECRET_KEY,
        "JWT_ACCESS_TOKEN_EXPIRES": timedelta(minutes=_number(environ, "JWT_ACCESS_MINUTES", 15)),
        "JWT_REFRESH_TOKEN_EXPIRES": timedelta(days=_number(environ, "JWT_REFRESH_DAYS", 30)),
        "JWT_TOKEN_LOCATION": ["headers"],
        "JWT_ALGORITHM": "HS256",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": engine_options(database_url, environ),
        "REDIS_URL": environ.get("REDIS_URL") or None,
        # Put in front of every key the app writes to Redis, so that several apps
        # (or test runs) can share one Redis database without touching each other's.
        "REDIS_KEY_PREFIX": environ.get("REDIS_KEY_PREFIX") or "",
        "RATELIMIT_ENABLED": _flag(environ, "RATELIMIT_ENABLED", True),
        "RATELIMIT_DEFAULT": environ.get("RATELIMIT_DEFAULT")
        or DEFAULT_RATE_LIMITS["RATELIMIT_DEFAULT"],
        "RATELIMIT_LOGIN": environ.get("RATELIMIT_LOGIN") or DEFAULT_RATE_LIMITS["RATELIMIT_LOGIN"],
        "RATELIMIT_STORAGE_URI": environ.get("REDIS_URL") or "memory://",
        "CORS_ORIGINS": [
            o.strip() for o in environ.get("CORS_ORIGINS", "").split(",") if o.strip()
        ],
        "MAX_CONTENT_LENGTH": int(max_body_mb * 1024 * 1024),
        "UPLOAD_FOLDER": environ.get("UPLOAD_FOLDER") or str(instance / "uploads"),
        "MAX_UPLOAD_MB": _number(environ, "MAX_UPLOAD_MB", 5, float),
        "MAX_IMAGE_PIXELS": _number(environ, "MAX_IMAGE_PIXELS", MAX_IMAGE_PIXELS, minimum=1),
        **job_settings(environ, instance),
        "BEHIND_PROXY": _flag(environ, "BEHIND_PROXY", False),
        "LOG_LEVEL": (environ.get("LOG_LEVEL") or "INFO").upper(),
        # Unset: no /metrics. Set: /metrics answers requests bearing this token.
        "METRICS_TOKEN": environ.get("METRICS_TOKEN") or None,
        # argon2id cost: the library's defaults (RFC 9106 low-memory profile).
        "ARGON2_TIME_COST": _number(environ, "ARGON2_TIME_COST", 3),
        "ARGON2_MEMORY_KIB": _number(environ, "ARGON2_MEMORY_KIB", 65536),
        "DEBUG_REQUESTED": _flag(environ, "FLASK_DEBUG", False),
        "PAGE_COUNT_CACHE_MIN": _number(
            environ, "PAGE_COUNT_CACHE_MIN", PAGE_COUNT_CACHE_MIN, minimum=0
        ),
        "PAGE_COUNT_CACHE_SECONDS": _number(
            environ, "PAGE_COUNT_CACHE_SECONDS", PAGE_COUNT_CACHE_SECONDS, float, minimum=0
        ),
        "RESPONSE_CACHE": _flag(environ, "RESPONSE_CACHE", True),
        "RESPONSE_CACHE_MAX_KB": _number(
            environ, "RESPONSE_CACHE_MAX_KB", RESPONSE_CACHE_MAX_KB, float, minimum=0
        ),
        "RESPONSE_CACHE_SECONDS": _number(
            environ, "RESPONSE_CACHE_SECONDS", RESPONSE_CACHE_SECONDS, minimum=1
        ),
        "RESPONSE_CACHE_MEMORY_MB": _number(
            environ, "RESPONSE_CACHE_MEMORY_MB", RESPONSE_CACHE_MEMORY_MB, float, minimum=0
        ),
    }
    # Checked here, where every setting is read (and gunicorn's master reads
    # them before it starts a worker), not only once the app is built.
    for setting in ("RATELIMIT_DEFAULT", "RATELIMIT_LOGIN"):
        rate_limits(setting, settings[setting])
    for origin in settings["CORS_ORIGINS"]:
        check_origin(origin)
    if app_env == "testing":
        # Cheap hashes keep the suite fast; the algorithm is the same.
        settings.update(ARGON2_TIME_COST=1, ARGON2_MEMORY_KIB=64)
    return settings


def job_settings(environ, instance: Path) -> dict:
    """Settings of the long-running jobs (``api.jobs``): files, queue, leases, retention.

    ``JOB_FOLDER`` holds uploaded imports, finished exports and, without
    ``REDIS_URL``, the SQLite queue; the API and every worker must share it.
    """
    return {
        "JOB_FOLDER": environ.get("JOB_FOLDER") or str(instance / "jobs"),
        "MAX_IMPORT_MB": _number(environ, "MAX_IMPORT_MB", 20, float, minimum=0),
        "JOB_RETENTION_DAYS": _number(environ, "JOB_RETENTION_DAYS", 7, float, minimum=0),
        # The queue's name: its Redis keys, or its rows in the SQLite queue file.
        "JOB_QUEUE": environ.get("JOB_QUEUE") or "storefront-jobs",
        # A worker renews its lease at every chunk; one silent this long is presumed dead.
        "JOB_LEASE_SECONDS": _number(environ, "JOB_LEASE_SECONDS", 30, float, minimum=1),
        # How often each worker looks for jobs whose worker died.
        "JOB_REAP_SECONDS": _number(environ, "JOB_REAP_SECONDS", 10, float, minimum=1),
        # A job whose worker died this many times is failed rather than resumed again.
        "JOB_MAX_ATTEMPTS": _number(environ, "JOB_MAX_ATTEMPTS", 3, minimum=1),
        "JOB_IMPORT_CHUNK": _number(environ, "JOB_IMPORT_CHUNK", 500, minimum=1),
        # Tests only: run each job inside the request that creates it (no worker).
        "JOB_IMMEDIATE": False,
    }


def check_production_safety(config) -> None:
    """Refuse to run production with a default or missing secret, or with debug on."""
    if config["APP_ENV"] != "production":
        return
    problems = []
    if config["SECRET_KEY"] in (None, "", DEV_SECRET_KEY):
        problems.append("SECRET_KEY is missing or the development default")
    if config["JWT_SECRET_KEY"] in (None, "", DEV_JWT_SECRET_KEY):
        problems.append("JWT_SECRET_KEY is missing or the development default")
    elif len(config["JWT_SECRET_KEY"]) < 32:
        problems.append("JWT_SECRET_KEY must be at least 32 characters")
    if config.get("DEBUG") or config.get("DEBUG_REQUESTED"):
        problems.append("debug mode is not allowed in production (unset FLASK_DEBUG)")
    if problems:
        raise ConfigError("refusing to start in production: " + "; ".join(problems))
