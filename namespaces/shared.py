"""Restx models and fields that several resources share.

A resource's namespace module imports no other resource's module; what two of
them both show (a ``User``, an ``Order``, the email, name and password fields)
is declared here once. ``shared`` is a namespace without routes: registering
it registers these models with the Api, and restx lists no tag for it.
"""

from flask import url_for
from flask_restx import fields

from api.http.links import link, links_to
from api.http.pagination import page_model, sort_argument
from api.restx.fields import MAX_ID, NullableModel, Timestamp, links, nullable, text
from api.restx.parsers import bounded_int, make_parser, token, utc_datetime
from api.restx.serialize import Namespace, marshal
from models.emails import EMAIL_MAX_LENGTH, EMAIL_PATTERN
from models.job import IDEMPOTENCY_KEY_MAX_LENGTH, MAX_ERRORS, STATUS_MEANINGS, JobKind
from models.order import ORDER_SORTS, Status
from models.user import (
    MAX_AGE,
    NAME_MAX_LENGTH,
    PASSWORD_MAX_LENGTH,
    PASSWORD_MIN_LENGTH,
    Role,
)

shared = Namespace("shared", description="Models shared by several resources")

# The rate-limit budget of attempts at one's own current password, per user:
# POST /auth/password and the edits of /users/{id} that need current_password
# spend it alike (RATELIMIT_LOGIN), or one door would be a way around the other.
CURRENT_PASSWORD_GUESSES = "api.auth_password"  # noqa: S105 (a counter's name)

ROLES = [role.value for role in Role]
UserLinks = links(
    shared,
    "UserLinks",
    "/api/v1/users/1",
    orders=("The user's orders", "/api/v1/users/1/orders"),
)
User = shared.model(
    "User",
    {
        "id": fields.Integer(required=True, readonly=True, example=1, description="User id"),
        "email": fields.String(required=True, example="ada@example.com", description="Login email"),
        "name": fields.String(required=True, example="Ada Lovelace", description="Display name"),
        "age": fields.Integer(min=0, max=MAX_AGE, example=36, description="Age, when given"),
        "role": fields.String(required=True, enum=ROLES, example="customer", description="Role"),
        "created_at": Timestamp(required=True, readonly=True, description="Creation time (UTC)"),
        "updated_at": Timestamp(required=True, readonly=True, description="Last change (UTC)"),
        "_links": fields.Nested(
            UserLinks,
            required=True,
            attribute=links_to(
                self=link("api.users_user_item", "user_id"),
                orders=link("api.users_user_orders", "user_id"),
            ),
        ),
    },
)


# What the schema cannot say about an email is said here, once (see models/emails.py).
EMAIL_DESCRIPTION = (
    "Login email, unique among live users. Stored and compared in one normal form (NFKC, then "
    "lower-cased), so addresses that differ only in case or width are one account. The pattern "
    "refuses spaces, controls, invisible and bidirectional-control characters (zero-width "
    "characters, right-to-left override, byte order mark, soft hyphen), characters whose "
    "normal form holds one of them or an @, and any character beyond U+FFFF (where tag "
    "characters and more invisible ones lie, which a pattern cannot single out in both "
    "ECMAScript and Python). Once normalised the address must still be at most "
    f"{EMAIL_MAX_LENGTH} characters long (some letters grow when lower-cased): the one case "
    "where a request the schema allows is a 422, naming the rule."
)


def email_field(*, required: bool):
    """The email input field, shared with registration."""
    return text(
        EMAIL_DESCRIPTION,
        required=required,
        min_length=3,
        max_length=EMAIL_MAX_LENGTH,
        pattern=EMAIL_PATTERN,
        example="ada@example.com",
    )


def password_field(*, required: bool):
    """The password input field, shared with registration; never returned."""
    return text(
        "Password; stored only as an argon2id hash",
        required=required,
        min_length=PASSWORD_MIN_LENGTH,
        max_length=PASSWORD_MAX_LENGTH,
        example="correct horse battery",
    )


def name_field(*, required: bool):
    """The display-name input field, shared with registration."""
    return text(
        "Display name",
        required=required,
        min_length=1,
        max_length=NAME_MAX_LENGTH,
        example="Ada Lovelace",
    )


