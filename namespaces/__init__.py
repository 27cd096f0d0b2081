"""The HTTP surface: one flask-restx Namespace per resource.

Only the app factory registers them (``api.register_api``).
"""

from namespaces.auth import ns as auth_ns
from namespaces.health import ns as health_ns
from namespaces.products import ns as products_ns

NAMESPACES = (auth_ns, products_ns, health_ns)
