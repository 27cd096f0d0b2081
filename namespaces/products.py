"""The product catalog: public reads, admin-only writes."""

from flask import url_for
from flask_restx import fields

from api.auth import auth_required, public
from api.errors import BODY_PROBLEMS, problems
from api.http.conditional import conditional_read, conditional_write, expected_version, tagged
from api.http.links import link, links_to
from api.http.negotiation import CSV, XML, produces
from api.http.pagination import page_model, page_of, page_parser, sort_argument
from api.http.responses import no_content
from api.restx.base import Resource
from api.restx.examples import NO_SUCH_ID, path_example, request_example
from api.restx.fields import Timestamp, id_param, id_route, links, text
from api.restx.parsers import boolean, bounded_int, bounded_text
from api.restx.serialize import Namespace
from api.uploads import image_store
from models.base import CHANGED_MEANWHILE
from models.product import (
    DESCRIPTION_MAX_LENGTH,
    MAX_PRICE_CENTS,
    MAX_STOCK,
    NAME_MAX_LENGTH,
    PRODUCT_SORTS,
    PRODUCTS,
    SKU_MAX_LENGTH,
    SKU_PATTERN,
    create_product,
    delete_product,
    read_product,
    replace_product,
    update_product,
)

ns = Namespace(
    "products", description="The catalog: public reads, admin writes", path="/api/v1/products"
)

ProductLinks = links(
    ns,
    "ProductLinks",
    "/api/v1/products/1",
    image=("The product's picture (absent when it has none)", "/api/v1/products/1/image"),
)


Product = ns.model(
    "Product",
    {
        "id": fields.Integer(required=True, readonly=True, example=1, description="Product id"),
        "sku": fields.String(required=True, example="MUG-001", description="Stock keeping unit"),
        "name": fields.String(required=True, example="Enamel mug", description="Display name"),
        "description": fields.String(
            required=True, example="A 350 ml camping mug.", description="Free text, may be empty"
        ),
        "price_cents": fields.Integer(
            required=True, min=0, example=1299, description="Price in cents (integer)"
        ),
        "stock": fields.Integer(required=True, min=0, example=40, description="Units in stock"),
        "created_at": Timestamp(required=True, readonly=True, description="Creation time (UTC)"),
        "updated_at": Timestamp(required=True, readonly=True, description="Last change (UTC)"),
        "_links": fields.Nested(
            ProductLinks,
            required=True,
            skip_none=True,
            attribute=links_to(
                self=link("api.products_product_item", "product_id"),
                image=link("api.products_product_image", "product_id", when="image_sha256"),
            ),
        ),
    },
)


def _input_fields(*, required: bool) -> dict:
    """The client-owned fields; required for create/replace, optional for PATCH."""
    return {
        "sku": text(
            "Stock keeping unit: upper-case letters, digits, - and _; unique",
            required=required,
            min_length=1,
            max_length=SKU_MAX_LENGTH,
            pattern=SKU_PATTERN,
            example="MUG-002",
        ),
        "name": text(
            "Display name",
            required=required,
            min_length=1,
            max_length=NAME_MAX_LENGTH,
            example="Enamel mug, large",
        ),
        "description": text(
            "Free text; empty when omitted on create or replace",
            max_length=DESCRIPTION_MAX_LENGTH,
            example="A 500 ml camping mug.",
        ),
        "price_cents": fields.Integer(
            required=required,
            min=0,
            max=MAX_PRICE_CENTS,
            example=1599,
            description="Price in cents",
        ),
        "stock": fields.Integer(
            min=0, max=MAX_STOCK, example=10, description="Units in stock; 0 when omitted on create"
        ),
    }


ProductInput = ns.model("ProductInput", _input_fields(required=True), strict=True)
ProductPatch = ns.model("ProductPatch", _input_fields(required=False), strict=True)
ProductPage = page_model(ns, "ProductPage", Product)

# A product the demo data lacks, and the demo's first product (models/seed.py)
# as its replacement would leave it: the same SKU and name, another stock.
NEW_PRODUCT = {
    "sku": "MUG-002",
    "name": "Enamel mug, large",
    "description": "A 500 ml camping mug.",
    "price_cents": 1599,
    "stock": 10,
}
DEMO_MUG_ID = 1
DEMO_MUG_REPLACED = {
    "sku": "MUG-001",
    "name": "Enamel mug",
    "description": "A 350 ml camping mug that survives drops.",
    "price_cents": 1299,
    "stock": 35,
}
# The domain's words for a taken SKU (models/product.py).
SKU_TAKEN = "A product with SKU {sku} already exists"
# A write that met another one to the same product (models.base.CHANGED_MEANWHILE).
CONCURRENT_WRITE = "Another request changed the product at the same moment; reload it and retry"
SKU_TAKEN_OR_CONCURRENT = f"Another live product has this SKU, or: {CONCURRENT_WRITE}"

list_parser = page_parser(cursor=True)
list_parser.add_argument(
    "q", type=bounded_text(100), location="args", help="Name or SKU contains this text (any case)"
)
list_parser.add_argument(
    "min_price",
    type=bounded_int(0, MAX_PRICE_CENTS),
    location="args",
    help="Lowest price_cents, inclusive",
)
list_parser.add_argument(
    "max_price",
    type=bounded_int(0, MAX_PRICE_CENTS),
    location="args",
    help="Highest price_cents, inclusive",
)
list_parser.add_argument(
    "in_stock", type=boolean, location="args", help="true: stock > 0; false: stock = 0"
)
sort_argument(list_parser, PRODUCT_SORTS)


