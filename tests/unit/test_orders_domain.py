"""Orders without HTTP: ``place_order`` and ``change_status``, their transactions and errors."""

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from models import (
    ConflictError,
    ForbiddenError,
    IdempotencyKey,
    NotFoundError,
    Order,
    OrderItem,
    PreconditionFailedError,
    Product,
    Role,
    Status,
    db,
)
from models.base import utcnow
from models.order import change_status, get_order, place_order
from models.product import delete_product, update_product

pytestmark = pytest.mark.usefixtures("domain")


def line(product, quantity):
    """One item of an order's body."""
    return {"product_id": product.id, "quantity": quantity}


def stock(stored, product) -> int:
    return stored.row(Product, product.id).stock


@pytest.fixture
def shopper(new_user):
    return new_user(email="shopper@example.com")


@pytest.fixture
def admin(new_user):
    return new_user(role=Role.ADMIN, email="admin@example.com")


# place_order: stock and prices


def test_an_order_takes_exactly_the_ordered_quantities_from_stock(shopper, new_product, stored):
    pen, ink = new_product(stock=5), new_product(stock=10)

    placed = place_order(user=shopper, items=[line(pen, 2), line(ink, 3)])

    assert not placed.replayed
    assert (stock(stored, pen), stock(stored, ink)) == (3, 7)
    order = stored.row(Order, placed.order.id)
    assert (order.user_id, order.status) == (shopper.id, Status.PENDING)
    lines = stored.rows(select(OrderItem.product_id, OrderItem.quantity).order_by(OrderItem.id))
    assert sorted(lines) == sorted([(pen.id, 2), (ink.id, 3)])


def test_an_order_may_take_the_last_unit(shopper, new_product, stored):
    pen = new_product(stock=4)

    place_order(user=shopper, items=[line(pen, 4)])

    assert stock(stored, pen) == 0


def test_an_order_is_priced_at_the_current_prices_and_keeps_them(shopper, new_product, stored):
    pen, ink = new_product(price_cents=1000), new_product(price_cents=250)
    update_product(product_id=pen.id, price_cents=1200)

    placed = place_order(user=shopper, items=[line(pen, 2), line(ink, 3)])
    update_product(product_id=pen.id, price_cents=9999)

    assert stored.row(Order, placed.order.id).total_cents == 2 * 1200 + 3 * 250
    prices = stored.rows(select(OrderItem.product_id, OrderItem.unit_price_cents))
    assert sorted(prices) == sorted([(pen.id, 1200), (ink.id, 250)])


def test_lines_for_the_same_product_are_merged_into_one(shopper, new_product, stored):
    pen = new_product(stock=5, price_cents=100)

    placed = place_order(user=shopper, items=[line(pen, 1), line(pen, 2)])

    assert stored.rows(select(OrderItem.product_id, OrderItem.quantity)) == [(pen.id, 3)]
    assert stored.row(Order, placed.order.id).total_cents == 300
    assert stock(stored, pen) == 2


def test_placing_an_order_changes_each_products_version(shopper, new_product, stored):
    pen, ink, other = new_product(), new_product(), new_product()
    before = {p.id: p.version for p in (pen, ink, other)}

    place_order(user=shopper, items=[line(pen, 1), line(ink, 1)])

    assert stored.row(Product, pen.id).version > before[pen.id]
    assert stored.row(Product, ink.id).version > before[ink.id]
    assert stored.row(Product, other.id).version == before[other.id]


# place_order: all or nothing


def test_an_order_for_more_than_the_stock_changes_nothing(shopper, new_product, stored, refused):
    pen, ink = new_product(stock=5), new_product(stock=2)
    versions = (pen.version, ink.version)

    error = refused(ConflictError, place_order, user=shopper, items=[line(pen, 1), line(ink, 3)])

    assert error.detail == (f"Insufficient stock for product {ink.id}: 3 requested, 2 available")
    assert (stock(stored, pen), stock(stored, ink)) == (5, 2)
    assert (stored.row(Product, pen.id).version, stored.row(Product, ink.id).version) == versions
    assert (stored.count(Order), stored.count(OrderItem)) == (0, 0)


