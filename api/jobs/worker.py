"""``flask --app wsgi worker``: the huey consumer that runs jobs, and its reaper.

One worker process runs ``--threads`` jobs at once, each thread in an app
context of its own. Run as many workers as you like, on as many machines as
share the database, ``REDIS_URL`` and ``JOB_FOLDER``: a job is run by whichever
worker claims it, and its lease keeps every other worker off it.

Every ``JOB_REAP_SECONDS`` each worker's scheduler thread also reaps: a running
job whose lease lapsed (its worker was killed, or lost the database) is put
back on the queue and resumed from its last committed chunk, or failed after
``JOB_MAX_ATTEMPTS`` starts; a queued job whose message was lost is sent again.
A new worker reaps as it starts, so a restarted one picks up at once what its
predecessor left.

``SIGINT`` (Ctrl-C) and ``SIGTERM`` (``docker stop``) both stop it gracefully:
running jobs stop at the end of their current chunk and go back to the queue,
for the next worker to resume. A second signal stops it at once.
"""

import logging
import signal
import time
from datetime import timedelta

import click
from flask import current_app
from flask.cli import with_appcontext
from huey.consumer import Consumer, Scheduler

from models import db
from models.job import reap_jobs

logger = logging.getLogger("api.jobs")


def reap(app) -> None:
    """One pass of the reaper (``models.job.reap_jobs``), sending what it recovers to the queue.

    Queued jobs are sent again only while the queue is empty: then their
    message is surely gone, and a backlog never gets duplicated.
    """
    queue = app.extensions["storefront.jobs"]
    config = app.config
    with app.app_context():
        try:
            stale = None if queue.pending() else timedelta(seconds=config["JOB_LEASE_SECONDS"])
            reaped = reap_jobs(max_attempts=config["JOB_MAX_ATTEMPTS"], stale_queued=stale)
            for job_id in reaped.requeue:
                logger.warning(
                    "job back on the queue: its worker stopped", extra={"job_id": job_id}
                )
                queue.enqueue(job_id)
            for job_id in reaped.failed:
                logger.warning(
                    "job failed: its worker stopped too many times", extra={"job_id": job_id}
                )
        except Exception:
            logger.exception("the reaper failed; it runs again in JOB_REAP_SECONDS")
        finally:
            db.session.remove()


class JobScheduler(Scheduler):
    """huey's scheduler thread, which also runs the reaper every ``JOB_REAP_SECONDS``."""

    def __init__(self, *args, app, **kwargs):
        super().__init__(*args, **kwargs)
        self.app = app
        self.next_reap = time.monotonic()

    def loop(self, now=None):
        """Reap when due, then do huey's scheduling (which sleeps a second)."""
        if time.monotonic() >= self.next_reap:
            self.next_reap = time.monotonic() + self.app.config["JOB_REAP_SECONDS"]
            reap(self.app)
        super().loop(now)


class JobConsumer(Consumer):
    """huey's consumer with the reaping scheduler, stopping gracefully on SIGINT and SIGTERM."""

    def __init__(self, huey, *, app, **options):
        self.app = app  # before huey's __init__, which builds the scheduler
        super().__init__(huey, **options)
        # huey stops gracefully on one signal and at once on the other; here
        # both are graceful (Ctrl-C, and the TERM of docker stop or systemd),
        # and a second signal of either kind stops at once, as huey does.
        self._signal_actions[signal.SIGINT] = (False, True)
        self._signal_actions[signal.SIGTERM] = (False, True)

    def _create_scheduler(self):
        return JobScheduler(
            huey=self.huey,
            stop_flag=self.stop_flag,
            interval=self.scheduler_interval,
            periodic=self.periodic,
            app=self.app,
        )


def configure_worker_logging(app) -> None:
    """huey's own lines go out as JSON like the app's, and every line carries the job's id."""
    handlers = app.logger.handlers  # they carry the JobIdFilter (register_jobs)
    huey_logger = logging.getLogger("huey")
    huey_logger.handlers[:] = handlers
    huey_logger.setLevel(app.config["LOG_LEVEL"])
    huey_logger.propagate = False


@click.command("worker")
@click.option(
    "--threads", default=2, show_default=True, type=click.IntRange(1, 64), help="Jobs run at once."
)
@with_appcontext
def worker_command(threads: int):
    """Run jobs from the queue until stopped (Ctrl-C hands running jobs back to the queue)."""
    app = current_app._get_current_object()
    if app.config["JOB_IMMEDIATE"]:
        raise click.ClickException("JOB_IMMEDIATE runs jobs in the request: no worker needed")
    queue = app.extensions["storefront.jobs"]
    configure_worker_logging(app)
    consumer = JobConsumer(
        queue.huey,
        app=app,
        workers=threads,
        worker_type="thread",
        periodic=True,
        # How soon an idle worker notices a new job on the SQLite queue (Redis blocks instead).
        max_delay=1.0,
        # A graceful stop waits for the current chunks, not for whole jobs.
        shutdown_timeout=app.config["JOB_LEASE_SECONDS"],
    )
    queue.stopping = consumer.stop_flag
    logger.info("worker started", extra={"threads": threads, "queue": app.config["JOB_QUEUE"]})
    consumer.run()
