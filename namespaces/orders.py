"""Orders: customers place and cancel their own; admins see all and move them along."""

from flask import url_for
from flask_jwt_extended import current_user
from flask_restx import fields

from api.auth import auth_required
from api.errors import BODY_PROBLEMS, problems
from api.http.conditional import (
    conditional_read,
    conditional_write,
    etag,
    expected_version,
    tagged,
)
from api.http.negotiation import CSV, XML, produces
from api.http.pagination import page_of, page_parser
from api.restx.base import Resource
from api.restx.examples import request_example
from api.restx.fields import MAX_ID, id_param, id_route
from api.restx.parsers import make_parser, token
from api.restx.serialize import Namespace, marshal
from models.order import (
    IDEMPOTENCY_KEY_MAX_LENGTH,
    MAX_ITEMS,
    MAX_QUANTITY,
    ORDERS,
    change_status,
    get_order,
    place_order,
)
from namespaces.shared import STATUSES, Order, OrderPage, order_filters

ns = Namespace(
    "orders",
    description="Place, read and cancel orders; admins move them through their states",
    path="/api/v1/orders",
)

IDEMPOTENCY_HEADER = "Idempotency-Key"
# On the demo data the order example buys two mugs and a tee, which is order 1
# on a fresh database: the status example cancels it again.
NEW_ORDER = {"items": [{"product_id": 1, "quantity": 2}, {"product_id": 2, "quantity": 1}]}
FIRST_ORDER_ID = 1

OrderLineInput = ns.model(
    "OrderLineInput",
    {
        "product_id": fields.Integer(
            required=True, min=1, max=MAX_ID, example=1, description="A live product's id"
        ),
        "quantity": fields.Integer(
            required=True, min=1, max=MAX_QUANTITY, example=2, description="Units to buy"
        ),
    },
    strict=True,
)
OrderInput = ns.model(
    "OrderInput",
    {
        "items": fields.List(
            fields.Nested(OrderLineInput),
            required=True,
            min_items=1,
            max_items=MAX_ITEMS,
            description="What to buy; the same product twice is one line, and its quantities "
            f"add up to at most {MAX_QUANTITY:,} (else a 409)",
        ),
    },
    strict=True,
)
StatusInput = ns.model(
    "OrderStatusInput",
    {
        "status": fields.String(
            required=True,
            enum=STATUSES,
            example="cancelled",
            description="The new state: admins move pending→paid→shipped→delivered; "
            "owners and admins cancel pending or paid orders",
        )
    },
    strict=True,
)
list_parser = order_filters(page_parser(cursor=True), user_id=True)

# One parser for the header: it checks the key and its schema is the spec's.
idempotency_key = token(IDEMPOTENCY_KEY_MAX_LENGTH)
key_parser = make_parser()
key_parser.add_argument(
    IDEMPOTENCY_HEADER,
    dest="idempotency_key",
    type=idempotency_key,
    location="headers",
    help="Makes retries safe",
)
IDEMPOTENCY_PARAM = {
    "in": "header",
    **idempotency_key.__schema__,
    "description": "Any unique string (a UUID): a retry with the same key and body returns "
    "the original response instead of placing a second order; the same key with another "
    "body is a 409. Keys are remembered for 24 hours, per user.",
}


def order_location(order_id: int) -> str:
    """The URL of an order."""
    return url_for("api.orders_order_item", order_id=order_id)


