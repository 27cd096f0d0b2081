"""Deployment files, checked without running them: gunicorn.conf.py, Dockerfile, compose.

Docker does not run where the suite runs, so the Dockerfile and the compose file
are read and checked for the choices that matter; gunicorn's settings file is
executed as gunicorn executes it. Also the database pool settings.
"""

import ast
import inspect
import json
import os
import re
import runpy
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from gunicorn.config import Config

from api.config import ConfigError, settings_from_env
from models import db

ROOT = Path(__file__).resolve().parents[2]
GUNICORN_CONF = ROOT / "gunicorn.conf.py"
GUNICORN = Path(sys.executable).parent / "gunicorn"
UNREACHABLE_POSTGRES = "postgresql://nobody@127.0.0.1:1/none"


# --- the connection pool ------------------------------------------------------------------


def test_postgresql_gets_pool_settings_from_the_environment():
    config = settings_from_env(
        {
            "DATABASE_URL": UNREACHABLE_POSTGRES,
            "DB_POOL_SIZE": "12",
            "DB_MAX_OVERFLOW": "3",
            "DB_POOL_RECYCLE": "600",
        }
    )

    assert config["SQLALCHEMY_ENGINE_OPTIONS"] == {
        "hide_parameters": True,
        "pool_size": 12,
        "max_overflow": 3,
        "pool_recycle": 600,
        "pool_pre_ping": True,
    }


def test_postgresql_pool_defaults():
    options = settings_from_env({"DATABASE_URL": UNREACHABLE_POSTGRES})["SQLALCHEMY_ENGINE_OPTIONS"]

    assert options == {
        "hide_parameters": True,
        "pool_size": 5,
        "max_overflow": 10,
        "pool_recycle": 1800,
        "pool_pre_ping": True,
    }


def test_sqlite_keeps_sqlalchemys_own_pool_and_hides_parameters_too():
    config = settings_from_env({"DATABASE_URL": "sqlite:////tmp/x.db", "DB_POOL_SIZE": "12"})

    assert config["SQLALCHEMY_ENGINE_OPTIONS"] == {"hide_parameters": True}


def test_a_malformed_pool_size_is_refused_by_name():
    with pytest.raises(ConfigError, match="DB_POOL_SIZE"):
        settings_from_env({"DATABASE_URL": UNREACHABLE_POSTGRES, "DB_POOL_SIZE": "lots"})


def test_the_engine_is_built_with_the_pool_settings(build_app):
    environ = {"DATABASE_URL": UNREACHABLE_POSTGRES, "DB_POOL_SIZE": "7", "DB_POOL_RECYCLE": "90"}
    settings = settings_from_env(environ)
    app = build_app(
        SQLALCHEMY_DATABASE_URI=settings["SQLALCHEMY_DATABASE_URI"],
        SQLALCHEMY_ENGINE_OPTIONS=settings["SQLALCHEMY_ENGINE_OPTIONS"],
    )

    with app.app_context():
        pool = db.engine.pool  # built lazily; nothing connects yet
        assert (pool.size(), pool._max_overflow, pool._recycle, pool._pre_ping) == (7, 10, 90, True)


# --- gunicorn.conf.py ---------------------------------------------------------------------


@pytest.fixture
def load_conf(monkeypatch, tmp_path):
    """Execute gunicorn.conf.py with an environment, as gunicorn does; return its settings."""

    def load(**environ) -> dict:
        for name in (
            *("HOST", "PORT", "WEB_CONCURRENCY", "LOG_LEVEL", "ACCESS_LOG", "APP_ENV"),
            *("GUNICORN_WORKER_CLASS", "GUNICORN_THREADS", "DATABASE_URL"),
        ):
            monkeypatch.delenv(name, raising=False)
        # Never let the file create (or point this process at) a shared directory.
        monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
        for name, value in environ.items():
            monkeypatch.setenv(name, value)
        return runpy.run_path(str(GUNICORN_CONF))

    return load


