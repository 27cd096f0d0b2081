"""Jobs: long-running work (imports, exports), its state, and who may work on it.

The queue (huey) only carries a job's id to a worker; everything a client reads
and everything a worker needs to resume lives in the ``jobs`` row. A worker
*claims* a job by writing a fresh lease token into it, and every later write it
makes is fenced by that token (``UPDATE jobs ... WHERE id = ? AND lease_token =
?``), so a worker that lost its lease (it stalled, another worker took the job
over, or a client cancelled it) can never commit anything more. Every write
extends the lease; a worker that stops writing for ``lease_seconds`` is
presumed dead, and ``reap_jobs`` puts its job back in the queue to be resumed
from its last committed chunk, or fails it after too many attempts.
"""

import enum
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Select,
    String,
    Text,
    UniqueConstraint,
    bindparam,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.orm import Mapped, mapped_column

from models.base import IdType, Listing, Ordering, db, read_row, read_rows, transaction, utcnow
from models.errors import ConflictError, DomainError, NotFoundError

IDEMPOTENCY_TTL = timedelta(hours=24)
IDEMPOTENCY_KEY_MAX_LENGTH = 255
# The first errors are kept (each with its line); the count covers them all.
MAX_ERRORS = 1000


class JobStatus(enum.StrEnum):
    """Where a job is in its life; the last three are final."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINAL = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})
# What each status means to a client; the spec quotes these.
STATUS_MEANINGS = {
    JobStatus.QUEUED: "accepted, waiting for a worker (also after a worker stopped, until "
    "another resumes it)",
    JobStatus.RUNNING: "a worker is on it; progress moves as chunks are committed",
    JobStatus.SUCCEEDED: "finished; result is final (an import may still report bad lines "
    "in errors)",
    JobStatus.FAILED: "stopped for good; detail says why, and what was committed before stays",
    JobStatus.CANCELLED: "cancelled on request; what was committed before stays",
}


class JobKind(enum.StrEnum):
    """The kinds of work a job can be."""

    PRODUCT_IMPORT = "product_import"
    ORDER_EXPORT = "order_export"


class JobFinishedError(ConflictError):
    """The job is final: it cannot be cancelled, and cannot change any more."""


class LeaseLostError(DomainError):
    """A worker's lease is gone: the job was cancelled, or another worker took it over."""


class Job(db.Model):
    """One piece of long-running work, as clients read it and as workers resume it."""

    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint(
            "status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')", name="status"
        ),
        CheckConstraint("kind IN ('product_import', 'order_export')", name="kind"),
        # The listing (newest first, keyset cursor on (created_at, id)).
        Index("ix_jobs_created_at_id", "created_at", "id"),
        # The reaper's scans: running jobs by lease expiry, queued ones by age.
        Index("ix_jobs_status_lease_expires_at", "status", "lease_expires_at"),
        # Retention: finished jobs by age.
        Index("ix_jobs_finished_at", "finished_at"),
        UniqueConstraint("user_id", "idempotency_key"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default=JobStatus.QUEUED.value)
    # Who asked for it (an admin); with ``idempotency_key``, what makes a retry a replay.
    user_id: Mapped[int] = mapped_column(IdType, ForeignKey("users.id"))
    idempotency_key: Mapped[str | None] = mapped_column(String(IDEMPOTENCY_KEY_MAX_LENGTH))
    fingerprint: Mapped[str | None] = mapped_column(String(64))
    # The kind's own parameters (JSON): an import's dry_run, an export's filters.
    params: Mapped[str] = mapped_column(Text, default="{}")
    # Files under JOB_FOLDER, relative to it: an import's upload, an export's CSV.
    input_file: Mapped[str | None] = mapped_column(String(255))
    output_file: Mapped[str | None] = mapped_column(String(255))
    progress_done: Mapped[int] = mapped_column(BigInteger, default=0)
    progress_total: Mapped[int | None] = mapped_column(BigInteger)
    result: Mapped[str | None] = mapped_column(Text)  # JSON, once known
    errors: Mapped[str] = mapped_column(Text, default="[]")  # JSON, the first MAX_ERRORS
    error_count: Mapped[int] = mapped_column(Integer, default=0)
    detail: Mapped[str | None] = mapped_column(Text)
    # Where a resumed import starts: the file line and byte offset after its last
    # committed chunk (0: the header has not been read past).
    resume_line: Mapped[int] = mapped_column(BigInteger, default=0)
    resume_offset: Mapped[int] = mapped_column(BigInteger, default=0)
    # The lease: the token fencing the current worker's writes, and when it lapses.
    lease_token: Mapped[str | None] = mapped_column(String(32))
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # When the job's message was last put on the queue (the reaper re-sends lost ones).
    enqueued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Bumped by every write (fenced ones included); backs the ETag.
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    def __repr__(self) -> str:
        return f"<Job {self.id} {self.kind} {self.status}>"


