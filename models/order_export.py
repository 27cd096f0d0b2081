"""Order exports: every order matching a listing's filters, streamed into a CSV file.

Orders are read in keyset batches (``order_query`` with ``after``), written as
they come, and dropped from the session after each batch, so an export of any
size holds one batch in memory. Each batch renews the worker's lease with the
count so far; a lost lease (the job was cancelled or taken over) stops the
export and leaves no file. The file appears, complete, only when the job
succeeds; an export resumed after a worker died starts again from the top,
which writes the same file.
"""

import csv
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select

from models.base import db
from models.job import JobKind, JobStatus, JobView, Lease, create_job, finish_job, renew_lease
from models.job_files import export_name, partial_path, publish, remove, resolve
from models.order import ORDER_ORDERING, Order, fingerprint, order_query
from models.user import User

BATCH = 1000


def start_export(
    *, user_id: int, filters: dict, idempotency_key: str | None = None
) -> tuple[JobView, bool]:
    """Record the export job of the orders matching ``filters`` (those of ``order_query``).

    Returns (the job, whether it was created now): see ``models.job.create_job``
    for what an ``idempotency_key`` does. Times are kept as RFC 3339 text.
    """
    stored = {
        name: value.isoformat() if isinstance(value, datetime) else value
        for name, value in filters.items()
    }
    return create_job(
        kind=JobKind.ORDER_EXPORT,
        user_id=user_id,
        params={"filters": stored},
        fingerprint=fingerprint(stored),
        idempotency_key=idempotency_key,
    )


def stored_filters(params: dict) -> dict:
    """The ``order_query`` filters of an export job's ``params`` (times back to datetimes)."""
    filters = dict(params.get("filters", {}))
    for name in ("created_from", "created_to"):
        if filters.get(name) is not None:
            filters[name] = datetime.fromisoformat(filters[name])
    return filters


def export_orders(
    *,
    lease: Lease,
    user_id: int,
    filters: dict,
    folder: Path,
    header: list[str],
    render: Callable[[Order], list[str]],
) -> int:
    """Write the orders ``user_id`` may see that match ``filters`` to the job's file; finish it.

    The viewer is the admin who asked for the export, as they are now: one no
    longer an admin exports only their own orders. ``header`` is the file's
    first row and ``render`` makes an order's row. Returns the orders written.
    """
    viewer = db.session.get(User, user_id)
    sort = filters.get("sort")
    count = select(func.count()).select_from(order_query(viewer=viewer, **filters).subquery())
    renew_lease(lease, progress_total=db.session.scalar(count))
    name = export_name(lease.job_id)
    target = resolve(folder, name)
    partial = partial_path(target)
    written = 0
    try:
        with partial.open("w", encoding="utf-8", newline="") as out:
            writer = csv.writer(out, lineterminator="\r\n")
            writer.writerow(header)
            after = None
            while True:
                # The listing's own query (its items load with each batch, one query).
                query = order_query(viewer=viewer, **filters, after=after)
                batch = db.session.scalars(query.limit(BATCH)).all()
                if not batch:
                    break
                writer.writerows(render(order) for order in batch)
                written += len(batch)
                after = ORDER_ORDERING.position(batch[-1], sort)
                # The rows are written: let the session forget them.
                db.session.expunge_all()
                db.session.rollback()
                renew_lease(lease, progress_done=written)
        publish(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    try:
        finish_job(
            lease,
            status=JobStatus.SUCCEEDED,
            output_file=name,
            result={"rows": written},
            progress_done=written,
            progress_total=written,
        )
    except BaseException:
        remove(folder, name)  # cancelled at the last moment: no file without its job
        raise
    return written
