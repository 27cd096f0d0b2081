"""The domain: SQLAlchemy models and the keyword-only functions that change them.

This is the bottom layer: it imports nothing of ``api`` or ``namespaces``, so the
``db`` object lives here and the app factory registers it.
"""

from models.base import db, is_database_ready
from models.cache_generation import CacheGeneration
from models.errors import (
    ConflictError,
    DomainError,
    ForbiddenError,
    InvalidCredentialsError,
    InvalidValueError,
    NotFoundError,
    PreconditionFailedError,
)
from models.job import Job, JobKind, JobStatus
from models.order import IdempotencyKey, Order, OrderItem, Status
from models.product import Product
from models.ratelimit import RateLimitWindow
from models.token import RevokedToken
from models.user import Role, User

__all__ = [
    "CacheGeneration",
    "ConflictError",
    "DomainError",
    "ForbiddenError",
    "IdempotencyKey",
    "InvalidCredentialsError",
    "InvalidValueError",
    "Job",
    "JobKind",
    "JobStatus",
    "NotFoundError",
    "Order",
    "OrderItem",
    "PreconditionFailedError",
    "Product",
    "RateLimitWindow",
    "RevokedToken",
    "Role",
    "Status",
    "User",
    "db",
    "is_database_ready",
]
