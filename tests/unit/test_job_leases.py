"""Leases, fencing, resuming and the reaper: a job is never run twice at once, never lost.

These drive the domain functions and the runner in-process; tests/e2e/test_worker.py
does the same with real worker processes, killed mid-import.
"""

import io
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from api.jobs import imports
from api.jobs.queue import remove_expired_jobs
from api.jobs.runner import run_job
from models import Job, JobStatus, Product, db
from models.base import utcnow
from models.catalog_import import ImportLine, ImportProgress, commit_chunk, start_import
from models.job import (
    LeaseLostError,
    cancel_job,
    claim_job,
    read_job,
    reap_jobs,
    release_job,
)

HEADER = "sku,name,description,price_cents,stock\n"
LEASE = {"lease_seconds": 30, "max_attempts": 3}


@pytest.fixture
def worker_app(build_app, tmp_path):
    """An app as a worker runs it: a real (SQLite) queue that nothing consumes, small chunks."""
    return build_app(JOB_IMMEDIATE=False, JOB_FOLDER=str(tmp_path), JOB_IMPORT_CHUNK=3)


def start(app, admin, lines: list[str]) -> int:
    """Record an import job of ``lines`` (not run); its id."""
    text = HEADER + "".join(f"{line}\n" for line in lines)
    with app.app_context():
        job, _ = start_import(
            stream=io.BytesIO(text.encode()),
            folder=Path(app.config["JOB_FOLDER"]),
            max_bytes=10**6,
            user_id=admin["id"],
            dry_run=False,
        )
    return job.id


def skus(app) -> set[str]:
    with app.app_context():
        return set(db.session.scalars(select(Product.sku)))


def lapse(app, job_id: int) -> None:
    """Make the job's lease lapse, as if its worker had died a while ago."""
    with app.app_context():
        db.session.execute(
            update(Job).where(Job.id == job_id).values(lease_expires_at=utcnow() - timedelta(1))
        )
        db.session.commit()


LINES = [f"SKU-{n},Product {n},,{n},1" for n in range(8)]


def test_only_one_claim_wins_and_a_live_lease_cannot_be_taken(worker_app, admin):
    job_id = start(worker_app, admin, LINES)
    with worker_app.app_context():
        first = claim_job(job_id, **LEASE)
        assert first is not None
        assert claim_job(job_id, **LEASE) is None
        assert read_job(job_id).status == "running"


def test_a_worker_whose_lease_was_taken_over_commits_nothing(worker_app, admin):
    job_id = start(worker_app, admin, LINES)
    with worker_app.app_context():
        stale = claim_job(job_id, **LEASE)
    lapse(worker_app, job_id)
    with worker_app.app_context():
        fresh = claim_job(job_id, **LEASE)
        assert fresh is not None
        assert fresh.lease.token != stale.lease.token
        line = ImportLine(2, {"sku": "LATE-1", "name": "Late", "price_cents": 1})
        with pytest.raises(LeaseLostError):
            commit_chunk(lease=stale.lease, lines=[line], progress=ImportProgress(dry_run=False))
    assert skus(worker_app) == set()


def test_a_stopping_worker_hands_the_job_back_and_the_next_one_resumes_it(worker_app, admin):
    job_id = start(worker_app, admin, LINES)
    queue = worker_app.extensions["storefront.jobs"]
    queue.stopping.set()
    with worker_app.app_context():
        run_job(job_id)  # stops after its first chunk of 3 lines
        job = read_job(job_id)
    assert (job.status, job.progress["done"]) == ("queued", 3)
    assert job.result == {"created": 3, "updated": 0, "failed": 0, "dry_run": False}
    assert skus(worker_app) == {"SKU-0", "SKU-1", "SKU-2"}
    assert queue.pending() == 1  # handed back to the queue

    queue.stopping.clear()
    with worker_app.app_context():
        run_job(job_id)
        job = read_job(job_id)
    assert job.status == "succeeded"
    assert job.result == {"created": 8, "updated": 0, "failed": 0, "dry_run": False}
    assert job.progress == {"done": 8, "total": 8}
    assert skus(worker_app) == {f"SKU-{n}" for n in range(8)}


def test_a_resumed_import_still_reports_skus_repeated_from_before_it_stopped(worker_app, admin):
    lines = ["DUP-1,First,,1,1", "B-1,B,,1,1", "C-1,C,,1,1", "DUP-1,Again,,2,2"]
    job_id = start(worker_app, admin, lines)
    queue = worker_app.extensions["storefront.jobs"]
    queue.stopping.set()
    with worker_app.app_context():
        run_job(job_id)
    queue.stopping.clear()
    with worker_app.app_context():
        run_job(job_id)
        job = read_job(job_id)
    assert [(e["line"], e["field"]) for e in job.errors] == [(5, "sku")]
    assert "repeats line 2" in job.errors[0]["message"]


