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
    delete,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column, relationship, selectinload

from models.base import (
    IdType,
    Listing,
    Ordering,
    TimestampedMixin,
    check_version,
    db,
    transaction,
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

    On a replay ``order`` is what the first request placed, as it was then (a
    read-only snapshot with the same attributes), even if it has changed since:
    the retry gets the answer the first request got.
    """

    order: Any
    replayed: bool


def _snapshot(order: Order) -> dict:
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


def _take_stock(product_id: int, quantity: int) -> int:
    """Decrement stock if enough remains, in one conditional UPDATE; return the unit price.

    The condition is checked by the database in the same statement that writes,
    so concurrent orders can never oversell, on SQLite or PostgreSQL.
    """
    taken = db.session.execute(
        update(Product)
        .where(
            Product.id == product_id,
            Product.deleted_at.is_(None),
            Product.stock >= quantity,
        )
        .values(stock=Product.stock - quantity, version=Product.version + 1)
        .returning(Product.price_cents)
        .execution_options(synchronize_session=False)
    ).scalar_one_or_none()
    if taken is not None:
        return taken
    product = db.session.get(Product, product_id)
    if product is None or product.is_deleted:
        raise NotFoundError("Product", product_id)
    raise ConflictError(
        f"Insufficient stock for product {product_id}: {quantity} requested, "
        f"{product.stock} available"
    )


def _replay(user: User, key: str, print_: str) -> Placement | None:
    record = db.session.scalar(
        select(IdempotencyKey).where(
            IdempotencyKey.user_id == user.id,
            IdempotencyKey.key == key,
            IdempotencyKey.created_at >= utcnow() - IDEMPOTENCY_TTL,
        )
    )
    if record is None:
        return None
    if record.fingerprint != print_:
        raise ConflictError(
            "This Idempotency-Key was already used with a different request body; "
            "use a new key for a new order"
        )
    return Placement(_from_snapshot(record.receipt), replayed=True)


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
    """
    # The merged lines are the order; the same lines in another order or split
    # differently are the same request.
    lines = _merge(items)
    print_ = fingerprint(sorted(lines.items()))
    if idempotency_key is not None:
        replay = _replay(user, idempotency_key, print_)
        if replay is not None:
            return replay
    try:
        with transaction():
            # Claim the key first: a concurrent request with the same key waits
            # here, or fails, before it touches any stock.
            claim = _claim_key(user, idempotency_key, print_) if idempotency_key else None
            order = Order(user_id=user.id, status=Status.PENDING.value, total_cents=0)
            for product_id, quantity in lines.items():
                price = _take_stock(product_id, quantity)
                order.items.append(
                    OrderItem(product_id=product_id, quantity=quantity, unit_price_cents=price)
                )
                order.total_cents += price * quantity
            db.session.add(order)
            db.session.flush()
            if claim is not None:
                claim.order_id = order.id
                claim.receipt = json.dumps(_snapshot(order))
    except ConflictError as error:
        # Lost a race for the same key: the winner's order is the answer.
        if idempotency_key is not None and isinstance(error.__cause__, IntegrityError):
            replay = _replay(user, idempotency_key, print_)
            if replay is not None:
                return replay
        raise
    return Placement(order, replayed=False)


def _claim_key(user: User, key: str, print_: str) -> IdempotencyKey:
    """Insert the key's row (an expired one with the same key is replaced)."""
    db.session.execute(
        delete(IdempotencyKey).where(
            IdempotencyKey.user_id == user.id,
            IdempotencyKey.key == key,
            IdempotencyKey.created_at < utcnow() - IDEMPOTENCY_TTL,
        )
    )
    claim = IdempotencyKey(user_id=user.id, key=key, fingerprint=print_)
    db.session.add(claim)
    db.session.flush()
    return claim


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