def test_gunicorn_defaults(load_conf):
    conf = load_conf()

    assert conf["bind"] == "127.0.0.1:8000"
    assert conf["workers"] == 2 * len(os.sched_getaffinity(0)) + 1
    assert conf["timeout"] == 30
    assert conf["graceful_timeout"] == 30
    assert conf["accesslog"] == "-"
    assert conf["loglevel"] == "info"
    assert (conf["worker_class"], conf["threads"]) == ("sync", 1)  # SQLite: make bench


def test_on_postgresql_the_default_is_gthread_with_8_threads(load_conf):
    conf = load_conf(DATABASE_URL="postgresql://app@db:5432/storefront")  # make bench-workers

    assert (conf["worker_class"], conf["threads"]) == ("gthread", 8)


def test_gunicorn_reads_the_worker_class_and_threads(load_conf):
    conf = load_conf(GUNICORN_WORKER_CLASS="gthread", GUNICORN_THREADS="4")
    assert (conf["worker_class"], conf["threads"]) == ("gthread", 4)


@pytest.mark.parametrize("worker_class", ["sync", "gevent"])
def test_other_classes_get_one_thread_so_gunicorn_runs_the_class_asked_for(load_conf, worker_class):
    # With threads > 1, gunicorn would run gthread instead of sync.
    conf = load_conf(GUNICORN_WORKER_CLASS=worker_class, GUNICORN_THREADS="8")
    settings = Config()
    for name in ("worker_class", "threads"):
        settings.set(name, conf[name])

    assert conf["threads"] == 1
    assert settings.worker_class_str == worker_class


def test_gunicorn_reads_host_port_workers_and_log_settings(load_conf):
    conf = load_conf(
        HOST="0.0.0.0",  # noqa: S104 (the container's bind address)
        PORT="9000",
        WEB_CONCURRENCY="3",
        LOG_LEVEL="WARNING",
        ACCESS_LOG="false",
    )

    assert conf["bind"] == "0.0.0.0:9000"
    assert conf["workers"] == 3
    assert conf["loglevel"] == "warning"
    assert conf["accesslog"] is None


def test_gunicorn_binds_ipv6_hosts_in_brackets(load_conf):
    assert load_conf(HOST="::", PORT="8080")["bind"] == "[::]:8080"


def test_every_setting_is_one_gunicorn_knows(load_conf):
    conf = load_conf()
    known = Config().settings

    settings = {
        name
        for name, value in conf.items()
        if name.islower() and not name.startswith("_")
        # What the file imports is no setting; what it defines (hooks, the logger) is.
        if not inspect.ismodule(value)
        and getattr(value, "__module__", conf["__name__"]) == conf["__name__"]
    }

    assert {"on_starting", "child_exit", "on_exit", "bind", "workers", "logger_class"} <= settings
    assert settings <= set(known), settings - set(known)


def test_the_settings_the_master_checks_import_nothing_of_the_app():
    # gunicorn.conf.py loads api/config.py on its own in the master; were it to
    # import the app, a HUP reload would keep serving the old code.
    tree = ast.parse((ROOT / "api" / "config.py").read_text())
    imported = {
        name
        for node in ast.walk(tree)
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for name in (
            [alias.name for alias in node.names] if isinstance(node, ast.Import) else [node.module]
        )
    }

    assert not {name.split(".")[0] for name in imported} & {"api", "models", "namespaces"}


def test_the_master_refuses_unsafe_settings_before_any_worker(load_conf, capsys):
    logger = _gunicorn_logger(load_conf, capsys)
    conf = load_conf(APP_ENV="production", SECRET_KEY="", JWT_SECRET_KEY="j" * 40)

    with pytest.raises(SystemExit) as stopped:
        conf["on_starting"](SimpleNamespace(log=logger))

    assert stopped.value.code == conf["CONFIG_ERROR_STATUS"] != 0
    (line,) = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert line["level"] == "ERROR"
    assert "SECRET_KEY is missing" in line["message"]