STATUSES = [status.value for status in Status]

OrderLineLinks = links(shared, "OrderLineLinks", "/api/v1/products/1")
OrderLine = shared.model(
    "OrderLine",
    {
        "product_id": fields.Integer(required=True, example=1, description="The product"),
        "quantity": fields.Integer(required=True, min=1, example=2, description="Units"),
        "unit_price_cents": fields.Integer(
            required=True, min=0, example=1299, description="Price per unit when ordered"
        ),
        "_links": fields.Nested(
            OrderLineLinks,
            required=True,
            attribute=links_to(
                self=link("api.products_product_item", "product_id", attribute="product_id")
            ),
        ),
    },
)
OrderLinks = links(shared, "OrderLinks", "/api/v1/orders/1", user=("The owner", "/api/v1/users/1"))
Order = shared.model(
    "Order",
    {
        "id": fields.Integer(required=True, readonly=True, example=1, description="Order id"),
        "user_id": fields.Integer(required=True, example=1, description="The owner"),
        "status": fields.String(
            required=True, enum=STATUSES, example="pending", description="State"
        ),
        "total_cents": fields.Integer(
            required=True, min=0, example=2598, description="Sum of quantity x unit price"
        ),
        "items": fields.List(fields.Nested(OrderLine), required=True, description="Product lines"),
        "created_at": Timestamp(required=True, readonly=True, description="Placed at (UTC)"),
        "updated_at": Timestamp(required=True, readonly=True, description="Last change (UTC)"),
        "_links": fields.Nested(
            OrderLinks,
            required=True,
            attribute=links_to(
                self=link("api.orders_order_item", "order_id"),
                user=link("api.users_user_item", "user_id", attribute="user_id"),
            ),
        ),
    },
)
OrderPage = page_model(shared, "OrderPage", Order)


def order_filters(parser, *, user_id: bool):
    """Add the filters and sort of an order listing to ``parser`` (from ``page_parser``).

    ``user_id``: the listing filters by user in its query (``/orders``), rather
    than taking the user from its path (``/users/{user_id}/orders``).
    """
    parser.add_argument("status", choices=STATUSES, location="args", help="Only this state")
    if user_id:
        parser.add_argument(
            "user_id",
            type=bounded_int(1, MAX_ID),
            location="args",
            help="Only this user's (admins)",
        )
    parser.add_argument(
        "created_from",
        type=utc_datetime,
        location="args",
        help="Placed at or after this RFC 3339 time",
    )
    parser.add_argument(
        "created_to", type=utc_datetime, location="args", help="Placed before this time"
    )
    sort_argument(parser, ORDER_SORTS)
    return parser


# --- jobs: what the import and export operations answer, and the jobs resource --------

