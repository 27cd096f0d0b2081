"""The HTTP surface: one flask-restx Namespace per resource.

Only the app factory registers them (``api.register_api``).
"""

from namespaces.auth import ns as auth_ns
from namespaces.health import ns as health_ns
from namespaces.jobs import ns as jobs_ns
from namespaces.order_exports import OrderExports
from namespaces.orders import ns as orders_ns
from namespaces.product_images import ProductImage
from namespaces.product_imports import ProductImports
from namespaces.products import ns as products_ns
from namespaces.products_bulk import ProductBulk
from namespaces.shared import shared
from namespaces.users import ns as users_ns

# In the order of the story, which is the documents' order of tags: log in,
# browse and manage the catalog, order, manage accounts, follow long work, probe
# the service.
NAMESPACES = (shared, auth_ns, products_ns, orders_ns, users_ns, jobs_ns, health_ns)
# Imported for their routes, which they add to the products namespace.
__all__ = ["NAMESPACES", "OrderExports", "ProductBulk", "ProductImage", "ProductImports"]
