"""Orders: placing them atomically, moving them through their states."""

import enum
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Select,
    String,
    Text,
    UniqueConstraint,
    bindparam,
    insert,
    select,
    update,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship, selectinload

from models.base import (
    IdType,
    Listing,
    Ordering,
    TimestampedMixin,
    check_version,
    db,
    transaction,
    upsert_insert,
    utcnow,
)
from models.errors import ConflictError, ForbiddenError, NotFoundError
from models.product import Product
from models.user import User

MAX_ITEMS = 100
MAX_QUANTITY = 10_000
IDEMPOTENCY_TTL = timedelta(hours=24)
IDEMPOTENCY_KEY_MAX_LENGTH = 255


class Status(enum.StrEnum):
    """Where an order is in its life."""

    PENDING = "pending"
    PAID = "paid"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"


# The legal moves; a cancellation puts the stock back.
TRANSITIONS = {
    Status.PENDING: (Status.PAID, Status.CANCELLED),
    Status.PAID: (Status.SHIPPED, Status.CANCELLED),
    Status.SHIPPED: (Status.DELIVERED,),
    Status.DELIVERED: (),
    Status.CANCELLED: (),
}


class Order(TimestampedMixin, db.Model):
    """A customer's purchase: items at the prices of the moment it was placed."""

    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint(
            "status IN ('pending', 'paid', 'shipped', 'delivered', 'cancelled')", name="status"
        ),
        CheckConstraint("total_cents >= 0", name="total_cents"),
        # Listings (``order_query``): a (column, id) index per sort and filter
        # column, so a page sorted by it and cut by a keyset cursor on (column, id)
        # reads only its own rows; (user_id, ...) ones do the same for the one
        # customer a non-admin sees, and serve the foreign key.
        Index("ix_orders_created_at_id", "created_at", "id"),
        Index("ix_orders_total_cents_id", "total_cents", "id"),
        Index("ix_orders_status_id", "status", "id"),
        Index("ix_orders_user_id_id", "user_id", "id"),
        Index("ix_orders_user_id_created_at_id", "user_id", "created_at", "id"),
        Index("ix_orders_user_id_total_cents_id", "user_id", "total_cents", "id"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    user_id: Mapped[int] = mapped_column(IdType, ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(String(16), default=Status.PENDING.value)
    # 64-bit: up to 100 lines of 10,000 units at 10^9 cents each.
    total_cents: Mapped[int] = mapped_column(BigInteger)
    items: Mapped[list["OrderItem"]] = relationship(
        back_populates="order", order_by="OrderItem.id", cascade="all, delete-orphan"
    )

    def __repr__(self) -> str:
        return f"<Order {self.id} {self.status}>"


class OrderItem(db.Model):
    """One product line of an order."""

    __tablename__ = "order_items"
    __table_args__ = (
        CheckConstraint("quantity >= 1", name="quantity"),
        CheckConstraint("unit_price_cents >= 0", name="unit_price_cents"),
        UniqueConstraint("order_id", "product_id"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    order_id: Mapped[int] = mapped_column(IdType, ForeignKey("orders.id"), index=True)
    product_id: Mapped[int] = mapped_column(IdType, ForeignKey("products.id"), index=True)
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price_cents: Mapped[int] = mapped_column(Integer)
    order: Mapped[Order] = relationship(back_populates="items")


class IdempotencyKey(db.Model):
    """A client's ``Idempotency-Key``: what it was first used for, and the answer given.

    The unique (user, key) pair makes two concurrent requests with one key race
    for a single row; the loser is answered with the winner's receipt.
    """

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("user_id", "key"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    user_id: Mapped[int] = mapped_column(IdType, ForeignKey("users.id"))
    key: Mapped[str] = mapped_column(String(IDEMPOTENCY_KEY_MAX_LENGTH))
    fingerprint: Mapped[str] = mapped_column(String(64))
    # Filled in by the same transaction that claims the key (NULL never commits).
    order_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("orders.id"))
    receipt: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


@dataclass(frozen=True)
class Placement:
    """The outcome of ``place_order``: the order as placed, and whether this was a replay.

    ``order`` is a read-only snapshot of the order as it was placed (the same
    attributes as an ``Order``, its lines in ``items``): built from what the
    statements that placed it wrote and returned, so answering needs no reload.
    On a replay it is what the first request placed, as it was then, even if it
    has changed since: the retry gets the answer the first request got.
    """

    order: Any
    replayed: bool


def _snapshot(order) -> dict:
    """What a replay answers: the order's fields as placed, JSON-serialisable."""
    return {
        "id": order.id,
        "user_id": order.user_id,
        "status": order.status,
        "version": order.version,
        "total_cents": order.total_cents,
        "items": [
            {
                "product_id": item.product_id,
                "quantity": item.quantity,
                "unit_price_cents": item.unit_price_cents,
            }
            for item in order.items
        ],
        "created_at": order.created_at.isoformat(),
        "updated_at": order.updated_at.isoformat(),
    }


def _from_snapshot(text: str) -> SimpleNamespace:
    """The order a snapshot describes, read-only.

    Receipts stored before snapshots were the rendered response (timestamps
    with a ``Z``, and ``_links``); they carry the same fields and read the same.
    """
    data = json.loads(text)
    return SimpleNamespace(
        id=data["id"],
        user_id=data["user_id"],
        status=data["status"],
        # Receipts from before versions were kept: an order is placed at version 1.
        version=data.get("version", 1),
        total_cents=data["total_cents"],
        items=[
            SimpleNamespace(
                product_id=item["product_id"],
                quantity=item["quantity"],
                unit_price_cents=item["unit_price_cents"],
            )
            for item in data["items"]
        ],
        created_at=datetime.fromisoformat(data["created_at"].replace("Z", "+00:00")),
        updated_at=datetime.fromisoformat(data["updated_at"].replace("Z", "+00:00")),
    )


def fingerprint(payload: Any) -> str:
    """A stable hash of a request body, to tell a retry from a different request."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _merge(items: Iterable[dict]) -> dict[int, int]:
    """Quantities per product; the same product twice is one line. Sorted by id, so
    concurrent orders lock rows in the same order and cannot deadlock.

    A merged line holds at most ``MAX_QUANTITY``, as each line sent does: lines
    of one product that add up to more are a ``ConflictError`` naming it (the
    schema bounds each line, but cannot bound their sum).
    """
    quantities: dict[int, int] = {}
    for item in items:
        quantities[item["product_id"]] = quantities.get(item["product_id"], 0) + item["quantity"]
    for product_id, quantity in quantities.items():
        if quantity > MAX_QUANTITY:
            raise ConflictError(
                f"Too many units of product {product_id}: its lines add up to {quantity:,}, "
                f"and an order takes at most {MAX_QUANTITY:,} of one product"
            )
    return dict(sorted(quantities.items()))


# The write path is Core statements on the session's connection, built once:
# placing an order needs no unit of work (no identity map, no flush, no reload),
# and each statement returns what the answer needs. They still run through the
# engine, so its events see every write.
_products = Product.__table__
_orders = Order.__table__
_lines = OrderItem.__table__
_keys = IdempotencyKey.__table__

# One conditional UPDATE per product, in id order (``_merge``): the database
# checks the stock in the statement that takes it, so concurrent orders never
# oversell, and on PostgreSQL each row is locked in the same order by every
# order, so two never deadlock (one statement for all would lock them in
# whatever order its plan reads them). It bumps the version and ``updated_at``
# (the column's ``onupdate``), as every product write does: ETags stay true.
_TAKE_STOCK = (
    update(_products)
    .where(
        _products.c.id == bindparam("product_id"),
        _products.c.deleted_at.is_(None),
        _products.c.stock >= bindparam("quantity"),
    )
    .values(stock=_products.c.stock - bindparam("quantity"), version=_products.c.version + 1)
    .returning(_products.c.price_cents)
)
_STOCK_LEFT = select(_products.c.stock).where(
    _products.c.id == bindparam("product_id"), _products.c.deleted_at.is_(None)
)
_INSERT_ORDER = insert(_orders).returning(_orders.c.id)
_RECORD_RECEIPT = (
    update(_keys)
    .where(_keys.c.id == bindparam("key_id"))
    .values(order_id=bindparam("order_id"), receipt=bindparam("receipt"))
)
_USED_KEY = select(_keys.c.fingerprint, _keys.c.receipt).where(
    _keys.c.user_id == bindparam("user_id"), _keys.c.key == bindparam("key")
)


def _take_stock(connection, product_id: int, quantity: int) -> int:
    """Decrement stock if enough remains, in one conditional UPDATE; return the unit price.

    When nothing was taken, a second read says why: a missing or deleted
    product is a ``NotFoundError``, too little stock a ``ConflictError`` with
    what is left.
    """
    params = {"product_id": product_id, "quantity": quantity}
    price = connection.execute(_TAKE_STOCK, params).scalar_one_or_none()
    if price is not None:
        return price
    left = connection.execute(_STOCK_LEFT, params).scalar_one_or_none()
    if left is None:
        raise NotFoundError("Product", product_id)
    raise ConflictError(
        f"Insufficient stock for product {product_id}: {quantity} requested, {left} available"
    )


def _claim_key(connection, user_id: int, key: str, print_: str) -> int | None:
    """Claim ``key`` for this order in one statement; its row's id, or None when already used.

    An INSERT that, on the (user, key) pair, takes over only an expired row:
    a live one is left alone and nothing is returned. A concurrent request with
    the same key waits on the row (PostgreSQL) or the write lock (SQLite) until
    the first commits or rolls back, and only then decides, before it touches
    any stock.
    """
    now = utcnow()
    claim = upsert_insert(connection, _keys).values(
        user_id=user_id, key=key, fingerprint=print_, created_at=now
    )
    claim = claim.on_conflict_do_update(
        index_elements=[_keys.c.user_id, _keys.c.key],
        set_={
            "fingerprint": claim.excluded.fingerprint,
            "created_at": claim.excluded.created_at,
            "order_id": None,
            "receipt": None,
        },
        where=_keys.c.created_at < now - IDEMPOTENCY_TTL,
    ).returning(_keys.c.id)
    return connection.execute(claim).scalar_one_or_none()


def _replay(connection, user: User, key: str, print_: str) -> Placement:
    """The answer to a live key: its order as placed, or a conflict for another body."""
    used = connection.execute(_USED_KEY, {"user_id": user.id, "key": key}).one()
    if used.fingerprint != print_:
        raise ConflictError(
            "This Idempotency-Key was already used with a different request body; "
            "use a new key for a new order"
        )
    return Placement(_from_snapshot(used.receipt), replayed=True)


def _insert_order(
    connection, user_id: int, lines: dict[int, int], prices: dict[int, int]
) -> SimpleNamespace:
    """Insert the order, then all its lines in one statement; the order as placed."""
    now = utcnow()
    total = sum(prices[product_id] * quantity for product_id, quantity in lines.items())
    order = SimpleNamespace(
        user_id=user_id,
        status=Status.PENDING.value,
        version=1,
        total_cents=total,
        created_at=now,
        updated_at=now,
    )
    order.id = connection.execute(_INSERT_ORDER, vars(order)).scalar_one()
    order.items = [
        SimpleNamespace(product_id=item, quantity=quantity, unit_price_cents=prices[item])
        for item, quantity in lines.items()
    ]
    connection.execute(
        insert(_lines).values([{"order_id": order.id, **vars(item)} for item in order.items])
    )
    return order


def place_order(
    *,
    user: User,
    items: list[dict],
    idempotency_key: str | None = None,
) -> Placement:
    """Place an order: all items or none, stock decremented in the same transaction.

    A missing or deleted product is a ``NotFoundError`` naming it; too little
    stock, or lines of one product adding up to more than ``MAX_QUANTITY``, a
    ``ConflictError`` naming the product and what is available or allowed. With an
    ``idempotency_key``, the first success is recorded with a snapshot of the
    order; a retry with the same key and items gets that order back as it was
    placed, a different body under the key a conflict.

    One statement per product, one for the order and one for all its lines
    (and with a key, one to claim it and one to record the answer).
    """
    # The merged lines are the order; the same lines in another order or split
    # differently are the same request.
    lines = _merge(items)
    print_ = fingerprint(sorted(lines.items()))
    with transaction():
        connection = db.session.connection()
        claim = None
        if idempotency_key is not None:
            claim = _claim_key(connection, user.id, idempotency_key, print_)
            if claim is None:
                return _replay(connection, user, idempotency_key, print_)
        prices = {
            product_id: _take_stock(connection, product_id, quantity)
            for product_id, quantity in lines.items()
        }
        order = _insert_order(connection, user.id, lines, prices)
        if claim is not None:
            receipt = json.dumps(_snapshot(order))
            connection.execute(
                _RECORD_RECEIPT, {"key_id": claim, "order_id": order.id, "receipt": receipt}
            )
    return Placement(order, replayed=False)


def get_order(order_id: int, *, viewer: User | None = None) -> Order:
    """Return order ``order_id``; for a non-admin ``viewer``, only their own.

    Someone else's order is a ``NotFoundError`` too: its existence is not revealed.
    """
    order = db.session.get(Order, order_id, options=[selectinload(Order.items)])
    if order is None or (viewer is not None and not viewer.is_admin and order.user_id != viewer.id):
        raise NotFoundError("Order", order_id)
    return order


ORDER_SORTS = {"created_at": Order.created_at, "total_cents": Order.total_cents}
ORDER_ORDERING = Ordering(ORDER_SORTS, Order.id)


def order_query(
    *,
    viewer: User,
    status: str | None = None,
    user_id: int | None = None,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
    sort: str | None = None,
    after: tuple | None = None,
) -> Select:
    """Orders ``viewer`` may see (their own; every order for an admin), filtered and sorted.

    ``sort`` is a key of ``ORDER_SORTS``, ``-`` for descending, ties by id;
    ``after``, a position from ``ORDER_ORDERING.position``, keeps only the
    orders that follow it. Items load in one extra query for the whole page,
    never one per order.
    """
    query = select(Order).options(selectinload(Order.items))
    if not viewer.is_admin:
        query = query.where(Order.user_id == viewer.id)
    if user_id is not None:
        query = query.where(Order.user_id == user_id)
    if status:
        query = query.where(Order.status == Status(status).value)
    if created_from is not None:
        query = query.where(Order.created_at >= created_from)
    if created_to is not None:
        query = query.where(Order.created_at < created_to)
    if after is not None:
        query = query.where(ORDER_ORDERING.after(sort, after))
    return query.order_by(*ORDER_ORDERING.order_by(sort))


ORDERS = Listing(order_query, ORDER_ORDERING)


def change_status(
    *,
    order_id: int,
    status: str,
    actor: User,
    expected_version: frozenset[int] | None = None,
) -> Order:
    """Move an order to ``status``: admins along any legal transition, owners only to cancel.

    An illegal move is a ``ConflictError`` naming the allowed ones; cancelling
    puts every item's quantity back in stock.
    """
    order = get_order(order_id, viewer=actor)
    check_version(order, expected_version, entity="Order")
    target = Status(status)
    current = Status(order.status)
    if not actor.is_admin and target is not Status.CANCELLED:
        raise ForbiddenError(f"Only an admin can move an order to {target.value}")
    allowed = TRANSITIONS[current]
    if target not in allowed:
        options = ", ".join(s.value for s in allowed) or "none (it is final)"
        raise ConflictError(
            f"Order {order.id} is {current.value}; it can move to: {options}, not {target.value}"
        )
    with transaction():
        order.status = target.value
        if target is Status.CANCELLED:
            for item in sorted(order.items, key=lambda item: item.product_id):
                db.session.execute(
                    update(Product)
                    .where(Product.id == item.product_id)
                    .values(stock=Product.stock + item.quantity, version=Product.version + 1)
                    .execution_options(synchronize_session=False)
                )
    return order
