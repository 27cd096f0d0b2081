"""Running one job: claim it, run what its kind does, finish it, whatever happens.

Every log line written while a job runs carries its id (``job_id``), through
``api.jobs.queue.JobIdFilter`` on the worker's log handler. A job's ``detail`` says why it failed
in words a client can act on; the traceback goes to the log only.
"""

import contextlib
import logging
from pathlib import Path

from flask import current_app

from api.jobs.exports import run_export
from api.jobs.imports import run_import
from api.jobs.queue import current_job_id, job_queue
from models.job import (
    ClaimedJob,
    JobKind,
    JobStatus,
    LeaseLostError,
    claim_job,
    finish_job,
    release_job,
)

logger = logging.getLogger("api.jobs")
RUNNERS = {JobKind.PRODUCT_IMPORT: run_import, JobKind.ORDER_EXPORT: run_export}
UNEXPECTED = (
    "An unexpected error stopped the job; what it committed before stays. "
    "The server log has the details under this job's id"
)


class WorkerStoppingError(Exception):
    """The worker is shutting down: the job is handed back between two chunks."""


class JobContext:
    """What a kind's runner gets besides the job: the app's settings and a stop check."""

    def __init__(self, app):
        self.app = app
        self.config = app.config
        self.folder = Path(app.config["JOB_FOLDER"])
        self._stopping = job_queue().stopping

    def check_stop(self) -> None:
        """Raise ``WorkerStoppingError`` once the worker was asked to stop."""
        if self._stopping.is_set():
            raise WorkerStoppingError


def run_job(job_id: int) -> None:
    """Claim job ``job_id`` and run it to its end, or until its lease is lost.

    Not claimable (final, cancelled, or running under a live lease elsewhere):
    nothing to do, as a duplicate message is normal. A lost lease stops the
    job where it is; the worker shutting down hands it back to the queue; any
    other error fails it, saying so.
    """
    config = current_app.config
    token = current_job_id.set(job_id)
    try:
        claimed = claim_job(
            job_id,
            lease_seconds=config["JOB_LEASE_SECONDS"],
            max_attempts=config["JOB_MAX_ATTEMPTS"],
        )
        if claimed is None:
            logger.info("job not claimable: final, or running under another worker's lease")
            return
        logger.info("job started", extra={"kind": claimed.kind, "attempt": claimed.attempts})
        _run(claimed)
    finally:
        current_job_id.reset(token)


def _run(claimed: ClaimedJob) -> None:
    context = JobContext(current_app._get_current_object())
    try:
        RUNNERS[JobKind(claimed.kind)](claimed, context)
    except LeaseLostError:
        logger.info("job stopped: its lease is gone (cancelled, or taken over)")
    except WorkerStoppingError:
        if release_job(claimed.lease):
            job_queue().enqueue(claimed.lease.job_id)
            logger.info("job handed back to the queue: the worker is stopping")
    except Exception:
        logger.exception("job failed on an unexpected error")
        with contextlib.suppress(LeaseLostError):  # cancelled meanwhile: that stands
            finish_job(claimed.lease, status=JobStatus.FAILED, detail=UNEXPECTED)
    else:
        logger.info("job finished")
