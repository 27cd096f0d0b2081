"""Real ``flask worker`` processes: stopped gracefully, killed mid-import, run side by side.

The import is posted through the API (an app in this process, on the same
database, queue and job folder as the workers); then one worker is stopped with
SIGINT (it must hand the job back), the next is killed with SIGKILL in the middle
of a chunk (its lease must lapse and the job be resumed, not restarted), and two
more finish it side by side (only one may run it). At the end, what the job
reports must be exactly what the catalog holds. The suite's database decides the
setting: SQLite with the SQLite queue, or PostgreSQL with Redis.
"""

import io
import json
import os
import signal
import subprocess
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest
from flask_jwt_extended import create_access_token
from sqlalchemy import select
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from api import create_app
from models import Product, db
from models.job import read_job
from models.product import create_product
from models.user import Role, create_user
from tests.contract import ContractClient
from tests.databases import fresh_database
from tests.e2e.live import BIN, ROOT, server_env

pytestmark = pytest.mark.slow

LINES = 30_000
EXISTING = 150  # SKUs the catalog has before the import: those lines update
HEADER = "sku,name,description,price_cents,stock"


def catalog() -> tuple[str, dict[str, tuple], list[tuple[int, str]]]:
    """The file, the products it must leave (by SKU), and its bad (line, field)s.

    Every 97th line has a negative price; every 101st repeats the SKU of the
    line before it (which only counts when that line had one).
    """
    lines, expected, bad = [HEADER], {}, []
    for n in range(LINES):
        if n % 97 == 5:
            lines.append(f"BAD-{n},Bad {n},,-{n},1")
            bad.append((n + 2, "price_cents"))
            continue
        sku = f"SKU-{n - 1}" if n % 101 == 7 else f"SKU-{n}"
        lines.append(f"{sku},Product {n},line {n},{n},{n % 10}")
        if sku in expected:
            bad.append((n + 2, "sku"))
        else:
            expected[sku] = (f"Product {n}", f"line {n}", n, n % 10)
    return "\n".join(lines) + "\n", expected, bad


@pytest.fixture
def setting(tmp_path):
    """(environment of the workers, config of this process's app) on one fresh database."""
    queue = f"test-{uuid.uuid4().hex[:12]}"
    folder = tmp_path / "jobs"
    with fresh_database(tmp_path) as url:
        extra = {
            "JOB_FOLDER": str(folder),
            "JOB_QUEUE": queue,
            "JOB_LEASE_SECONDS": "2",
            "JOB_REAP_SECONDS": "1",
            "JOB_IMPORT_CHUNK": "200",
            "LOG_LEVEL": "INFO",
        }
        if os.environ.get("TEST_DATABASE_URL"):
            extra["REDIS_URL"] = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
        env = server_env(url, **extra)
        subprocess.run(
            [str(BIN / "flask"), "--app", "wsgi", "db", "upgrade"],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
        )
        config = {
            "APP_ENV": "testing",
            "SQLALCHEMY_DATABASE_URI": url,
            "RATELIMIT_ENABLED": False,
            "REDIS_URL": extra.get("REDIS_URL"),
            "JOB_FOLDER": str(folder),
            "JOB_QUEUE": queue,
            "JOB_LEASE_SECONDS": 2,
        }
        yield env, config
        app = create_app(config)
        app.extensions["storefront.jobs"].huey.storage.flush_all()  # only this queue's keys
        with app.app_context():
            db.engine.dispose()


