"""Order exports (admin): every order matching a listing's filters, as a CSV file a job writes.

It extends the ``orders`` namespace; the module is separate to keep each file
about one thing.
"""

from flask_jwt_extended import current_user
from flask_restx import fields

from api.auth import auth_required
from api.errors import BODY_PROBLEMS, ApiProblem, problems
from api.jobs import submit
from api.restx.base import Resource
from api.restx.examples import request_example
from api.restx.fields import MAX_ID
from api.restx.parsers import utc_datetime
from models.order import ORDER_SORTS
from models.order_export import start_export
from namespaces.orders import ns
from namespaces.shared import (
    IDEMPOTENCY_HEADER,
    STATUSES,
    Job,
    accepted,
    idempotency_parameter,
)

SORTS = [*ORDER_SORTS, *(f"-{key}" for key in ORDER_SORTS)]

ExportInput = ns.model(
    "OrderExportInput",
    {
        "status": fields.String(
            enum=STATUSES, example="paid", description="Only orders in this state"
        ),
        "user_id": fields.Integer(
            min=1, max=MAX_ID, example=2, description="Only this user's orders"
        ),
        "created_from": fields.DateTime(
            example="2026-11-01T00:00:00Z",
            description="Placed at or after this RFC 3339 time (UTC when it has no offset)",
        ),
        "created_to": fields.DateTime(
            example="2026-12-01T00:00:00Z", description="Placed before this RFC 3339 time"
        ),
        "sort": fields.String(
            enum=SORTS,
            example="-created_at",
            description="The file's order: created_at or total_cents, - for descending, ties by "
            "id; by id when omitted",
        ),
    },
    strict=True,
)
key_parser, IDEMPOTENCY_PARAM = idempotency_parameter(
    "a retry with the same key and the same filters returns the job the first request started "
    "instead of starting another; the same key with other filters is a 409."
)


@ns.route("/exports")
class OrderExports(Resource):
    """Order exports."""

    @ns.doc(id="createOrderExport", params={IDEMPOTENCY_HEADER: IDEMPOTENCY_PARAM})
    @auth_required(ns, admin=True)
    @ns.expect(ExportInput, validate=True)
    @request_example(ns, {"status": "paid", "sort": "-created_at"})
    @problems(
        ns,
        *BODY_PROBLEMS,
        409,
        429,
        d409="The Idempotency-Key was used with other filters",
        examples={409: "This Idempotency-Key was already used with other filters; use a new key"},
    )
    @ns.response(202, "Accepted: poll the job at Location", Job)
    def post(self):
        """Export orders to a CSV file (admin): 202, then a worker writes it as a job.

        Admin only. The body takes the filters of `GET /orders`, all optional (`{}` exports every
        order): `status`, `user_id`, `created_from` (inclusive), `created_to` (exclusive), `sort`.
        The job counts the matching orders in `progress.total` and writes them, one row per order,
        with the columns of the CSV order listing; once it `succeeded`, its `_links.download`
        serves the file. The file reflects the orders as the worker reads them, not as they were
        when the export was asked for.
        """
        started = start_export(
            user_id=current_user.id,
            filters=_filters(ns.payload),
            idempotency_key=key_parser.parse_args()["idempotency_key"],
        )
        return accepted(submit(*started))


def _filters(body: dict) -> dict:
    """The body's filters, its times in UTC; a time Python cannot represent is a 422."""
    filters = dict(body)
    for name in ("created_from", "created_to"):
        if name in filters:
            try:
                filters[name] = utc_datetime(filters[name])
            except (ValueError, OverflowError):
                raise ApiProblem(
                    422, "The request body has invalid values", errors={name: ["is out of range"]}
                ) from None
    return filters