def test_metrics_start_from_zero_and_a_dead_workers_live_gauges_go(load_conf, tmp_path):
    conf = load_conf()
    (tmp_path / "counter_111.db").write_bytes(b"stale")
    (tmp_path / "gauge_livesum_222.db").write_bytes(b"live")
    (tmp_path / "notes.txt").write_text("not ours")

    conf["child_exit"](None, SimpleNamespace(pid=222))
    assert not (tmp_path / "gauge_livesum_222.db").exists()
    assert (tmp_path / "counter_111.db").exists()  # a dead worker's counts still count

    conf["on_starting"](None)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_without_a_directory_gunicorn_makes_and_removes_its_own(monkeypatch):
    # The file sets the variable for the workers; monkeypatch unsets it afterwards.
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "")
    runpy.run_path(str(GUNICORN_CONF))
    directory = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    assert directory.is_dir()

    reloaded = runpy.run_path(str(GUNICORN_CONF))  # what a HUP reload does
    reloaded["on_exit"](None)

    assert os.environ["PROMETHEUS_MULTIPROC_DIR"] == str(directory)
    assert not directory.exists()


def test_a_directory_given_by_the_environment_is_kept(load_conf, tmp_path):
    load_conf()["on_exit"](None)

    assert tmp_path.is_dir()


def _gunicorn_logger(load_conf, capsys):
    conf = load_conf()
    config = Config()
    config.set("accesslog", "-")
    config.set("errorlog", "-")
    logger = conf["JsonLogger"](config)
    capsys.readouterr()
    return logger


def test_gunicorn_writes_its_access_log_as_json_with_the_request_id(load_conf, capsys):
    logger = _gunicorn_logger(load_conf, capsys)
    response = SimpleNamespace(
        status="201 CREATED", headers=[("X-Request-ID", "abc-1"), ("Location", "/x")], sent=42
    )
    environ = {
        "REMOTE_ADDR": "10.0.0.1",
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/api/v1/products",
        "QUERY_STRING": "",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_USER_AGENT": 'agent "quoted" \\ and a backslash',
    }

    logger.access(response, None, environ, timedelta(milliseconds=12.5))

    line = json.loads(capsys.readouterr().out)
    assert line["logger"] == "gunicorn.access"
    assert line["status"] == 201
    assert line["request_id"] == "abc-1"
    assert line["method"] == "POST"
    assert line["path"] == "/api/v1/products"
    assert line["bytes"] == 42
    assert line["duration_ms"] == 12.5
    assert line["user_agent"] == 'agent "quoted" \\ and a backslash'


def test_gunicorn_writes_its_own_messages_as_json(load_conf, capsys):
    logger = _gunicorn_logger(load_conf, capsys)

    logger.info("Booting worker with pid: %s", 123)

    line = json.loads(capsys.readouterr().err)
    assert line["message"] == "Booting worker with pid: 123"
    assert line["level"] == "INFO"
    assert line["logger"] == "gunicorn.error"