@contextmanager
def workers(env, log: Path, count: int = 1):
    """``count`` ``flask worker`` processes, writing to ``log``; killed if still running."""
    with log.open("ab") as out:
        processes = [
            subprocess.Popen(
                [str(BIN / "flask"), "--app", "wsgi", "worker", "--threads", "1"],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
            for _ in range(count)
        ]
        try:
            yield processes
        finally:
            for process in processes:
                if process.poll() is None:
                    process.kill()
                process.wait(timeout=30)


def wait_for(app, job_id, condition, *, timeout: float = 90):
    """Poll the job (as committed) until ``condition(job)``; the job."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with app.app_context():
            job = read_job(job_id)
            db.session.remove()
        if condition(job):
            return job
        time.sleep(0.02)
    raise AssertionError(f"job {job_id} never got there: {job}")


def test_stopped_killed_and_parallel_workers_leave_the_job_equal_to_the_catalog(setting, tmp_path):
    env, config = setting
    app = create_app(config)
    app.test_client_class = ContractClient
    with app.app_context():
        admin = create_user(email="admin@example.com", password="x" * 12, name="A", role=Role.ADMIN)
        for n in range(EXISTING):
            create_product(sku=f"SKU-{n}", name="Before", price_cents=1, stock=1)
        token = create_access_token(identity=admin)
    text, expected, bad = catalog()
    headers = {"Authorization": f"Bearer {token}"}
    client = app.test_client()
    # Encoded here: the test client would spool this large a body to a file it never closes.
    upload = FileStorage(io.BytesIO(text.encode()), filename="catalog.csv", content_type="text/csv")
    boundary, body = encode_multipart({"file": upload})
    response = client.post(
        "/api/v1/products/imports",
        headers=headers,
        data=body,
        content_type=f"multipart/form-data; boundary={boundary}",
    )
    assert response.status_code == 202
    job_id = response.get_json()["id"]
    log = tmp_path / "workers.log"

    # 1. Ctrl-C: the worker finishes its chunk and hands the job back.
    with workers(env, log) as (first,):
        wait_for(app, job_id, lambda job: job.progress["done"] >= 1000)
        first.send_signal(signal.SIGINT)
        assert first.wait(timeout=20) == 0
    handed_back = wait_for(app, job_id, lambda job: True)
    assert handed_back.status == "queued"

    # 2. SIGKILL in the middle: the job stays running until its lease lapses.
    with workers(env, log) as (second,):
        moved = handed_back.progress["done"] + 2000
        wait_for(app, job_id, lambda job: job.progress["done"] >= moved)
        second.kill()
        second.wait(timeout=10)
    killed = wait_for(app, job_id, lambda job: True)
    assert killed.status == "running"
    assert killed.progress["done"] < LINES

    # 3. Two workers finish it: one resumes it after the last committed chunk.
    with workers(env, log, count=2) as pair:
        done = wait_for(app, job_id, lambda job: job.is_final)
        # Stopped as an operator would, not killed: the worker logs "job finished"
        # just after the commit that made the job final, and a kill at that
        # moment would lose the line the log check below looks for.
        for process in pair:
            process.send_signal(signal.SIGINT)
        assert [process.wait(timeout=20) for process in pair] == [0, 0]

    assert done.status == "succeeded", done.detail
    before = {f"SKU-{n}" for n in range(EXISTING)}
    created, updated = len(expected.keys() - before), len(expected.keys() & before)
    assert done.result == {
        "created": created,
        "updated": updated,
        "failed": len(bad),
        "dry_run": False,
    }
    assert done.progress == {"done": LINES, "total": LINES}
    assert done.error_count == len(bad)
    assert [(error["line"], error["field"]) for error in done.errors] == bad[:1000]
    with app.app_context():
        rows = db.session.execute(
            select(
                Product.sku, Product.name, Product.description, Product.price_cents, Product.stock
            )
        ).all()
    untouched = dict.fromkeys(before - expected.keys(), ("Before", "", 1, 1))
    assert {row.sku: tuple(row)[1:] for row in rows} == {**untouched, **expected}
    assert client.get(f"/api/v1/jobs/{job_id}", headers=headers).get_json()["result"] == done.result
    with app.app_context():
        db.engine.dispose()  # after the last request: no connection is left to the GC
    _assert_logs(log, job_id)


def _assert_logs(log: Path, job_id: int) -> None:
    """Every job line names the job, and the reaper said it put the job back."""
    entries = [json.loads(text) for text in log.read_text().splitlines() if text.startswith("{")]
    jobs = [entry for entry in entries if entry["logger"] == "api.jobs" and "job_id" in entry]
    assert {entry["job_id"] for entry in jobs} == {job_id}
    messages = [entry["message"] for entry in jobs]
    assert "job handed back to the queue: the worker is stopping" in messages
    assert "job back on the queue: its worker stopped" in messages
    assert messages.count("job finished") == 1
