"""The files of jobs under ``JOB_FOLDER``: uploaded imports and written exports.

Rows name their files relative to the folder (``imports/<random>.csv``,
``exports/job-<id>.csv``), so the folder can be mounted anywhere as long as the
API and every worker see the same one. A file is written under a temporary
name and renamed into place when complete, so a reader never sees half of one.
"""

import os
import secrets
import time
from pathlib import Path

from models.errors import ConflictError, NotFoundError
from models.job import JobStatus

IMPORTS = "imports"
EXPORTS = "exports"
# Files being written start with this; a crash can leave one behind for the sweep.
PARTIAL_PREFIX = ".partial-"


def new_import_name() -> str:
    """A fresh name for an uploaded import file (random: uploads never collide)."""
    return f"{IMPORTS}/{secrets.token_hex(16)}.csv"


def export_name(job_id: int) -> str:
    """The name of job ``job_id``'s export file."""
    return f"{EXPORTS}/job-{job_id}.csv"


def resolve(folder: Path, name: str) -> Path:
    """The path of ``name`` (a job's file) under ``folder``, its directory created."""
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def partial_path(target: Path) -> Path:
    """Where ``target`` is written until it is complete."""
    return target.with_name(f"{PARTIAL_PREFIX}{secrets.token_hex(8)}-{target.name}")


def publish(partial: Path, target: Path) -> None:
    """Move a complete file into place, atomically, after it reached the disk."""
    with partial.open("rb") as handle:
        os.fsync(handle.fileno())
    os.replace(partial, target)


def export_path(job, folder: Path) -> Path:
    """The finished export file of ``job`` (a ``JobView``).

    ``NotFoundError`` for a job that makes no file (an import) or whose file is
    gone; ``ConflictError`` for an export that has not succeeded (yet).
    """
    if job.kind != "order_export":
        raise NotFoundError("A file of job", job.id)
    if job.status != JobStatus.SUCCEEDED or job.output_file is None:
        raise ConflictError(f"Job {job.id} is {job.status}: its file exists once it succeeded")
    path = folder / job.output_file
    if not path.is_file():
        raise NotFoundError("The file of job", job.id)
    return path


def remove(folder: Path, *names: str | None) -> None:
    """Delete the named files, if they exist."""
    for name in names:
        if name:
            (folder / name).unlink(missing_ok=True)


def sweep(folder: Path, *, keep: set[str], older_than_seconds: float) -> int:
    """Delete files under the job folders that no job names and that are older than that.

    They are leftovers: an upload whose job was never recorded, a partial file
    of a worker that died. The age guard spares a file being written right now.
    """
    removed = 0
    cutoff = time.time() - older_than_seconds
    for sub in (IMPORTS, EXPORTS):
        directory = folder / sub
        if not directory.is_dir():
            continue
        for path in directory.iterdir():
            name = f"{sub}/{path.name}"
            if name not in keep and path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)
                removed += 1
    return removed
