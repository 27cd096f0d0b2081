"""The application factory: ``create_app`` reads as the list of what it wires."""

from pathlib import Path

from flask import Blueprint, Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from api.app import NoCookieSessions, StorefrontFlask
from api.auth import AUTHORIZATIONS, register_auth
from api.cli import register_commands
from api.config import check_production_safety, settings_from_env
from api.docs.pages import register_docs_pages
from api.docs.spec import DESCRIPTION, register_spec_route
from api.errors import Problem, register_error_handlers
from api.extensions import migrate
from api.hooks.cache_control import register_cache_control
from api.hooks.compression import register_compression
from api.hooks.cors import register_cors
from api.hooks.metrics import register_metrics
from api.hooks.observability import register_logging, register_request_id
from api.hooks.ratelimit import register_rate_limits
from api.hooks.request_log import register_request_log
from api.hooks.response_cache import register_generation, register_response_cache
from api.hooks.security_headers import register_security_headers
from api.http.page_counts import register_page_counts
from api.jobs import register_jobs
from api.restx.base import StorefrontApi
from models import db

API_PREFIX = "/api/v1"


def create_app(config: dict | None = None) -> Flask:
    """Build the app from the environment, with ``config`` overriding any setting.

    The order of the calls is the order the pieces depend on each other; where
    it matters, the comment says why. ``docs/architecture.md`` shows the hooks
    in the order they run around a request.
    """
    app = StorefrontFlask(
        __name__, instance_path=str(Path(__file__).resolve().parent.parent / "instance")
    )
    app.config.update(settings_from_env(root=Path(app.root_path).parent))
    app.config.update(config or {})
    check_production_safety(app.config)
    register_settings(app)
    # Logging, then the request id: every hook and view after them may log, and
    # each line carries the id. The id's hooks, registered first, run first
    # before the view and last after it, so every response the after-request
    # hooks see, a 429 or a problem included, echoes it.
    register_logging(app)
    register_request_id(app)
    register_request_log(app)
    register_database(app)
    register_auth(app)
    register_api(app)
    # After the API: job runners read its input and output models.
    register_jobs(app)
    # After the API: the limiter reads each registered resource's declared limit.
    register_rate_limits(app)
    register_error_handlers(app)
    register_commands(app)
    # After the limiter: it exempts the docs' assets, as it does static files.
    register_docs_pages(app)
    register_security_headers(app)
    register_cache_control(app)
    # After the limiter: CORS preflights and /metrics scrapes are exempt from it.
    register_cors(app)
    register_metrics(app)
    # Next to last: its after-request hooks run right after the cache's, on the view's body.
    register_compression(app)
    # Last: its before-request lookup runs after the request id and the limiter
    # (a hit is counted and can be a 429), and its after-request hook runs
    # first of all, storing the view's own response: uncompressed, without the
    # per-client headers the hooks after it add to hits and misses alike.
    register_response_cache(app)
    return app


def register_settings(app: Flask) -> None:
    """Settings that follow from the others, and flask-restx's safe defaults."""
    app.config.update(
        ERROR_INCLUDE_MESSAGE=False,
        RESTX_ERROR_404_HELP=False,
        RESTX_MASK_SWAGGER=False,
        RESTX_MASK_HEADER=None,
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


def register_database(app: Flask) -> None:
    """Bind the database, its listings' count cache, the cache generation and migrations."""
    db.init_app(app)
    register_page_counts(app)
    # Whether or not this app caches responses: others on this database may.
    register_generation(app)
    migrate.init_app(app, db, directory=str(Path(app.root_path).parent / "migrations"))


def register_api(app: Flask) -> None:
    """Build the restx Api on a fresh Blueprint and register every namespace."""
    # Imported here: namespaces import api helpers, and only the factory registers them.
    from namespaces import NAMESPACES  # noqa: PLC0415

    blueprint = Blueprint("api", __name__)
    api = StorefrontApi(
        blueprint,
        title="Storefront API",
        version="1.3.0",
        description=DESCRIPTION,
        # /docs is api.docs.pages' own page, on the OpenAPI 3 document.
        doc=False,
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