@ns.route("")
class ProductList(Resource):
    """The catalog as a collection."""

    @ns.doc(id="listProducts")
    @public(ns)
    @produces(ns, XML, CSV)
    @ns.expect(list_parser)
    @problems(ns, 400, 422, 429)
    @ns.marshal_with(ProductPage, skip_none=True)
    def get(self):
        """List live products: filtered, sorted and paged.

        Public; deleted products never appear. `q` matches part of the name or SKU (any case);
        `min_price`/`max_price` bound `price_cents` inclusively; `in_stock=true` keeps products in
        stock, `false` sold-out ones. `sort`: name, price_cents or created_at, `-` descending, ties
        by id. Paged by `page`/`per_page` (at most 100); `next` links carry an `after` cursor, as
        fast at any depth. Bad `sort`, cursor or a non-integer: 400; out of bounds: 422. JSON, XML
        or CSV (no `_links`; formula-like text gets a leading ').
        """
        return page_of(list_parser, PRODUCTS)

    @ns.doc(id="createProduct")
    @produces(ns, XML)
    @auth_required(ns, admin=True)
    @ns.expect(ProductInput, validate=True)
    @request_example(ns, NEW_PRODUCT)
    @problems(
        ns,
        *BODY_PROBLEMS,
        409,
        429,
        d409="A live product has this SKU",
        examples={409: SKU_TAKEN.format(sku="MUG-002")},
    )
    @ns.marshal_with(Product, code=201, description="Created")
    def post(self):
        """Create a product (admin).

        Admin token only (a customer's is a 403). `description` defaults to empty and `stock` to 0.
        The SKU must not belong to another live product (409); a deleted product's SKU may be
        reused. Answers 201 with the product and its URL in `Location`. Not idempotent: a retry
        after a lost response is a 409 for the SKU it already created. JSON or XML via `Accept`.
        """
        product = create_product(**ns.payload)
        return (
            product,
            201,
            {"Location": url_for("api.products_product_item", product_id=product.id)},
        )


@ns.route(id_route("product_id"))
@ns.doc(params={"product_id": id_param("Product id", example=DEMO_MUG_ID)})
class ProductItem(Resource):
    """One product."""

    @ns.doc(id="getProduct")
    @produces(ns, XML)
    @public(ns)
    @problems(ns, 404, 429)
    @conditional_read(ns)
    @ns.marshal_with(Product)
    def get(self, product_id):
        """Return a live product.

        Public. 404 when the id is unknown or the product was deleted. The `ETag` is the product's
        version: send it in `If-None-Match` for a bodiless 304 while unchanged, or in `If-Match` on
        PUT, PATCH or DELETE. Orders that take or return stock change the version too. JSON by
        default, XML with `Accept: application/xml`.
        """
        return tagged(read_product(product_id))

    @ns.doc(id="replaceProduct")
    @produces(ns, XML)
    @auth_required(ns, admin=True)
    @ns.expect(ProductInput, validate=True)
    @request_example(ns, DEMO_MUG_REPLACED)
    @problems(
        ns,
        *BODY_PROBLEMS,
        404,
        409,
        429,
        d409=SKU_TAKEN_OR_CONCURRENT,
        examples={409: SKU_TAKEN.format(sku="TEE-001")},
    )
    @conditional_write(ns)
    @ns.marshal_with(Product)
    def put(self, product_id):
        """Replace a product's fields (admin); omitted optional fields reset.

        Admin only. Sets every client-owned field from the body: an omitted `description` becomes
        empty and an omitted `stock` becomes 0. 404 when the product is unknown or deleted; 409 when
        another live product has the SKU. Send the `ETag` you read in `If-Match` to get a 412 rather
        than overwrite a newer version; without it the write is unconditional. Returns the product
        and its new `ETag`; JSON or XML via `Accept`.
        """
        return tagged(
            replace_product(
                product_id=product_id, expected_version=expected_version(), **ns.payload
            )
        )

    @ns.doc(id="updateProduct")
    @produces(ns, XML)
    @auth_required(ns, admin=True)
    @ns.expect(ProductPatch, validate=True)
    @request_example(ns, {"stock": 35})
    @problems(
        ns,
        *BODY_PROBLEMS,
        404,
        409,
        429,
        d409=SKU_TAKEN_OR_CONCURRENT,
        examples={409: SKU_TAKEN.format(sku="TEE-001")},
    )
    @conditional_write(ns)
    @ns.marshal_with(Product)
    def patch(self, product_id):
        """Change some of a product's fields (admin).

        Admin only. Only the fields sent change (an empty object changes nothing); null is not a
        value (400). 404 when the product is unknown or deleted; 409 when another live product has
        the SKU. Send the `ETag` you read in `If-Match` to get a 412 rather than overwrite a newer
        version (stock taken by an order counts as a change). Returns the product and its new
        `ETag`; JSON or XML via `Accept`.
        """
        return tagged(
            update_product(product_id=product_id, expected_version=expected_version(), **ns.payload)
        )

    @ns.doc(id="deleteProduct")
    @path_example(ns, product_id=NO_SUCH_ID)
    @auth_required(ns, admin=True)
    @problems(ns, 404, 409, 429, d409=CONCURRENT_WRITE, examples={409: CHANGED_MEANWHILE})
    @conditional_write(ns)
    @ns.response(204, "Deleted: the product answers 404 from now on")
    def delete(self, product_id):
        """Soft-delete a product (admin); it disappears from reads and listings.

        Admin only. Afterwards the product answers 404, leaves listings, can no longer be ordered,
        and its SKU is free for a new product; orders already placed keep their lines. Deleting it
        again is a 404. `If-Match` with the `ETag` you read makes it a 412 if the product changed
        since; without it, a 409 when another request changed it at the same moment (retry).
        Answers 204 with no body.
        """
        delete_product(
            product_id=product_id, images=image_store(), expected_version=expected_version()
        )
        return no_content()
