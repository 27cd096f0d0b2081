"""Bulk catalog operations (admin): many products created or deleted in one request.

They extend the ``products`` namespace; the module is separate to keep each
file about one thing.
"""

from flask import url_for
from flask_restx import fields

from api.auth import auth_required
from api.errors import BODY_PROBLEMS, problems
from api.restx.base import Resource
from api.restx.examples import NO_SUCH_ID, request_example
from api.restx.fields import MAX_ID
from api.uploads import image_store
from models.product import MAX_BULK, create_products, delete_products
from namespaces.products import Product, ProductInput, ns

BulkCreate = ns.model(
    "ProductBulkCreate",
    {
        "items": fields.List(
            fields.Nested(ProductInput),
            required=True,
            min_items=1,
            max_items=MAX_BULK,
            description=f"Up to {MAX_BULK} products, created together or not at all",
        )
    },
    strict=True,
)
BulkCreated = ns.model(
    "ProductBulkCreated",
    {
        "items": fields.List(
            fields.Nested(Product), required=True, description="The created products, in order"
        )
    },
)
BulkDelete = ns.model(
    "ProductBulkDelete",
    {
        "ids": fields.List(
            fields.Integer(min=1, max=MAX_ID, example=NO_SUCH_ID),
            required=True,
            min_items=1,
            max_items=MAX_BULK,
            description="Ids of the products to delete",
        )
    },
    strict=True,
)
BulkDeleted = ns.model(
    "ProductBulkDeleted",
    {
        "deleted": fields.Integer(required=True, min=0, example=2, description="How many"),
        "deleted_ids": fields.List(
            fields.Integer(example=1), required=True, description="Ids deleted now"
        ),
        "not_found": fields.List(
            fields.Integer(example=99),
            required=True,
            description="Ids with no live product (unknown or already deleted)",
        ),
    },
)

# Two products the demo data lacks; and ids it lacks, so that running the
# bulk delete as it stands deletes nothing.
NEW_PRODUCTS = [
    {"sku": "NTB-002", "name": "Lined notebook", "price_cents": 1500, "stock": 100},
    {"sku": "PEN-002", "name": "Aluminium pen", "price_cents": 2900, "stock": 30},
]
UNKNOWN_IDS = [NO_SUCH_ID - 1, NO_SUCH_ID]


@ns.route("/bulk")
class ProductBulk(Resource):
    """Many products at once."""

    @ns.doc(id="createProductsBulk")
    @auth_required(ns, admin=True)
    @ns.expect(BulkCreate, validate=True)
    @request_example(ns, {"items": NEW_PRODUCTS})
    @problems(
        ns,
        *BODY_PROBLEMS,
        409,
        429,
        d422="An item breaks a bound; errors are keyed items.<index>.<field>, nothing written",
        d409="A SKU repeats in the batch or is in use; nothing written",
        examples={
            409: "SKUs already in use: NTB-002",
            422: {
                "detail": "The request body has invalid values",
                "errors": {"items.1.price_cents": ["must be at least 0"]},
            },
        },
    )
    @ns.marshal_with(BulkCreated, code=201, description="All created")
    def post(self):
        """Create up to 500 products in one transaction: all of them or none (admin).

        Admin only. Each item is checked like a `POST /products` body and one bad item fails the
        whole batch, with errors keyed `items.<index>.<field>` (422, or 400 for a wrong shape). 409
        when a SKU repeats in the batch or belongs to a live product (the detail names them).
        Nothing is written on any error. Answers 201 with the created products in request order;
        `Location` is the catalog, as there is no single new resource. JSON only; a retry is a 409.
        """
        created = create_products(items=ns.payload["items"])
        return {"items": created}, 201, {"Location": url_for("api.products_product_list")}

    @ns.doc(id="deleteProductsBulk")
    @auth_required(ns, admin=True)
    @ns.expect(BulkDelete, validate=True)
    @request_example(ns, {"ids": UNKNOWN_IDS})
    @problems(ns, *BODY_PROBLEMS, 429)
    @ns.marshal_with(BulkDeleted)
    def delete(self):
        """Soft-delete many products (admin); reports which ids were not found.

        Admin only. Takes 1 to 500 `ids` (repeats count once) in a JSON body on DELETE, so make sure
        your HTTP client sends it. The live products among them are deleted in one transaction;
        unknown or already deleted ids are listed in `not_found` instead of failing the request, so
        a retry is safe and reports them all as not found. Both id lists are sorted. No `If-Match`.
        JSON only.
        """
        deleted, not_found = delete_products(ids=ns.payload["ids"], images=image_store())
        return {"deleted": len(deleted), "deleted_ids": deleted, "not_found": not_found}
