"""Refusing to start: one line naming the setting, and a non-zero exit status.

From gunicorn (its master checks the settings before any worker starts) and
from every ``flask --app wsgi`` command. A traceback there would bury the one
line that matters.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from api.config import DEV_JWT_SECRET_KEY, DEV_SECRET_KEY
from tests.e2e.live import free_port

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
REFUSAL = "refusing to start in production: SECRET_KEY is missing or the development default"

pytestmark = pytest.mark.slow


@pytest.fixture
def unsafe_env(tmp_path) -> dict:
    """Production with the development secrets (set, so that no .env file can fill them in)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TEST_", "PYTEST", "FLASK_", "REDIS_", "WEB_CONCURRENCY"))
    }
    env.update(
        APP_ENV="production",
        SECRET_KEY=DEV_SECRET_KEY,
        JWT_SECRET_KEY=DEV_JWT_SECRET_KEY,
        DATABASE_URL=f"sqlite:///{tmp_path / 'refused.db'}",
        UPLOAD_FOLDER=str(tmp_path / "uploads"),
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path),
    )
    return env


def run(args: list[str], env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=90, check=False
    )


def gunicorn(env: dict) -> subprocess.CompletedProcess:
    return run(
        [
            str(BIN / "gunicorn"),
            "--config",
            "gunicorn.conf.py",
            "--bind",
            f"127.0.0.1:{free_port()}",
            "--workers",
            "2",
            "wsgi:app",
        ],
        env,
    )


def test_gunicorn_refuses_unsafe_production_settings_in_one_line(unsafe_env):
    result = gunicorn(unsafe_env)

    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr
    refusals = [line for line in result.stderr.splitlines() if "SECRET_KEY" in line]
    assert len(refusals) == 1, result.stderr
    assert REFUSAL in refusals[0]
    assert "Booting worker" not in result.stderr  # refused before any worker started


MALFORMED = {
    "RATELIMIT_DEFAULT": ("lots", "'lots' is not a rate limit"),
    "CORS_ORIGINS": ("https://shop.example.com/", "is not an origin"),
    "MAX_IMAGE_PIXELS": ("many", "must be a number"),
}


@pytest.mark.parametrize("setting", MALFORMED)
def test_gunicorn_refuses_a_malformed_setting_in_one_line_before_any_worker(unsafe_env, setting):
    value, message = MALFORMED[setting]
    env = {**unsafe_env, "SECRET_KEY": "s" * 40, "JWT_SECRET_KEY": "j" * 40, setting: value}

    result = gunicorn(env)

    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr
    refusals = [line for line in result.stderr.splitlines() if setting in line]
    assert len(refusals) == 1, result.stderr
    assert message in refusals[0]
    assert "Booting worker" not in result.stderr


# Every command of ``flask --app wsgi``, with what it needs to get as far as loading the app.
COMMANDS = {
    "db": ["db", "upgrade"],
    "seed": ["seed"],
    "create-admin": ["create-admin", "--email", "admin@example.com"],
    "sweep-images": ["sweep-images"],
    "worker": ["worker"],
    "routes": ["routes"],
    "shell": ["shell"],
    "run": ["run", "--port", "1"],
    "--help": ["--help"],
}


def test_the_list_names_every_command_of_the_app(build_app):
    app = build_app()

    assert set(app.cli.commands) <= set(COMMANDS)


@pytest.mark.parametrize("args", COMMANDS.values(), ids=COMMANDS.keys())
def test_every_flask_command_refuses_unsafe_production_settings_in_one_line(unsafe_env, args):
    result = run([str(BIN / "flask"), "--app", "wsgi", *args], unsafe_env)

    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: {REFUSAL}")