@ns.route("")
class OrderList(Resource):
    """Orders as a collection."""

    @ns.doc(id="listOrders")
    @produces(ns, XML, CSV)
    @auth_required(ns)
    @ns.expect(list_parser)
    @problems(ns, 400, 422, 429)
    @ns.marshal_with(OrderPage, skip_none=True)
    def get(self):
        """List your orders (admins: everyone's), filtered by status, user and date.

        A customer sees only their own orders; `user_id` cannot widen that (another user's id is an
        empty page). `status`; `created_from` (inclusive) and `created_to` (exclusive) are RFC 3339
        times, UTC when they have no offset; `sort`: created_at or total_cents, `-` for descending,
        ties by id. Paged by `page`/`per_page` (at most 100), with `_links` and a `Link` header;
        `next` links carry an `after` cursor, as fast at any depth. JSON, XML, or CSV via `Accept`
        (CSV: one row per order, without its item lines).
        """
        return page_of(list_parser, ORDERS.where(viewer=current_user))

    @ns.doc(id="createOrder", params={IDEMPOTENCY_HEADER: IDEMPOTENCY_PARAM})
    @produces(ns, XML)
    @auth_required(ns)
    @ns.expect(OrderInput, validate=True)
    @request_example(ns, NEW_ORDER)
    @problems(
        ns,
        *BODY_PROBLEMS,
        404,
        409,
        429,
        d404="A product does not exist (the detail names it)",
        d409="Not enough stock (the detail names the product and what is left), lines of "
        f"one product adding up to more than {MAX_QUANTITY:,} (the detail names it), "
        "or the Idempotency-Key was used with another body",
        examples={
            404: "Product 42 does not exist",
            409: "Insufficient stock for product 1: 2 requested, 1 available",
        },
    )
    @ns.response(
        201,
        "Placed",
        Order,
        headers={
            "ETag": "The order's version, as GET /orders/{order_id} sends it (a replay's is "
            "that of the order as first placed)"
        },
    )
    def post(self):
        """Place an order: every item or none; stock is taken in the same transaction.

        Any logged-in user orders for themself; lines for one product are merged, prices fixed. 404
        when a product is unknown or deleted, 409 when one has too little stock; either way nothing
        is taken. An `Idempotency-Key` makes retries safe: the same key and items (in the same
        order) within 24 hours return the original 201 without ordering again; other items under a
        used key are a 409. A failed attempt does not use up its key. JSON or XML.
        """
        key = key_parser.parse_args()["idempotency_key"]
        placed = place_order(
            user=current_user,
            items=ns.payload["items"],
            idempotency_key=key,
        )
        order = placed.order
        headers = {"Location": order_location(order.id), "ETag": f'"{etag(order)}"'}
        return marshal(order, Order), 201, headers


@ns.route(id_route("order_id"))
@ns.doc(params={"order_id": id_param("Order id", example=FIRST_ORDER_ID)})
class OrderItem(Resource):
    """One order."""

    @ns.doc(id="getOrder")
    @produces(ns, XML)
    @auth_required(ns)
    @problems(ns, 404, 429, d404="No such order, or not yours")
    @conditional_read(ns)
    @ns.marshal_with(Order)
    def get(self, order_id):
        """Return an order (its owner or an admin; anyone else gets 404).

        Someone else's order is a 404, not a 403, so its existence is not revealed. Line prices are
        those at the time of ordering. The `ETag` is the order's version, which changes with its
        status: send it in `If-None-Match` for a bodiless 304 while unchanged, or in `If-Match` on
        PATCH. JSON by default, XML with `Accept: application/xml`.
        """
        return tagged(get_order(order_id, viewer=current_user))

    @ns.doc(id="updateOrderStatus")
    @produces(ns, XML)
    @auth_required(ns)
    @ns.expect(StatusInput, validate=True)
    @request_example(ns, {"status": "cancelled"})
    @problems(
        ns,
        *BODY_PROBLEMS,
        403,
        404,
        409,
        429,
        d403="Owners may only cancel",
        d404="No such order, or not yours",
        d409="Not a legal move from the current state (the detail lists the legal ones)",
        examples={
            403: "Only an admin can move an order to paid",
            409: "Order {order_id} is cancelled; it can move to: none (it is final), not paid",
        },
    )
    @conditional_write(ns)
    @ns.marshal_with(Order)
    def patch(self, order_id):
        """Move an order to a new status; cancelling puts its items back in stock.

        Legal moves: pending to paid or cancelled, paid to shipped or cancelled, shipped to
        delivered; delivered and cancelled are final. Admins make any legal move; the owner may only
        cancel (403 otherwise). An illegal move, the current status included, is a 409 listing the
        legal ones; someone else's order is a 404. Cancelling returns every line's quantity to stock
        in the same transaction. `If-Match` with the `ETag` you read makes a stale write a 412.
        """
        order = change_status(
            order_id=order_id,
            status=ns.payload["status"],
            actor=current_user,
            expected_version=expected_version(),
        )
        return tagged(order)
