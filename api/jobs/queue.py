"""An app's job queue: huey, built on first use, with the app's tasks registered on it."""

import contextvars
import logging
import threading
from datetime import timedelta
from functools import cached_property
from pathlib import Path

from flask import current_app
from huey import MemoryHuey, RedisHuey, SqliteHuey, crontab
from huey.storage import RedisStorage
from prometheus_client.core import GaugeMetricFamily

from models import db
from models.job import JobView, count_by_status, delete_jobs, expired_jobs, job_files, read_job
from models.job_files import remove, resolve, sweep

logger = logging.getLogger("api.jobs")
QUEUE_FILE = "queue.db"
# An upload or partial file no job names is removed once this old (seconds).
STRAY_FILE_AGE = 24 * 3600
# The job a worker thread is running, for its log lines.
current_job_id: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "current_job_id", default=None
)


class JobIdFilter(logging.Filter):
    """Add ``job_id`` to the records logged while a job runs (never drops a record)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Attach the running job's id, unless the record names one already."""
        job_id = current_job_id.get()
        if job_id is not None and not hasattr(record, "job_id"):
            record.job_id = job_id
        return True


class PrefixedRedisStorage(RedisStorage):
    """huey's Redis storage with ``REDIS_KEY_PREFIX`` in front of every key it writes.

    huey names its keys ``huey.<what>.<queue>``; a Redis shared by several apps or
    test runs tells theirs apart by the prefix, as the rate limiter and the
    revocation list already do.
    """

    def __init__(self, name, key_prefix: str = "", **kwargs):
        """Build huey's storage, then put ``key_prefix`` in front of its keys."""
        super().__init__(name, **kwargs)
        keys = ("queue_key", "schedule_key", "result_key", "counter_key", "notify_prefix")
        for attribute in keys:
            setattr(self, attribute, key_prefix + getattr(self, attribute))


class PrefixedRedisHuey(RedisHuey):
    """RedisHuey on :class:`PrefixedRedisStorage`."""

    storage_class = PrefixedRedisStorage


class JobQueue:
    """The huey instance that carries an app's jobs, and the tasks on it.

    Built lazily: an app that never enqueues (a test, a ``flask`` command)
    opens no queue. ``stopping`` is set by the worker when it shuts down, so
    a running job hands itself back at its next chunk instead of being cut off.
    """

    EXTENSION = "storefront.jobs"

    def __init__(self, app):
        self.app = app
        self.stopping = threading.Event()
        self._lock = threading.Lock()

    @cached_property
    def huey(self):
        """The queue: in memory and synchronous in tests, Redis with REDIS_URL, else SQLite."""
        with self._lock:
            if "huey" in self.__dict__:  # another thread built it meanwhile
                return self.__dict__["huey"]
            config = self.app.config
            name = config["JOB_QUEUE"]
            if config["JOB_IMMEDIATE"]:
                huey = MemoryHuey(name, immediate=True, results=False)
            elif config["REDIS_URL"]:
                huey = PrefixedRedisHuey(
                    name,
                    url=config["REDIS_URL"],
                    key_prefix=config["REDIS_KEY_PREFIX"],
                    results=False,
                )
            else:
                path = resolve(Path(config["JOB_FOLDER"]), QUEUE_FILE)
                huey = SqliteHuey(name, filename=str(path), results=False)
            self._register_tasks(huey)
            return huey

    def _register_tasks(self, huey) -> None:
        app = self.app

        @huey.task(name="run_job")
        def run_job_task(job_id: int) -> None:
            # Imported here: the runner needs the app's Api, built after this module.
            from api.jobs.runner import run_job  # noqa: PLC0415

            with app.app_context():
                run_job(job_id)

        @huey.periodic_task(crontab(minute="7"), name="remove_expired_jobs")
        def remove_expired_jobs_task() -> None:
            with app.app_context():
                remove_expired_jobs()

        # So that huey's own line saying how long the task took names the job too.
        @huey.pre_execute(name="job_id")
        def name_the_job(task) -> None:
            if task.name == "run_job":
                task.job_id_token = current_job_id.set(task.args[0])

        @huey.post_execute(name="job_id")
        def forget_the_job(task, _value, _error) -> None:
            token = getattr(task, "job_id_token", None)
            if token is not None:
                current_job_id.reset(token)

        self.run_job = run_job_task

    def enqueue(self, job_id: int) -> bool:
        """Put job ``job_id`` on the queue; False (logged) when the queue cannot be reached.

        The job is recorded either way: the reaper of a running worker sends
        queued jobs whose message never arrived.
        """
        try:
            self.huey.enqueue(self.run_job.s(job_id))
        except Exception:
            logger.warning("could not put the job on the queue", extra={"job_id": job_id})
            if self.app.config["JOB_IMMEDIATE"]:
                raise  # a test wants to see the error
            return False
        return True

    def pending(self) -> int:
        """How many messages wait on the queue."""
        return self.huey.pending_count()

    def metrics(self):
        """Prometheus samples: the queue's depth and the jobs by status (read at scrape time)."""
        depth = GaugeMetricFamily("job_queue_depth", "Jobs waiting on the queue for a worker")
        try:
            depth.add_metric([], self.pending())
        except Exception:  # a scrape must not fail because the queue is down
            logger.warning("could not read the job queue's depth")
        else:
            yield depth
        jobs = GaugeMetricFamily("jobs", "Jobs recorded, by status", labels=["status"])
        with self.app.app_context():
            try:
                counts = count_by_status()
            finally:
                db.session.remove()
        for status, count in counts.items():
            jobs.add_metric([status], count)
        yield jobs


def job_queue() -> JobQueue:
    """The current app's job queue."""
    return current_app.extensions[JobQueue.EXTENSION]


def enqueue(job_id: int) -> bool:
    """Put job ``job_id`` on the current app's queue (see ``JobQueue.enqueue``)."""
    return job_queue().enqueue(job_id)


def submit(job: JobView, created: bool) -> JobView:
    """Send a job just recorded to the queue; return it as the client should see it.

    A replayed job (``created`` False) is already on its way. With
    ``JOB_IMMEDIATE`` the job has run by the time ``enqueue`` returns, so it
    is read again.
    """
    if not created:
        return job
    enqueue(job.id)
    return read_job(job.id) if current_app.config["JOB_IMMEDIATE"] else job


def remove_expired_jobs() -> int:
    """Delete the jobs finished more than ``JOB_RETENTION_DAYS`` ago, with their files.

    Then any file under the job folder that no job names and that is a day
    old (an upload whose job was never recorded, a dead worker's partial file).
    """
    config = current_app.config
    folder = Path(config["JOB_FOLDER"])
    expired = expired_jobs(older_than=timedelta(days=config["JOB_RETENTION_DAYS"]))
    for _job_id, input_file, output_file in expired:
        remove(folder, input_file, output_file)
    deleted = delete_jobs([job_id for job_id, *_ in expired])
    strays = sweep(folder, keep=job_files(), older_than_seconds=STRAY_FILE_AGE)
    if deleted or strays:
        logger.info(
            "removed expired jobs", extra={"jobs_removed": deleted, "stray_files_removed": strays}
        )
    return deleted
