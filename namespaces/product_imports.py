"""Catalog imports (admin): a CSV file of products, applied by a worker as a job.

It extends the ``products`` namespace; the module is separate to keep each
file about one thing.
"""

from contextlib import closing
from pathlib import Path

from flask import current_app, request
from flask_jwt_extended import current_user
from werkzeug.datastructures import FileStorage

from api.auth import auth_required
from api.errors import ApiProblem, problems
from api.jobs import submit
from api.restx.base import Resource
from api.restx.parsers import boolean, make_parser
from models.catalog_import import HEADER, start_import
from namespaces.products import ns
from namespaces.shared import IDEMPOTENCY_HEADER, Job, accepted, idempotency_parameter

MEGABYTE = 1024 * 1024
# Multipart framing around the file; the file itself is checked exactly.
MULTIPART_OVERHEAD = 64 * 1024
COLUMNS = ",".join(HEADER)

import_parser = make_parser()
import_parser.add_argument(
    "file",
    type=FileStorage,
    location="files",
    required=True,
    help=f"A CSV file, UTF-8 (with or without a BOM), whose first line is {COLUMNS}; at most "
    "MAX_IMPORT_MB (20 MB)",
)
import_parser.add_argument(
    "dry_run",
    type=boolean,
    location="args",
    default=False,
    help="true: check every line and report what would change, without changing anything",
)
key_parser, IDEMPOTENCY_PARAM = idempotency_parameter(
    "a retry with the same key and the same file returns the job the first request started "
    "instead of starting another; the same key with another file is a 409."
)


BAD_HEADER = "The first line must be the header sku,name,description,price_cents,stock"


@ns.route("/imports")
class ProductImports(Resource):
    """Catalog imports."""

    @ns.doc(id="createProductImport", params={IDEMPOTENCY_HEADER: IDEMPOTENCY_PARAM})
    @auth_required(ns, admin=True)
    @ns.expect(import_parser)
    @problems(
        ns,
        400,
        409,
        413,
        415,
        422,
        429,
        d400="No file in the multipart body, or a malformed dry_run",
        d409="The Idempotency-Key was used with another file",
        d413="The file is over MAX_IMPORT_MB",
        d415="Not multipart/form-data",
        d422="Not a catalog CSV: not UTF-8 text, or its first line is not the header",
        examples={
            400: {"detail": "Invalid form field", "errors": {"file": ["is required"]}},
            409: "This Idempotency-Key was already used with a different file; use a new key",
            413: "The file is larger than MAX_IMPORT_MB (20 MB)",
            415: "Send the file as multipart/form-data",
            422: {"detail": BAD_HEADER, "errors": {"file": [BAD_HEADER]}},
        },
    )
    @ns.response(202, "Accepted: poll the job at Location", Job)
    def post(self):
        """Import products from a CSV file (admin): 202, then a worker applies it as a job.

        Admin only. Send multipart/form-data with one file in the field `file`: UTF-8 CSV (a BOM is
        fine), first line `sku,name,description,price_cents,stock`, then one product per line. Each
        line is checked as a `POST /products` body (an empty cell is an omitted field); a line whose
        SKU belongs to a live product replaces its fields as PUT would, any other creates one; a SKU
        repeated in the file counts on its first line only. Valid lines are applied in chunks of
        500, each committed on its own; bad lines are reported in the job's `errors` with their line
        numbers (the header is line 1) and not applied. Running the same file again is safe.
        `dry_run=true` checks only. The size (MAX_IMPORT_MB), the encoding and the header are
        checked at once (413, 422); the rest happens in the job, at `Location`.
        """
        args = _upload_args()
        # Closed after: a large upload is spooled to a temporary file.
        with closing(args["file"]) as upload:
            started = start_import(
                stream=upload.stream,
                folder=Path(current_app.config["JOB_FOLDER"]),
                max_bytes=_max_bytes(),
                user_id=current_user.id,
                dry_run=args["dry_run"],
                idempotency_key=key_parser.parse_args()["idempotency_key"],
            )
        return accepted(submit(*started))


def _max_bytes() -> int:
    return int(current_app.config["MAX_IMPORT_MB"] * MEGABYTE)


def _upload_args() -> dict:
    """The parsed multipart request: its file and ``dry_run``; 415, 413 or 400 otherwise."""
    if request.mimetype != "multipart/form-data":
        raise ApiProblem(415, "Send the file as multipart/form-data, in a field named file")
    request.max_content_length = _max_bytes() + MULTIPART_OVERHEAD
    return import_parser.parse_args()