@dataclass(frozen=True)
class JobView:
    """A job as the API shows it: the row's fields, with its JSON columns decoded."""

    id: int
    kind: str
    status: str
    progress: dict
    result: dict | None
    errors: list
    error_count: int
    detail: str | None
    params: dict
    output_file: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    version: int

    @property
    def is_final(self) -> bool:
        """True once the job has succeeded, failed or been cancelled."""
        return self.status in FINAL

    @property
    def cancellable(self) -> bool:
        """True while the job can still be cancelled (queued or running)."""
        return not self.is_final

    @property
    def downloadable(self) -> bool:
        """True when the job has a finished file to download."""
        return self.status == JobStatus.SUCCEEDED and self.output_file is not None

    @classmethod
    def of(cls, row) -> "JobView":
        """The view of a ``jobs`` row (an ORM object or a Core row)."""
        return cls(
            id=row.id,
            kind=row.kind,
            status=row.status,
            progress={"done": row.progress_done, "total": row.progress_total},
            result=None if row.result is None else json.loads(row.result),
            errors=json.loads(row.errors),
            error_count=row.error_count,
            detail=row.detail,
            params=json.loads(row.params),
            output_file=row.output_file,
            created_at=row.created_at,
            started_at=row.started_at,
            finished_at=row.finished_at,
            version=row.version,
        )


def _bump(**values: Any) -> dict:
    """``values`` plus what every write to a job changes: its version and updated_at."""
    return {"version": Job.version + 1, "updated_at": utcnow(), **values}


# --- the API's side: create, read, list, cancel ---------------------------------------


def create_job(
    *,
    kind: JobKind,
    user_id: int,
    params: dict,
    fingerprint: str,
    idempotency_key: str | None = None,
    input_file: str | None = None,
    progress_total: int | None = None,
) -> tuple[JobView, bool]:
    """Record a queued job; return (its view, whether it was created now).

    With an ``idempotency_key``, the same key and ``fingerprint`` (the same
    request) within 24 hours return the job the first request created, and
    ``False``; the key with another fingerprint is a ``ConflictError``.
    """
    if idempotency_key is not None:
        replay = _replay(user_id, idempotency_key, fingerprint)
        if replay is not None:
            return replay, False
    try:
        with transaction():
            if idempotency_key is not None:
                # An expired key may be used again: the old job forgets it.
                db.session.execute(
                    update(Job)
                    .where(
                        Job.user_id == user_id,
                        Job.idempotency_key == idempotency_key,
                        Job.created_at < utcnow() - IDEMPOTENCY_TTL,
                    )
                    .values(idempotency_key=None)
                )
            job = Job(
                kind=kind.value,
                status=JobStatus.QUEUED.value,
                user_id=user_id,
                idempotency_key=idempotency_key,
                fingerprint=fingerprint,
                params=json.dumps(params, sort_keys=True),
                input_file=input_file,
                progress_total=progress_total,
            )
            db.session.add(job)
    except ConflictError:
        # Lost a race for the same key: the winner's job is the answer.
        replay = _replay(user_id, idempotency_key, fingerprint) if idempotency_key else None
        if replay is None:
            raise
        return replay, False
    return JobView.of(job), True


def _replay(user_id: int, key: str, fingerprint: str) -> JobView | None:
    job = db.session.scalar(
        select(Job).where(
            Job.user_id == user_id,
            Job.idempotency_key == key,
            Job.created_at >= utcnow() - IDEMPOTENCY_TTL,
        )
    )
    if job is None:
        return None
    if job.fingerprint != fingerprint:
        raise ConflictError(
            "This Idempotency-Key was already used with a different request; "
            "use a new key for a new job"
        )
    return JobView.of(job)


_JOB_BY_ID = select(Job.__table__).where(Job.id == bindparam("job_id"))


def read_job(job_id: int) -> JobView:
    """The job ``job_id``, as committed, or ``NotFoundError``."""
    row = read_row(_JOB_BY_ID, job_id=job_id)
    if row is None:
        raise NotFoundError("Job", job_id)
    return JobView.of(row)


JOB_SORTS = {"created_at": Job.created_at}
JOB_ORDERING = Ordering(JOB_SORTS, Job.id)


