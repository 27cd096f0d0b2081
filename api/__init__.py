"""The application factory: ``create_app`` reads as the list of what it wires."""

from pathlib import Path

from flask import Blueprint, Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from api.auth import AUTHORIZATIONS, init_auth
from api.cli import register_commands
from api.compression import init_compression
from api.config import check_production_safety, settings_from_env
from api.cors import init_cors
from api.docs_pages import register_docs_pages
from api.errors import Problem, register_error_handlers
from api.extensions import migrate
from api.http import NoCookieSessions, StorefrontFlask
from api.metrics import init_metrics
from api.observability import configure_logging, register_request_id
from api.openapi import register_spec_route
from api.page_counts import init_page_counts
from api.ratelimit import init_rate_limits
from api.request_log import register_request_log
from api.restx import StorefrontApi
from api.security_headers import register_security_headers
from models import db
from models.user import configure_password_hashing

API_PREFIX = "/api/v1"
API_DESCRIPTION = """\
A store's catalog, customers and orders.

**Auth**: `POST /api/v1/auth/login` returns a JWT access token; click *Authorize*
and enter `Bearer <access_token>`. Reads of the catalog are public; writes need an
admin.

**Errors** are `application/problem+json` (RFC 9457) with `status`, `title`,
`detail`, `instance`, `request_id`, and `errors` (per field) on validation
failures: 400 for a body of the wrong shape, 422 for a value out of bounds.

**Collections** are paged with `page` and `per_page` (at most 100); the envelope
carries `total`, `pages` and `_links`, mirrored in the `Link` header. Products and
orders also take `after`, an opaque keyset cursor: the `next` link of every page
but the last carries one, and a page after a cursor costs the same at any depth.
`total` is counted for every request while under 1,000; a larger count may be
reused for up to 10 seconds by the server process that made it, which forgets it
on its own next write, so a write made through another process can take that long
to show (the defaults of `PAGE_COUNT_CACHE_MIN` and `PAGE_COUNT_CACHE_SECONDS`).

**Caching and concurrency**: single resources carry an `ETag`; `If-None-Match`
answers 304 while it is current, and a stale `If-Match` on PUT, PATCH or DELETE
answers 412. **Retries**: send an `Idempotency-Key` with `POST /api/v1/orders`
and a retry returns the original response instead of a second order.

**Formats**: JSON by default; `application/xml` and, on product and order
listings, `text/csv` where an operation lists them; any other `Accept` is a 406.
"""


def create_app(config: dict | None = None) -> Flask:
    """Build the app from the environment, with ``config`` overriding any setting."""
    app = StorefrontFlask(
        __name__, instance_path=str(Path(__file__).resolve().parent.parent / "instance")
    )
    app.config.update(settings_from_env(root=Path(app.root_path).parent))
    app.config.update(config or {})
    check_production_safety(app.config)
    configure_app(app)

    configure_logging(app)
    register_request_id(app)
    register_request_log(app)
    register_extensions(app)
    register_api(app)
    init_rate_limits(app)
    register_error_handlers(app)
    register_commands(app)
    register_docs_pages(app)
    register_security_headers(app)
    init_cors(app)
    init_compression(app)
    init_metrics(app)
    return app


def configure_app(app: Flask) -> None:
    """Settings that follow from the others, and flask-restx's safe defaults."""
    app.config.update(
        ERROR_INCLUDE_MESSAGE=False,
        RESTX_ERROR_404_HELP=False,
        RESTX_MASK_SWAGGER=False,
        RESTX_MASK_HEADER=None,
        SWAGGER_UI_DOC_EXPANSION="list",
        SWAGGER_UI_OPERATION_ID=True,
        SWAGGER_UI_REQUEST_DURATION=True,
        PROPAGATE_EXCEPTIONS=False,
    )
    app.json.sort_keys = False  # problems read type, title, status, detail... in order
    app.session_interface = NoCookieSessions()
    if app.config["APP_ENV"] == "production":
        app.debug = False
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///"):
        Path(app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///")).parent.mkdir(
            parents=True, exist_ok=True
        )
    if app.config["BEHIND_PROXY"]:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1, x_prefix=1)


def register_extensions(app: Flask) -> None:
    """Bind the database (and its listings' count cache), migrations and JWT to ``app``."""
    db.init_app(app)
    init_page_counts(app)
    migrate.init_app(app, db, directory=str(Path(app.root_path).parent / "migrations"))
    init_auth(app)
    configure_password_hashing(
        time_cost=app.config["ARGON2_TIME_COST"], memory_cost=app.config["ARGON2_MEMORY_KIB"]
    )


def register_api(app: Flask) -> None:
    """Build the restx Api on a fresh Blueprint and register every namespace."""
    # Imported here: namespaces import api helpers, and only the factory registers them.
    from namespaces import NAMESPACES  # noqa: PLC0415

    blueprint = Blueprint("api", __name__)
    api = StorefrontApi(
        blueprint,
        title="Storefront API",
        version="1.0.0",
        description=API_DESCRIPTION,
        doc="/docs",
        authorizations=AUTHORIZATIONS,
        catch_all_404s=True,
        validate=True,
        contact="Storefront API team",
        contact_email="api@example.com",
        license="MIT",
        license_url="https://opensource.org/licenses/MIT",
    )
    api.models[Problem.name] = Problem
    for namespace in NAMESPACES:
        api.add_namespace(namespace)
    app.register_blueprint(blueprint)
    register_spec_route(app, f"{API_PREFIX}/swagger.json")
    app.extensions["storefront.api"] = api
