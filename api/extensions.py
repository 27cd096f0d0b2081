"""Extension objects, created unbound; ``create_app`` binds them to an app.

The rate limiter is the exception: it holds per-app settings and counters, so
``api.hooks.ratelimit`` builds one per app.
"""

from flask_jwt_extended import JWTManager
from flask_migrate import Migrate

jwt = JWTManager()
migrate = Migrate(render_as_batch=True, compare_type=True)