def job_query(
    *,
    status: str | None = None,
    kind: str | None = None,
    sort: str | None = None,
    after: tuple | None = None,
) -> Select:
    """Jobs filtered by ``status`` and ``kind``, in the order of ``sort`` (ties by id)."""
    query = select(Job.__table__)
    if status:
        query = query.where(Job.status == JobStatus(status).value)
    if kind:
        query = query.where(Job.kind == JobKind(kind).value)
    if after is not None:
        query = query.where(JOB_ORDERING.after(sort, after))
    return query.order_by(*JOB_ORDERING.order_by(sort))


def _job_views(statement) -> list[JobView]:
    return [JobView.of(row) for row in read_rows(statement)]


JOBS = Listing(job_query, JOB_ORDERING, read=_job_views)


def cancel_job(job_id: int) -> JobView:
    """Cancel a queued or running job; a final one is a ``JobFinishedError``.

    Cancelling takes effect at once: the status is final, and the worker's next
    fenced write (the end of its current chunk) fails, so that chunk rolls back
    and the worker stops. Chunks committed before stay.
    """
    now = utcnow()
    with transaction():
        cancelled = db.session.execute(
            update(Job)
            .where(Job.id == job_id, Job.status.in_([JobStatus.QUEUED, JobStatus.RUNNING]))
            .values(
                **_bump(
                    status=JobStatus.CANCELLED.value,
                    finished_at=now,
                    lease_token=None,
                    lease_expires_at=None,
                    detail="Cancelled on request",
                )
            )
        ).rowcount
    job = read_job(job_id)
    if not cancelled:
        raise JobFinishedError(
            f"Job {job_id} has already finished ({job.status}): only a queued or running job "
            "can be cancelled"
        )
    return job


# --- the workers' side: claim, fenced writes, finish ----------------------------------


@dataclass(frozen=True)
class Lease:
    """A worker's hold on a job: every write it makes must present ``token``."""

    job_id: int
    token: str
    seconds: float

    def expiry(self) -> datetime:
        """When the lease lapses if it is renewed now."""
        return utcnow() + timedelta(seconds=self.seconds)


@dataclass(frozen=True)
class ClaimedJob:
    """What a worker needs to do (or resume) a job it has claimed."""

    lease: Lease
    kind: str
    user_id: int
    params: dict
    input_file: str | None
    progress_total: int | None
    result: dict | None
    errors: list
    error_count: int
    resume_line: int
    resume_offset: int
    attempts: int


def claim_job(job_id: int, *, lease_seconds: float, max_attempts: int) -> ClaimedJob | None:
    """Take the lease of job ``job_id``; None when it is not there to take.

    A queued job can be claimed, and so can a running one whose lease has
    lapsed (its worker died). One conditional UPDATE decides, so of several
    workers handed the same job only one gets it. ``max_attempts`` bounds how
    often a job is started: past it, the reaper fails the job instead.
    """
    now = utcnow()
    lease = Lease(job_id, secrets.token_hex(16), lease_seconds)
    with transaction():
        claimed = db.session.execute(
            update(Job)
            .where(
                Job.id == job_id,
                Job.attempts < max_attempts,
                (Job.status == JobStatus.QUEUED)
                | ((Job.status == JobStatus.RUNNING) & (Job.lease_expires_at < now)),
            )
            .values(
                **_bump(
                    status=JobStatus.RUNNING.value,
                    lease_token=lease.token,
                    lease_expires_at=lease.expiry(),
                    attempts=Job.attempts + 1,
                    started_at=func.coalesce(Job.started_at, now),
                )
            )
        ).rowcount
        if not claimed:
            return None
        job = db.session.get(Job, job_id, populate_existing=True)
    return ClaimedJob(
        lease=lease,
        kind=job.kind,
        user_id=job.user_id,
        params=json.loads(job.params),
        input_file=job.input_file,
        progress_total=job.progress_total,
        result=None if job.result is None else json.loads(job.result),
        errors=json.loads(job.errors),
        error_count=job.error_count,
        resume_line=job.resume_line,
        resume_offset=job.resume_offset,
        attempts=job.attempts,
    )


def record_progress(lease: Lease, **values: Any) -> None:
    """Write ``values`` into the job and renew the lease, in the caller's transaction.

    The fence: the UPDATE names the lease's token and the running status, so
    when either changed (the job was cancelled or taken over) it matches no
    row and a ``LeaseLostError`` is raised, which rolls back the caller's
    whole transaction. ``result`` and ``errors`` are stored as JSON.
    """
    values = {"lease_expires_at": lease.expiry(), **values}
    for name in ("result", "errors"):
        if name in values:
            values[name] = json.dumps(values[name])
    renewed = db.session.execute(
        update(Job)
        .where(
            Job.id == lease.job_id,
            Job.lease_token == lease.token,
            Job.status == JobStatus.RUNNING,
        )
        .values(**_bump(**values))
    ).rowcount
    if not renewed:
        raise LeaseLostError(f"Job {lease.job_id}: the lease is gone (cancelled or taken over)")