# Seconds a client is asked to wait before polling a job again.
RETRY_AFTER_SECONDS = 2
JOB_STATUSES = [status.value for status in STATUS_MEANINGS]
JOB_KINDS = [kind.value for kind in JobKind]
JOB_STATUS_DESCRIPTION = "The job's state: " + "; ".join(
    f"`{status.value}`: {meaning}" for status, meaning in STATUS_MEANINGS.items()
)
JobLinks = links(
    shared,
    "JobLinks",
    "/api/v1/jobs/1",
    cancel=("Cancels it (while queued or running)", "/api/v1/jobs/1/cancel"),
    download=(
        "The exported file (a succeeded export only)",
        "/api/v1/jobs/1/download",
    ),
)
JobProgress = shared.model(
    "JobProgress",
    {
        "done": fields.Integer(
            required=True,
            min=0,
            example=1500,
            description="Units done and committed: lines of an import's file, orders of an export",
        ),
        "total": nullable(
            fields.Integer(
                required=True,
                min=0,
                example=10000,
                description="Units in all (the file's lines after the header; the orders to "
                "export); null until known",
            )
        ),
    },
)
JobError = shared.model(
    "JobError",
    {
        "line": nullable(
            fields.Integer(
                required=True,
                min=2,
                example=12,
                description="The file's line number (the header is line 1); null for an "
                "error of the whole job",
            )
        ),
        "field": nullable(
            fields.String(
                required=True,
                example="price_cents",
                description="The column at fault; null when it is the line as a whole",
            )
        ),
        "message": fields.String(
            required=True, example="must be at least 0", description="What is wrong, to fix it"
        ),
    },
)
JOB_RESULT_FIELDS = {
    "created": fields.Integer(
        min=0, example=120, description="Import: products created (or, dry run, that would be)"
    ),
    "updated": fields.Integer(
        min=0, example=30, description="Import: live products replaced (or that would be)"
    ),
    "failed": fields.Integer(
        min=0, example=2, description="Import: lines reported in errors and not applied"
    ),
    "dry_run": fields.Boolean(
        example=False, description="Import: true when the file was only checked, nothing written"
    ),
    "rows": fields.Integer(min=0, example=5000, description="Export: orders written to the file"),
}
JobResult = shared.add_model(
    "JobResult",
    NullableModel("JobResult", JOB_RESULT_FIELDS),
)
Job = shared.model(
    "Job",
    {
        "id": fields.Integer(required=True, readonly=True, example=1, description="Job id"),
        "kind": fields.String(
            required=True,
            enum=JOB_KINDS,
            example="product_import",
            description="What the job does: `product_import` (POST /products/imports) or "
            "`order_export` (POST /orders/exports)",
        ),
        "status": fields.String(
            required=True,
            enum=JOB_STATUSES,
            example="running",
            description=JOB_STATUS_DESCRIPTION,
        ),
        "progress": fields.Nested(JobProgress, required=True),
        # Described by its model: a bare $ref, so that null passes in both documents.
        "result": fields.Nested(JobResult, required=True, allow_null=True, skip_none=True),
        "errors": fields.List(
            fields.Nested(JobError),
            required=True,
            description=f"The first {MAX_ERRORS} problems, in file order (an import's bad "
            "lines); `error_count` counts them all",
        ),
        "error_count": fields.Integer(
            required=True, min=0, example=2, description="How many problems there are in all"
        ),
        "detail": nullable(
            fields.String(
                required=True,
                example="Cancelled on request",
                description="Why it failed or stopped; null otherwise",
            )
        ),
        "created_at": Timestamp(required=True, readonly=True, description="Accepted at (UTC)"),
        "started_at": nullable(
            Timestamp(
                required=True,
                readonly=True,
                description="First picked up by a worker (UTC); null until then",
            )
        ),
        "finished_at": nullable(
            Timestamp(
                required=True,
                readonly=True,
                description="Reached its final status (UTC); null until then",
            )
        ),
        "_links": fields.Nested(
            JobLinks,
            required=True,
            skip_none=True,
            attribute=links_to(
                self=link("api.jobs_job_item", "job_id"),
                cancel=link("api.jobs_job_cancel", "job_id", when="cancellable"),
                download=link("api.jobs_job_download", "job_id", when="downloadable"),
            ),
        ),
    },
)
JobPage = page_model(shared, "JobPage", Job, skip_none=False)


def accepted(job) -> tuple:
    """The 202 answer of an operation that started ``job``: the job, its URL, when to poll it."""
    headers = {
        "Location": url_for("api.jobs_job_item", job_id=job.id),
        "Retry-After": str(RETRY_AFTER_SECONDS),
    }
    return marshal(job, Job), 202, headers


IDEMPOTENCY_HEADER = "Idempotency-Key"


def idempotency_parameter(replay: str) -> tuple:
    """The ``Idempotency-Key`` header of an operation that starts a job: (its parser, its spec).

    ``replay`` says what a retry with the same key gets.
    """
    key = token(IDEMPOTENCY_KEY_MAX_LENGTH)
    parser = make_parser()
    parser.add_argument(
        IDEMPOTENCY_HEADER,
        dest="idempotency_key",
        type=key,
        location="headers",
        help="Makes retries safe",
    )
    spec = {
        "in": "header",
        **key.__schema__,
        "description": f"Any unique string (a UUID): {replay} Keys are remembered for 24 hours, "
        "per user.",
    }
    return parser, spec
