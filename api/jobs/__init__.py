"""Long-running work: the queue that carries jobs to workers, and what workers run.

The API records a job in the ``jobs`` table (``models.job``) and puts its id on
a huey queue: ``SqliteHuey`` in ``JOB_FOLDER`` with zero setup, ``RedisHuey``
when ``REDIS_URL`` is set. ``flask --app wsgi worker`` (``api.jobs.worker``)
takes ids off the queue and runs the job (``api.jobs.runner``). The queue only
carries the work: huey forgets a message once a worker takes it, so whatever a
job needs to be resumed, or reported, is in its row, and each worker's reaper
recovers the jobs of workers that died.

- ``queue``: the huey instance of an app, its tasks, ``enqueue``, and metrics.
- ``runner``: claim a job, run its kind, finish it; the import and export runners.
- ``worker``: the ``flask worker`` command (the huey consumer and the reaper).
"""

from api.jobs.queue import JobIdFilter, JobQueue, enqueue, job_queue, submit
from api.jobs.worker import worker_command


def register_jobs(app) -> None:
    """Give ``app`` its job queue, the ``worker`` command and the job metrics."""
    app.extensions[JobQueue.EXTENSION] = JobQueue(app)
    # Lines logged while a job runs (in a worker, or a test's request) carry its id.
    for handler in app.logger.handlers:
        handler.addFilter(JobIdFilter())
    app.cli.add_command(worker_command)
    app.extensions.setdefault("storefront.collectors", []).append(
        app.extensions[JobQueue.EXTENSION].metrics
    )


__all__ = ["JobQueue", "enqueue", "job_queue", "register_jobs", "submit"]