# --- Dockerfile ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dockerfile() -> list[tuple[str, str]]:
    """(instruction, arguments) pairs, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n\s*", " ", (ROOT / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [tuple(line.split(None, 1)) for line in lines if line and not line.startswith("#")]


def _instructions(dockerfile, name: str) -> list[str]:
    return [arguments for instruction, arguments in dockerfile if instruction == name]


def test_the_image_is_python_311_slim(dockerfile):
    assert dockerfile[0] == ("FROM", "python:3.11-slim")


def test_the_image_runs_as_a_user_who_is_not_root(dockerfile):
    names = [instruction for instruction, _ in dockerfile]
    last_user = max(i for i, name in enumerate(names) if name == "USER")

    assert dockerfile[last_user][1] not in ("root", "0")
    assert last_user < names.index("CMD")


def test_the_image_serves_with_gunicorn_and_its_config(dockerfile):
    (command,) = _instructions(dockerfile, "CMD")
    assert json.loads(command) == ["gunicorn", "--config", "gunicorn.conf.py", "wsgi:app"]
    env = " ".join(_instructions(dockerfile, "ENV"))
    assert "APP_ENV=production" in env
    assert "HOST=0.0.0.0" in env


def test_the_image_checks_its_health_on_the_liveness_probe(dockerfile):
    (check,) = _instructions(dockerfile, "HEALTHCHECK")
    assert "/health" in check
    exec_form = json.loads(check.split("CMD", 1)[1])
    assert exec_form[:2] == ["python", "-c"]
    compile(exec_form[2], "healthcheck", "exec")  # the probe is valid Python


def test_the_image_copies_everything_the_app_imports(dockerfile):
    copied = " ".join(_instructions(dockerfile, "COPY"))
    for needed in ("requirements.txt", "wsgi.py", "gunicorn.conf.py", "api/", "models/"):
        assert needed in copied
    for needed in ("namespaces/", "migrations/", "openapi/"):
        assert needed in copied


# --- docker-compose.yml -------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


class RecordingEnviron(dict):
    """An environment that remembers every variable read from it."""

    def __init__(self):
        super().__init__()
        self.read = set()

    def get(self, key, default=None):
        """Record ``key``, then answer as a dict does."""
        self.read.add(key)
        return super().get(key, default)


def variables_the_app_reads() -> set[str]:
    """What settings_from_env asks the environment for (for PostgreSQL), plus gunicorn.conf.py's."""
    environ = RecordingEnviron()
    environ["DATABASE_URL"] = UNREACHABLE_POSTGRES
    settings_from_env(environ)
    gunicorn = set(re.findall(r'os\.environ(?:\.get\(|\[)"([A-Z_]+)"', GUNICORN_CONF.read_text()))
    return environ.read | gunicorn


def test_compose_runs_the_api_with_postgres_and_redis(compose):
    services = compose["services"]

    assert {"api", "migrate", "postgres", "redis"} <= set(services)
    api_env = services["api"]["environment"]
    assert "@postgres:5432/" in api_env["DATABASE_URL"]
    assert api_env["REDIS_URL"].startswith("redis://redis:6379")
    assert api_env["APP_ENV"] == "production"
    for service in ("postgres", "redis"):
        assert services[service]["healthcheck"]["test"]


def test_compose_migrates_before_the_api_starts(compose):
    services = compose["services"]

    assert services["migrate"]["command"] == ["flask", "--app", "wsgi", "db", "upgrade"]
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    depends = services["api"]["depends_on"]
    assert depends["migrate"]["condition"] == "service_completed_successfully"
    assert depends["redis"]["condition"] == "service_healthy"
    assert services["migrate"]["environment"] == services["api"]["environment"]


def test_compose_requires_the_secrets_instead_of_defaulting_them(compose):
    api_env = compose["services"]["api"]["environment"]

    for secret in ("SECRET_KEY", "JWT_SECRET_KEY"):
        assert re.fullmatch(r"\$\{" + secret + r":\?[^}]+\}", api_env[secret])


def test_compose_sets_only_variables_the_app_reads(compose):
    api_env = set(compose["services"]["api"]["environment"])
    read = variables_the_app_reads()

    assert api_env <= read, api_env - read
    assert {"APP_ENV", "SECRET_KEY", "JWT_SECRET_KEY", "DATABASE_URL", "REDIS_URL"} <= api_env


# Compose's variable substitution: $$, $VAR, ${VAR}, ${VAR:-default}, ${VAR-default},
# ${VAR:?error}, ${VAR?error}.
SUBSTITUTION = re.compile(
    r"\$\$|\$\{(?P<braced>\w+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}|\$(?P<bare>\w+)"
)


def interpolate(value: str, shell: dict) -> str:
    """``value`` as compose substitutes it from the variables in ``shell``."""

    def substitute(match):
        if match.group() == "$$":
            return "$"
        name = match["braced"] or match["bare"]
        op, arg = match["op"], match["arg"]
        given = shell.get(name)
        missing = given is None or (given == "" and op and op.startswith(":"))
        if op and op.endswith("-"):
            return arg if missing else given
        if op and op.endswith("?"):
            assert not missing, f"compose refuses to start: {arg}"
            return given
        return given or ""

    return SUBSTITUTION.sub(substitute, value)


