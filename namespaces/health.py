"""Liveness and readiness probes for load balancers and orchestrators."""

from flask_restx import fields

from api.auth import public, redis_status
from api.errors import ApiProblem, problems
from api.hooks.ratelimit import unlimited
from api.restx.base import Resource
from api.restx.serialize import Namespace
from models import is_database_ready

ns = Namespace("health", description="Liveness and readiness probes", path="/")

Health = ns.model(
    "Health",
    {"status": fields.String(required=True, enum=["ok"], example="ok", description="Always ok")},
)
ReadinessChecks = ns.model(
    "ReadinessChecks",
    {
        "database": fields.String(
            required=True, enum=["ok"], example="ok", description="The database answered a query"
        ),
        "redis": fields.String(
            enum=["ok", "unavailable"],
            example="ok",
            description=(
                "Only when REDIS_URL is set: whether Redis answered. Unavailable degrades, never"
                " fails: revoked tokens are checked in the database, rate limits counted in"
                " process, and the instance stays ready"
            ),
        ),
    },
)
Readiness = ns.model(
    "Readiness",
    {
        "status": fields.String(
            required=True, enum=["ready"], example="ready", description="Always ready"
        ),
        "database": fields.String(
            required=True, enum=["ok"], example="ok", description="The database answered"
        ),
        # Each dependency and its state (a plain reference: its fields say what they mean).
        "checks": fields.Nested(ReadinessChecks, required=True, skip_none=True),
    },
)


@ns.route("/health")
@unlimited
class Liveness(Resource):
    """The process is up and serving requests."""

    @ns.doc(id="getHealth")
    @public(ns)
    @ns.marshal_with(Health)
    def get(self):
        """Liveness: answers 200 while the process serves requests.

        Public, never rate-limited, and touches no database or other dependency: use it to decide
        whether to restart the process, and `/ready` to decide whether to send it traffic. The body
        is always `{"status": "ok"}`.
        """
        return {"status": "ok"}


@ns.route("/ready")
@unlimited
class Ready(Resource):
    """The process can do useful work: its database answers (Redis, when set, is optional)."""

    @ns.doc(id="getReadiness")
    @public(ns)
    @problems(
        ns, 503, d503="The database is unreachable", examples={503: "The database is unreachable"}
    )
    @ns.marshal_with(Readiness)
    def get(self):
        """Readiness: 200 when the database answers a query, else a 503 problem.

        Public and never rate-limited. Runs a trivial query on the configured database on every
        call; when it fails the answer is a 503 `application/problem+json`, so a load balancer can
        take the instance out of rotation until the database is back. With `REDIS_URL` set it also
        pings Redis and reports it in `checks.redis`: `unavailable` is a degraded but ready
        instance (still 200), since nothing needs Redis to answer correctly.
        """
        if not is_database_ready():
            raise ApiProblem(503, "The database is unreachable")
        checks = {"database": "ok", "redis": redis_status()}
        return {"status": "ready", "database": "ok", "checks": checks}