def test_an_unknown_product_is_not_found_and_changes_nothing(shopper, new_product, stored, refused):
    pen = new_product(stock=5)
    unknown = pen.id + 1000

    error = refused(
        NotFoundError,
        place_order,
        user=shopper,
        items=[line(pen, 1), {"product_id": unknown, "quantity": 1}],
    )

    assert (error.entity, error.key) == ("Product", unknown)
    assert stock(stored, pen) == 5
    assert stored.count(Order) == 0


def test_a_deleted_product_cannot_be_ordered(shopper, new_product, stored, refused):
    pen, gone = new_product(stock=5), new_product(stock=5)
    delete_product(product_id=gone.id)

    error = refused(NotFoundError, place_order, user=shopper, items=[line(pen, 1), line(gone, 1)])

    assert error.key == gone.id
    assert (stock(stored, pen), stock(stored, gone)) == (5, 5)
    assert stored.count(Order) == 0


@pytest.mark.parametrize("quantity", [0, -3])
def test_a_quantity_below_one_is_refused_and_changes_nothing(
    shopper, new_product, stored, refused, quantity
):
    pen = new_product(stock=5)

    refused(ConflictError, place_order, user=shopper, items=[line(pen, quantity)])

    assert stock(stored, pen) == 5
    assert stored.count(Order) == 0


# place_order: idempotency keys


def test_a_retry_with_the_same_key_returns_the_original_order(shopper, new_product, stored):
    pen = new_product(stock=5)
    items = [line(pen, 2)]

    first = place_order(user=shopper, items=items, idempotency_key="k-1")
    again = place_order(user=shopper, items=items, idempotency_key="k-1")

    assert (first.replayed, again.replayed) == (False, True)
    assert again.order.id == first.order.id
    assert (again.order.status, again.order.total_cents) == ("pending", first.order.total_cents)
    assert [(i.product_id, i.quantity) for i in again.order.items] == [(pen.id, 2)]
    assert stock(stored, pen) == 3
    assert stored.count(Order) == 1


def test_a_retry_gets_the_order_as_placed_after_it_moved_on(shopper, admin, new_product, stored):
    pen = new_product()
    first = place_order(user=shopper, items=[line(pen, 1)], idempotency_key="k")
    change_status(order_id=first.order.id, status="paid", actor=admin)

    again = place_order(user=shopper, items=[line(pen, 1)], idempotency_key="k")

    assert again.replayed
    assert again.order.status == "pending"
    assert stored.row(Order, first.order.id).status == "paid"


def test_the_same_lines_reordered_or_split_are_the_same_request(shopper, new_product, stored):
    pen, ink = new_product(), new_product()
    place_order(user=shopper, items=[line(pen, 1), line(ink, 2)], idempotency_key="k")

    reordered = place_order(user=shopper, items=[line(ink, 2), line(pen, 1)], idempotency_key="k")
    split = place_order(
        user=shopper, items=[line(ink, 1), line(pen, 1), line(ink, 1)], idempotency_key="k"
    )

    assert reordered.replayed
    assert split.replayed
    assert stored.count(Order) == 1


def test_a_different_body_under_a_used_key_is_a_conflict_and_changes_nothing(
    shopper, new_product, stored, refused
):
    pen = new_product(stock=5)
    place_order(user=shopper, items=[line(pen, 1)], idempotency_key="k")

    error = refused(
        ConflictError, place_order, user=shopper, items=[line(pen, 2)], idempotency_key="k"
    )

    assert "Idempotency-Key" in error.detail
    assert stock(stored, pen) == 4
    assert stored.count(Order) == 1


def test_a_key_belongs_to_the_user_who_used_it(shopper, new_user, new_product, stored):
    pen = new_product(stock=5)
    neighbour = new_user()
    mine = place_order(user=shopper, items=[line(pen, 1)], idempotency_key="k")

    theirs = place_order(user=neighbour, items=[line(pen, 1)], idempotency_key="k")

    assert not theirs.replayed
    assert theirs.order.id != mine.order.id
    assert stored.row(Order, theirs.order.id).user_id == neighbour.id
    assert stock(stored, pen) == 3