def test_cancelling_mid_import_keeps_the_committed_chunks_and_rolls_back_the_current_one(
    worker_app, admin, monkeypatch
):
    job_id = start(worker_app, admin, LINES)
    chunks = []

    def commit_then_cancel(**kwargs):
        if chunks:  # a client cancels while the second chunk is being applied
            cancel_job(job_id)
        commit_chunk(**kwargs)
        chunks.append(kwargs["lines"])

    monkeypatch.setattr(imports, "commit_chunk", commit_then_cancel)
    with worker_app.app_context():
        run_job(job_id)
        job = read_job(job_id)

    assert job.status == "cancelled"
    assert job.result == {"created": 3, "updated": 0, "failed": 0, "dry_run": False}
    assert skus(worker_app) == {"SKU-0", "SKU-1", "SKU-2"}


def test_the_reaper_requeues_a_dead_workers_job_then_fails_it_after_max_attempts(worker_app, admin):
    job_id = start(worker_app, admin, LINES)
    for attempt in (1, 2, 3):
        with worker_app.app_context():
            assert claim_job(job_id, **LEASE).attempts == attempt
        lapse(worker_app, job_id)
        with worker_app.app_context():
            reaped = reap_jobs(max_attempts=3, stale_queued=None)
            job = read_job(job_id)
        if attempt < 3:
            assert (reaped.requeue, reaped.failed, job.status) == ([job_id], [], "queued")
        else:
            assert (reaped.requeue, reaped.failed, job.status) == ([], [job_id], "failed")
            assert "stopped 3 times" in job.detail
            assert job.finished_at is not None


def test_the_reaper_leaves_live_leases_alone_and_resends_only_stale_queued_jobs(worker_app, admin):
    running = start(worker_app, admin, LINES)
    queued = start(worker_app, admin, LINES)
    with worker_app.app_context():
        claim_job(running, **LEASE)
        assert reap_jobs(max_attempts=3, stale_queued=timedelta(hours=1)).requeue == []
        assert reap_jobs(max_attempts=3, stale_queued=timedelta(0)).requeue == [queued]
        assert read_job(running).status == "running"


def test_release_only_works_for_the_lease_holder(worker_app, admin):
    job_id = start(worker_app, admin, LINES)
    with worker_app.app_context():
        claimed = claim_job(job_id, **LEASE)
        cancel_job(job_id)
        assert release_job(claimed.lease) is False
        assert read_job(job_id).status == "cancelled"


def test_a_job_that_fails_unexpectedly_says_so_without_internals(worker_app, admin, monkeypatch):
    def broken(**_kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(imports, "commit_chunk", broken)
    job_id = start(worker_app, admin, LINES)
    with worker_app.app_context():
        run_job(job_id)
        job = read_job(job_id)
    assert job.status == "failed"
    assert "unexpected error" in job.detail
    assert "secret" not in job.detail


def test_retention_removes_old_finished_jobs_with_their_files(worker_app, admin):
    folder = Path(worker_app.config["JOB_FOLDER"])
    old, recent, running = (start(worker_app, admin, LINES) for _ in range(3))
    with worker_app.app_context():
        for job_id in (old, recent):
            cancel_job(job_id)
        db.session.execute(
            update(Job).where(Job.id == old).values(finished_at=utcnow() - timedelta(days=8))
        )
        db.session.commit()
        old_file = folder / db.session.get(Job, old).input_file
        assert old_file.exists()
        assert remove_expired_jobs() == 1
        remaining = set(db.session.scalars(select(Job.id)))
    assert remaining == {recent, running}
    assert not old_file.exists()


def test_a_final_job_is_never_claimed(worker_app, admin):
    job_id = start(worker_app, admin, LINES)
    with worker_app.app_context():
        cancel_job(job_id)
        assert claim_job(job_id, **LEASE) is None
        run_job(job_id)
        assert read_job(job_id).status == JobStatus.CANCELLED


def test_an_import_whose_file_the_worker_cannot_see_fails_saying_why(worker_app, admin):
    job_id = start(worker_app, admin, LINES)
    with worker_app.app_context():
        (Path(worker_app.config["JOB_FOLDER"]) / db.session.get(Job, job_id).input_file).unlink()
        run_job(job_id)
        job = read_job(job_id)
    assert job.status == "failed"
    assert "JOB_FOLDER" in job.detail
