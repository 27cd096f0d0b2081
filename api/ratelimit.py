"""Rate limits: one flask-limiter ``Limiter`` per app, limits declared on resources.

flask-limiter keeps its switch, storage and default limits on the ``Limiter``
object itself, so a module-level instance shared by several apps (every test
builds its own) would run with whichever app initialised it last. Each app gets
its own here; a resource names the setting that holds its limit instead of
decorating itself with one particular limiter.
"""

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

DEFAULT_LIMIT = "RATELIMIT_DEFAULT"


def limited_by(setting: str):
    """Class decorator: limit a resource by the config ``setting`` (e.g. ``RATELIMIT_LOGIN``)."""

    def decorate(resource_class):
        resource_class.rate_limit = setting
        return resource_class

    return decorate


def unlimited(resource_class):
    """Class decorator: exempt a resource from every limit (health probes)."""
    resource_class.rate_limit = None
    return resource_class


def init_rate_limits(app) -> Limiter:
    """Build the app's limiter and apply each registered resource's declared limit.

    Call it after the API is registered: limits attach to the view functions.
    """
    config = app.config
    limiter = Limiter(
        key_func=get_remote_address,
        default_limits=[lambda: config[DEFAULT_LIMIT]],
        storage_uri=config["RATELIMIT_STORAGE_URI"],
        headers_enabled=True,
        enabled=config["RATELIMIT_ENABLED"],
    )
    limiter.init_app(app)
    for endpoint, view in list(app.view_functions.items()):
        setting = getattr(getattr(view, "view_class", None), "rate_limit", DEFAULT_LIMIT)
        # A decorated limit is checked by the wrapper it returns, so the wrapper
        # replaces the registered view.
        if setting is None:
            app.view_functions[endpoint] = limiter.exempt(view)
        elif setting != DEFAULT_LIMIT:
            app.view_functions[endpoint] = limiter.limit(lambda s=setting: config[s])(view)
    app.extensions["storefront.limiter"] = limiter
    return limiter