def test_interpolate_substitutes_as_compose_does():
    shell = {"SET": "value", "EMPTY": ""}

    assert interpolate("${SET:-x} ${EMPTY:-x} ${EMPTY-x} ${UNSET-x} $SET $$SET", shell) == (
        "value x  x value $SET"
    )
    with pytest.raises(AssertionError, match="say why"):
        interpolate("${UNSET:?say why}", shell)


def test_gunicorn_starts_with_the_compose_environment_when_the_shell_sets_only_the_secrets(
    compose, dockerfile, tmp_path
):
    # gunicorn parses some variables (WEB_CONCURRENCY) itself, before it reads
    # gunicorn.conf.py: an empty one stops it with a traceback.
    shell = {"SECRET_KEY": "s" * 40, "JWT_SECRET_KEY": "j" * 40}
    image_env = dict(
        pair.split("=", 1) for pair in " ".join(_instructions(dockerfile, "ENV")).split()
    )
    service_env = {
        name: interpolate(str(value), shell)
        for name, value in compose["services"]["api"]["environment"].items()
    }
    env = {
        "PATH": os.environ["PATH"],
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
        **image_env,
        **service_env,
    }

    result = subprocess.run(
        [str(GUNICORN), "--check-config", "--config", "gunicorn.conf.py", "wsgi:app"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr


NGINX_CONF = ROOT / "deploy" / "nginx.conf"


def test_compose_publishes_only_nginx_in_front_of_the_api(compose):
    services = compose["services"]
    proxy, api = services["proxy"], services["api"]

    assert proxy["image"].startswith("nginx:")
    assert proxy["ports"] == ["${PORT:-8000}:80"]
    assert proxy["volumes"] == ["./deploy/nginx.conf:/etc/nginx/conf.d/default.conf:ro"]
    assert proxy["depends_on"]["api"]["condition"] == "service_healthy"
    assert not any("ports" in service for name, service in services.items() if name != "proxy")
    assert api["expose"] == ["8000"]
    # The app sees each client's address (rate limits) only when it trusts nginx's.
    assert api["environment"]["BEHIND_PROXY"] == "true"


def test_nginx_passes_requests_to_the_api_service_and_its_port(compose, dockerfile):
    conf = NGINX_CONF.read_text()
    image_env = " ".join(_instructions(dockerfile, "ENV"))

    assert "set $app http://api:8000;" in conf
    assert "PORT=8000" in image_env
    assert re.search(r"^\s*listen 80;$", conf, re.MULTILINE)


@pytest.mark.parametrize(
    ("directive", "most"),
    [("client_header_timeout", 30), ("client_body_timeout", 30), ("send_timeout", 30)],
)
def test_nginx_cuts_off_slow_clients(directive, most):
    (value,) = re.findall(rf"^\s*{directive} (\d+)s;$", NGINX_CONF.read_text(), re.MULTILINE)

    assert 0 < int(value) <= most


def test_nginx_sets_every_forwarded_header_the_app_trusts():
    # ProxyFix (x_for, x_proto, x_host, x_prefix): whatever nginx does not set
    # itself, a client could.
    conf = NGINX_CONF.read_text()

    for header, value in {
        "X-Forwarded-For": "$proxy_add_x_forwarded_for",
        "X-Forwarded-Proto": "$scheme",
        "X-Forwarded-Host": "$http_host",
        "X-Forwarded-Prefix": '""',
    }.items():
        assert f"proxy_set_header {header} {value};" in conf


def test_nginx_accepts_the_largest_body_the_app_does():
    (megabytes,) = re.findall(r"client_max_body_size (\d+)m;", NGINX_CONF.read_text())
    settings = settings_from_env({})
    largest = max(settings["MAX_CONTENT_LENGTH"], settings["MAX_UPLOAD_MB"] * 1024 * 1024)

    # The multipart framing around an image (namespaces/product_images.py) fits.
    assert int(megabytes) * 1024 * 1024 >= largest + 64 * 1024


def test_compose_waits_for_gunicorns_graceful_shutdown(compose, load_conf):
    grace = compose["services"]["api"]["stop_grace_period"]

    assert int(grace.removesuffix("s")) > load_conf()["graceful_timeout"]
