"""How jobs are set up: their settings, the queue each setting picks, and where workers run."""

import signal
from pathlib import Path

import pytest
import yaml
from huey import MemoryHuey, RedisHuey, SqliteHuey

from api.config import ConfigError, settings_from_env
from api.jobs.worker import JobConsumer
from tests.redis_keys import TEST_REDIS_URL

ROOT = Path(__file__).resolve().parents[2]


def test_job_settings_defaults(tmp_path):
    settings = settings_from_env({}, root=tmp_path)

    assert settings["JOB_FOLDER"] == str(tmp_path / "instance" / "jobs")
    assert settings["MAX_IMPORT_MB"] == 20
    assert settings["JOB_RETENTION_DAYS"] == 7
    assert settings["JOB_IMPORT_CHUNK"] == 500
    assert settings["JOB_IMMEDIATE"] is False


def test_job_settings_from_the_environment(tmp_path):
    settings = settings_from_env(
        {"JOB_FOLDER": "/srv/jobs", "MAX_IMPORT_MB": "50", "JOB_RETENTION_DAYS": "30"},
        root=tmp_path,
    )

    assert (settings["JOB_FOLDER"], settings["MAX_IMPORT_MB"]) == ("/srv/jobs", 50)
    assert settings["JOB_RETENTION_DAYS"] == 30
    with pytest.raises(ConfigError, match="JOB_LEASE_SECONDS"):
        settings_from_env({"JOB_LEASE_SECONDS": "0"}, root=tmp_path)


@pytest.mark.parametrize(
    ("overrides", "kind"),
    [
        ({"JOB_IMMEDIATE": True}, MemoryHuey),
        ({"JOB_IMMEDIATE": False, "REDIS_URL": None}, SqliteHuey),
        ({"JOB_IMMEDIATE": False, "REDIS_URL": "redis://127.0.0.1:1/0"}, RedisHuey),
    ],
    ids=["tests", "zero-setup", "redis"],
)
def test_the_queue_follows_the_settings(build_app, tmp_path, overrides, kind):
    app = build_app(JOB_FOLDER=str(tmp_path), **overrides)

    huey = app.extensions["storefront.jobs"].huey

    assert isinstance(huey, kind)
    if kind is SqliteHuey:
        assert Path(huey.storage.filename) == tmp_path / "queue.db"


def test_the_redis_queue_writes_only_under_the_apps_key_prefix(
    build_app, tmp_path, redis_client, redis_prefix
):
    app = build_app(
        JOB_IMMEDIATE=False,
        JOB_FOLDER=str(tmp_path),
        REDIS_URL=TEST_REDIS_URL,
        REDIS_KEY_PREFIX=redis_prefix,
        JOB_QUEUE="prefixed",
    )
    jobs = app.extensions["storefront.jobs"]

    assert jobs.enqueue(41)
    assert jobs.enqueue(42)

    assert jobs.pending() == 2
    keys = {key.decode() for key in redis_client.scan_iter(match="*prefixed*", count=1000)}
    assert keys == {redis_prefix + "huey.redis.prefixed"}


def test_the_worker_stops_gracefully_on_sigint_and_sigterm(build_app, tmp_path):
    app = build_app(JOB_IMMEDIATE=False, JOB_FOLDER=str(tmp_path))

    consumer = JobConsumer(app.extensions["storefront.jobs"].huey, app=app, workers=1)

    # (restart, graceful): neither restarts, both let the current chunk finish.
    assert consumer._signal_actions[signal.SIGINT] == (False, True)
    assert consumer._signal_actions[signal.SIGTERM] == (False, True)


def test_the_worker_refuses_to_run_where_jobs_run_in_the_request(app):
    result = app.test_cli_runner().invoke(args=["worker"])

    assert result.exit_code != 0
    assert "JOB_IMMEDIATE" in result.output


def test_compose_runs_a_worker_sharing_the_job_files_with_the_api():
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]

    worker = services["worker"]
    assert worker["command"] == ["flask", "--app", "wsgi", "worker"]
    assert worker["environment"] == services["api"]["environment"]
    assert worker["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert "jobs:/app/instance/jobs" in worker["volumes"]
    assert "jobs:/app/instance/jobs" in services["api"]["volumes"]


def test_make_run_starts_a_worker_beside_gunicorn():
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile.split("\nrun:", 1)[1].split("\n\n", 1)[0]

    assert "gunicorn --config gunicorn.conf.py wsgi:app &" in recipe
    assert "$(FLASK) worker &" in recipe