def test_a_failed_order_does_not_use_up_its_key(shopper, new_product, stored, refused):
    pen = new_product(stock=1)
    refused(ConflictError, place_order, user=shopper, items=[line(pen, 2)], idempotency_key="k")
    assert stored.count(IdempotencyKey) == 0
    update_product(product_id=pen.id, stock=2)

    placed = place_order(user=shopper, items=[line(pen, 2)], idempotency_key="k")

    assert not placed.replayed
    assert stock(stored, pen) == 0


def test_a_key_older_than_a_day_starts_a_new_order(shopper, new_product, stored):
    pen = new_product(stock=5)
    first = place_order(user=shopper, items=[line(pen, 1)], idempotency_key="k")
    db.session.execute(update(IdempotencyKey).values(created_at=utcnow() - timedelta(hours=25)))
    db.session.commit()

    later = place_order(user=shopper, items=[line(pen, 2)], idempotency_key="k")

    assert not later.replayed
    assert later.order.id != first.order.id
    assert stored.rows(select(IdempotencyKey.order_id)) == [(later.order.id,)]
    assert stock(stored, pen) == 2


def test_without_a_key_every_call_is_a_new_order(shopper, new_product, stored):
    pen = new_product(stock=5)

    place_order(user=shopper, items=[line(pen, 1)])
    place_order(user=shopper, items=[line(pen, 1)])

    assert stored.count(Order) == 2
    assert stock(stored, pen) == 3


# change_status


# The moves an admin makes to bring a new (pending) order to each status.
ROUTE_TO = {
    Status.PENDING: [],
    Status.PAID: [Status.PAID],
    Status.SHIPPED: [Status.PAID, Status.SHIPPED],
    Status.DELIVERED: [Status.PAID, Status.SHIPPED, Status.DELIVERED],
    Status.CANCELLED: [Status.CANCELLED],
}
LEGAL = {
    (Status.PENDING, Status.PAID),
    (Status.PENDING, Status.CANCELLED),
    (Status.PAID, Status.SHIPPED),
    (Status.PAID, Status.CANCELLED),
    (Status.SHIPPED, Status.DELIVERED),
}
ILLEGAL = sorted({(a, b) for a in Status for b in Status} - LEGAL)
FORWARD = sorted((a, b) for a, b in LEGAL if b is not Status.CANCELLED)


@pytest.fixture
def order_at(shopper, admin, new_product):
    """An order of 2 pens and 1 ink (5 of each in stock), moved by ``admin`` to ``status``."""

    def make(status: Status) -> tuple[Order, Product, Product]:
        pen, ink = new_product(stock=5), new_product(stock=5)
        order = place_order(user=shopper, items=[line(pen, 2), line(ink, 1)]).order
        for step in ROUTE_TO[status]:
            change_status(order_id=order.id, status=step, actor=admin)
        return order, pen, ink

    return make


@pytest.mark.parametrize(("current", "target"), FORWARD)
def test_a_legal_move_is_made_and_leaves_stock_alone(order_at, admin, stored, current, target):
    order, pen, ink = order_at(current)

    moved = change_status(order_id=order.id, status=target, actor=admin)

    assert moved.status == target
    assert stored.row(Order, order.id).status == target
    assert (stock(stored, pen), stock(stored, ink)) == (3, 4)


@pytest.mark.parametrize("current", [Status.PENDING, Status.PAID])
def test_cancelling_puts_every_line_back_in_stock(order_at, admin, stored, current):
    order, pen, ink = order_at(current)

    change_status(order_id=order.id, status=Status.CANCELLED, actor=admin)

    assert stored.row(Order, order.id).status == Status.CANCELLED
    assert (stock(stored, pen), stock(stored, ink)) == (5, 5)


