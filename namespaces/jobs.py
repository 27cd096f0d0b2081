"""Jobs: the long-running work that imports and exports start, polled until final (admin)."""

from pathlib import Path

from flask import Response, current_app

from api.auth import auth_required
from api.errors import PROBLEM_MEDIA_TYPE, problems
from api.http.conditional import conditional_read, tagged
from api.http.pagination import page_of, page_parser
from api.restx.base import Resource
from api.restx.examples import NO_SUCH_ID
from api.restx.fields import id_param, id_route
from api.restx.serialize import Namespace
from models.job import JOB_SORTS, JOBS, cancel_job, read_job
from models.job_files import export_path
from namespaces.shared import (
    JOB_KINDS,
    JOB_STATUS_DESCRIPTION,
    JOB_STATUSES,
    RETRY_AFTER_SECONDS,
    Job,
    JobPage,
)

ns = Namespace(
    "jobs",
    description="Long-running work (catalog imports, order exports): poll a job until its "
    "status is final, cancel it, download what it made. " + JOB_STATUS_DESCRIPTION,
    path="/api/v1/jobs",
)

list_parser = page_parser(cursor=True)
list_parser.add_argument("status", choices=JOB_STATUSES, location="args", help="Only this state")
list_parser.add_argument("kind", choices=JOB_KINDS, location="args", help="Only this kind")
list_parser.add_argument(
    "sort",
    location="args",
    choices=[*JOB_SORTS, *(f"-{key}" for key in JOB_SORTS)],
    default="-created_at",
    help="Order by this field; a leading - sorts descending. Default: newest first",
)


def _polled(job) -> tuple:
    """``job`` with its ETag, and while it is not final a Retry-After for the next poll."""
    data, status, headers = tagged(job)
    if not job.is_final:
        headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return data, status, headers


@ns.route("")
class JobList(Resource):
    """Jobs as a collection."""

    @ns.doc(id="listJobs")
    @auth_required(ns, admin=True)
    @ns.expect(list_parser)
    @problems(ns, 400, 422, 429)
    @ns.marshal_with(JobPage)
    def get(self):
        """List jobs, newest first, filtered by status and kind (admin).

        Admin only. `status` and `kind` filter; `sort=created_at` lists oldest first. Paged by
        `page`/`per_page` (at most 100) with `_links` and a `Link` header; `next` links carry an
        `after` cursor, as fast at any depth. Jobs are kept `JOB_RETENTION_DAYS` (7 by default)
        after they finish, then removed with their files.
        """
        return page_of(list_parser, JOBS)


@ns.route(id_route("job_id"))
@ns.doc(params={"job_id": id_param("Job id", example=1)})
class JobItem(Resource):
    """One job."""

    @ns.doc(id="getJob")
    @auth_required(ns, admin=True)
    @problems(ns, 404, 429, d404="No such job (or it was removed after JOB_RETENTION_DAYS)")
    @conditional_read(ns)
    @ns.marshal_with(
        Job,
        description="The job; while it is queued or running, Retry-After says when to ask again",
    )
    def get(self, job_id):
        """Return a job: its status, progress, result and errors (admin).

        Admin only. Poll it until `status` is final (`succeeded`, `failed` or `cancelled`); while it
        is not, the response carries `Retry-After` (seconds). `progress` counts what is committed,
        so it never goes back, even when a worker dies and another resumes the job. `result` holds
        the counts so far; `errors` the first 1000 problems (an import's bad lines, with the file's
        line numbers), `error_count` all of them. The `ETag` changes with every step: send it in
        `If-None-Match` for a bodiless 304 while nothing moved.
        """
        return _polled(read_job(job_id))


@ns.route(f"{id_route('job_id')}/cancel")
# Try it out cancels nothing that exists.
@ns.doc(params={"job_id": id_param("Job id", example=NO_SUCH_ID)})
class JobCancel(Resource):
    """Cancelling a job."""

    @ns.doc(id="cancelJob")
    @auth_required(ns, admin=True)
    @problems(
        ns,
        404,
        409,
        429,
        d404="No such job",
        d409="The job is already final (succeeded, failed or cancelled)",
        examples={
            409: "Job 12 has already succeeded; only a queued or running job can be cancelled"
        },
    )
    @ns.marshal_with(Job, description="Cancelled: the job as it stopped")
    def post(self, job_id):
        """Cancel a queued or running job (admin); what it committed stays.

        Admin only. The job is `cancelled` at once and its worker stops at the end of the chunk it
        is on, which is rolled back: an import keeps the chunks committed before (`result` counts
        them), an export leaves no file. A job that is already final is a 409. The job stays
        readable until it is removed with the others after `JOB_RETENTION_DAYS`.
        """
        return tagged(cancel_job(job_id))


@ns.route(f"{id_route('job_id')}/download")
@ns.doc(params={"job_id": id_param("Job id", example=1)})
class JobDownload(Resource):
    """What a job made."""

    @ns.doc(id="downloadJobFile")
    @auth_required(ns, admin=True)
    @ns.produces(["text/csv", PROBLEM_MEDIA_TYPE])
    @ns.response(200, "The file, as an attachment")
    @problems(
        ns,
        404,
        409,
        429,
        d404="No such job, or it makes no file (an import)",
        d409="The export has not succeeded (yet): poll the job",
        examples={409: "Job 12 is running; its file can be downloaded once it has succeeded"},
    )
    def get(self, job_id):
        """Download the CSV file a succeeded export wrote (admin).

        Admin only. `text/csv`, UTF-8, one row per order with a header row: the columns of the CSV
        order listing (`id`, `user_id`, `status`, `total_cents`, `created_at`, `updated_at`), cells
        that look like spreadsheet formulas prefixed with `'`. Streamed from the file the worker
        wrote. 409 while the export is not `succeeded`; 404 for a job without a file.
        """
        path = export_path(read_job(job_id), Path(current_app.config["JOB_FOLDER"]))
        # Not send_file: werkzeug would answer Range requests with a 206 no client expects,
        # and its file stays open until the server closes the response; this closes it once
        # the last byte is sent.
        return Response(
            _chunks(path),
            mimetype="text/csv",
            headers={
                "Content-Disposition": f'attachment; filename="job-{job_id}.csv"',
                "Content-Length": str(path.stat().st_size),
            },
        )


def _chunks(path: Path, size: int = 64 * 1024):
    with path.open("rb") as handle:
        while chunk := handle.read(size):
            yield chunk
