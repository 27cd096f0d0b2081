"""Liveness and readiness probes for load balancers and orchestrators."""

from flask_restx import fields

from api.auth import public
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
Readiness = ns.model(
    "Readiness",
    {
        "status": fields.String(
            required=True, enum=["ready"], example="ready", description="Always ready"
        ),
        "database": fields.String(
            required=True, enum=["ok"], example="ok", description="The database answered"
        ),
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
    """The process can do useful work: its database answers."""

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
        take the instance out of rotation until the database is back. It checks nothing else.
        """
        if not is_database_ready():
            raise ApiProblem(503, "The database is unreachable")
        return {"status": "ready", "database": "ok"}