@pytest.mark.parametrize(("current", "target"), ILLEGAL)
def test_an_illegal_move_is_a_conflict_and_changes_nothing(
    order_at, admin, stored, refused, current, target
):
    order, pen, ink = order_at(current)
    before = stored.row(Order, order.id)
    stock_before = (stock(stored, pen), stock(stored, ink))

    error = refused(ConflictError, change_status, order_id=order.id, status=target, actor=admin)

    assert f"not {target.value}" in error.detail
    after = stored.row(Order, order.id)
    assert (after.status, after.version) == (before.status, before.version)
    assert (stock(stored, pen), stock(stored, ink)) == stock_before


def test_an_owner_may_cancel_their_own_order(order_at, shopper, stored):
    order, pen, ink = order_at(Status.PENDING)

    change_status(order_id=order.id, status=Status.CANCELLED, actor=shopper)

    assert stored.row(Order, order.id).status == Status.CANCELLED
    assert (stock(stored, pen), stock(stored, ink)) == (5, 5)


@pytest.mark.parametrize("target", [Status.PAID, Status.SHIPPED, Status.DELIVERED])
def test_an_owner_may_not_move_their_order_anywhere_else(
    order_at, shopper, stored, refused, target
):
    order, _, _ = order_at(Status.PENDING)

    refused(ForbiddenError, change_status, order_id=order.id, status=target, actor=shopper)

    assert stored.row(Order, order.id).status == Status.PENDING


def test_someone_elses_order_is_not_found(order_at, new_user, stored, refused):
    order, pen, _ = order_at(Status.PENDING)
    stranger = new_user()

    error = refused(
        NotFoundError, change_status, order_id=order.id, status=Status.CANCELLED, actor=stranger
    )

    assert (error.entity, error.key) == ("Order", order.id)
    assert stored.row(Order, order.id).status == Status.PENDING
    assert stock(stored, pen) == 3


def test_an_unknown_order_is_not_found(admin, refused):
    refused(NotFoundError, change_status, order_id=12345, status=Status.PAID, actor=admin)


def test_a_move_changes_the_orders_version(order_at, admin, stored):
    order, _, _ = order_at(Status.PENDING)
    before = stored.row(Order, order.id).version

    change_status(order_id=order.id, status=Status.PAID, actor=admin)

    assert stored.row(Order, order.id).version > before


def test_a_move_from_a_stale_version_is_refused_and_changes_nothing(
    order_at, admin, stored, refused
):
    order, pen, _ = order_at(Status.PENDING)
    current = stored.row(Order, order.id).version

    refused(
        PreconditionFailedError,
        change_status,
        order_id=order.id,
        status=Status.CANCELLED,
        actor=admin,
        expected_version=frozenset({current - 1, current + 1}),
    )
    assert stored.row(Order, order.id).status == Status.PENDING
    assert stock(stored, pen) == 3

    change_status(
        order_id=order.id,
        status=Status.CANCELLED,
        actor=admin,
        expected_version=frozenset({current}),
    )
    assert stored.row(Order, order.id).status == Status.CANCELLED


def test_a_cancellation_that_lost_a_race_puts_nothing_back_twice(
    app, order_at, admin, stored, refused
):
    placed, pen, ink = order_at(Status.PENDING)
    order = get_order(placed.id)  # this session has read the order
    assert order.status == Status.PENDING
    # Meanwhile another request, with a session of its own, cancels it.
    with app.app_context():
        change_status(order_id=order.id, status=Status.CANCELLED, actor=db.session.merge(admin))

    error = refused(
        ConflictError, change_status, order_id=order.id, status=Status.CANCELLED, actor=admin
    )

    assert "changed by another request" in error.detail
    assert (stock(stored, pen), stock(stored, ink)) == (5, 5)


def test_an_order_of_a_since_deleted_product_can_still_be_cancelled(order_at, admin, stored):
    order, pen, _ = order_at(Status.PENDING)
    delete_product(product_id=pen.id)

    change_status(order_id=order.id, status=Status.CANCELLED, actor=admin)

    assert stored.row(Order, order.id).status == Status.CANCELLED
    assert stock(stored, pen) == 5