def renew_lease(lease: Lease, **values: Any) -> None:
    """``record_progress`` in a transaction of its own: a heartbeat, with some progress."""
    with transaction():
        record_progress(lease, **values)


def finish_job(lease: Lease, *, status: JobStatus, detail: str | None = None, **values) -> None:
    """End the job with a final ``status`` (fenced), and drop the lease."""
    with transaction():
        record_progress(
            lease,
            status=status.value,
            detail=detail,
            finished_at=utcnow(),
            lease_token=None,
            lease_expires_at=None,
            **values,
        )


def release_job(lease: Lease) -> bool:
    """Hand a running job back to the queue (its worker is shutting down); True if it was.

    The next worker to claim it resumes it from its last committed chunk.
    """
    try:
        with transaction():
            record_progress(
                lease,
                status=JobStatus.QUEUED.value,
                lease_token=None,
                lease_expires_at=None,
                enqueued_at=utcnow(),
                attempts=Job.attempts - 1,  # stopping on request is no failed attempt
            )
    except LeaseLostError:
        return False
    return True


# --- the reaper and retention ------------------------------------------------------------


@dataclass(frozen=True)
class Reaped:
    """What one pass of ``reap_jobs`` did: the jobs to send to the queue again, and the failed."""

    requeue: list[int]
    failed: list[int]


def reap_jobs(*, max_attempts: int, stale_queued: timedelta | None) -> Reaped:
    """Recover the jobs whose worker died, and re-send queued jobs whose message was lost.

    A running job whose lease lapsed goes back to ``queued`` (to be resumed
    from its last committed chunk) or, once it has been started
    ``max_attempts`` times, is failed, saying why. Each change is conditional
    on the lease still being lapsed, so concurrent reapers agree. With
    ``stale_queued``, queued jobs put on the queue longer ago than that are
    returned for sending again (their message may have been lost with a worker
    that took it and died); a duplicate message is harmless, as only one claim
    can win. The caller sends the returned ids to the queue.
    """
    now = utcnow()
    lapsed = (Job.status == JobStatus.RUNNING) & (Job.lease_expires_at < now)
    with transaction():
        failed = db.session.scalars(
            update(Job)
            .where(lapsed, Job.attempts >= max_attempts)
            .values(
                **_bump(
                    status=JobStatus.FAILED.value,
                    finished_at=now,
                    lease_token=None,
                    lease_expires_at=None,
                    detail=f"Its worker stopped {max_attempts} times before finishing it; "
                    "what each committed stays",
                )
            )
            .returning(Job.id)
        ).all()
        requeue = db.session.scalars(
            update(Job)
            .where(lapsed, Job.attempts < max_attempts)
            .values(
                **_bump(
                    status=JobStatus.QUEUED.value,
                    lease_token=None,
                    lease_expires_at=None,
                    enqueued_at=now,
                )
            )
            .returning(Job.id)
        ).all()
        if stale_queued is not None:
            requeue += db.session.scalars(
                update(Job)
                .where(Job.status == JobStatus.QUEUED, Job.enqueued_at < now - stale_queued)
                .values(enqueued_at=now)
                .returning(Job.id)
            ).all()
    return Reaped(requeue=sorted(set(requeue)), failed=sorted(failed))


def expired_jobs(*, older_than: timedelta) -> list[tuple[int, str | None, str | None]]:
    """(id, input file, output file) of the final jobs that finished before ``older_than`` ago."""
    cutoff = utcnow() - older_than
    rows = db.session.execute(
        select(Job.id, Job.input_file, Job.output_file).where(
            Job.status.in_([status.value for status in FINAL]), Job.finished_at < cutoff
        )
    ).all()
    return [tuple(row) for row in rows]


def delete_jobs(job_ids: list[int]) -> int:
    """Delete the given jobs' rows; return how many."""
    if not job_ids:
        return 0
    with transaction():
        return db.session.execute(delete(Job).where(Job.id.in_(job_ids))).rowcount


def job_files() -> set[str]:
    """Every file a job row refers to (relative to JOB_FOLDER)."""
    rows = db.session.execute(select(Job.input_file, Job.output_file)).all()
    return {name for row in rows for name in row if name}


def count_by_status() -> dict[str, int]:
    """How many jobs there are in each status (every status present, 0 when none)."""
    counts = dict(db.session.execute(select(Job.status, func.count()).group_by(Job.status)).all())
    return {status.value: counts.get(status.value, 0) for status in JobStatus}
