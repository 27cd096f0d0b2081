"""A product's picture: uploaded by admins, served to anyone.

It extends the ``products`` namespace; the module is separate to keep each
file about one thing.
"""

from flask import Response, request
from werkzeug.datastructures import FileStorage

from api.auth import auth_required, public
from api.errors import PROBLEM_MEDIA_TYPE, ApiProblem, problems
from api.http.conditional import conditional_write, expected_version, tagged
from api.http.negotiation import XML, produces
from api.http.responses import no_content
from api.restx.base import Resource
from api.restx.examples import NO_SUCH_ID, path_example
from api.restx.fields import id_param, id_route
from api.restx.parsers import make_parser, parse_form
from api.uploads import image_store
from models.base import CHANGED_MEANWHILE
from models.image_checks import MEDIA_TYPES
from models.images import product_image, remove_product_image, set_product_image
from namespaces.products import CONCURRENT_WRITE, DEMO_MUG_ID, Product, ns

# Multipart framing around the file; the file itself is checked exactly.
MULTIPART_OVERHEAD = 64 * 1024
# Browsers and proxies may reuse an image this long before revalidating its ETag.
CACHE_SECONDS = 300

upload_parser = make_parser()
upload_parser.add_argument(
    "image",
    type=FileStorage,
    location="files",
    required=True,
    help=(
        "A PNG, JPEG or WebP image (recognised by content), at most MAX_UPLOAD_MB (5 MB) and "
        "MAX_IMAGE_PIXELS (40 megapixels). It must decode whole: a file that only starts like "
        "one of these formats is a 422 naming this field"
    ),
)


@ns.route(f"{id_route('product_id')}/image")
@ns.doc(params={"product_id": id_param("Product id", example=DEMO_MUG_ID)})
class ProductImage(Resource):
    """A product's picture."""

    @ns.doc(id="getProductImage")
    @public(ns)
    @ns.produces([*MEDIA_TYPES, PROBLEM_MEDIA_TYPE])
    @ns.response(200, "The image, with ETag and Cache-Control")
    @ns.response(304, "Not modified: your copy (If-None-Match) is current")
    @problems(
        ns,
        404,
        429,
        d404="No such product, or it has no image",
        examples={404: "Image of product {product_id} does not exist"},
    )
    def get(self, product_id):
        """Return the product's image in its own media type.

        Public. The ETag is the SHA-256 of the bytes, so If-None-Match answers
        304 while the picture is unchanged; Cache-Control lets caches reuse it
        for five minutes. 404 when the product does not exist (or was deleted)
        or has no image.
        """
        data, media_type, digest = product_image(product_id, image_store())
        response = Response(data, mimetype=media_type)
        response.set_etag(digest)
        response.make_conditional(request)
        response.cache_control.public = True
        response.cache_control.max_age = CACHE_SECONDS
        return response

    @ns.doc(id="putProductImage")
    @auth_required(ns, admin=True)
    @ns.expect(upload_parser)
    @produces(ns, XML)
    @problems(
        ns,
        400,
        404,
        409,
        413,
        415,
        422,
        429,
        d409=CONCURRENT_WRITE,
        d400="No image file in the multipart body, or a form field other than image "
        "(the problem names each one)",
        d413="The image is over MAX_UPLOAD_MB, or has more than MAX_IMAGE_PIXELS pixels",
        d415="Not multipart/form-data, or the file is not a PNG, JPEG or WebP image",
        d422="The file starts like a PNG, JPEG or WebP image but does not decode as one",
        examples={
            400: {"detail": "Invalid query parameter", "errors": {"image": ["is required"]}},
            409: CHANGED_MEANWHILE,
            413: "The image is larger than 5242880 bytes",
            415: "The file must be a PNG, JPEG or WebP image (checked by its content)",
            422: {
                "detail": "The file is not a PNG, JPEG or WebP image that can be decoded",
                "errors": {
                    "image": ["The file is not a PNG, JPEG or WebP image that can be decoded"]
                },
            },
        },
    )
    @conditional_write(ns)
    @ns.marshal_with(Product)
    def put(self, product_id):
        """Upload or replace the product's image (admin)

        Send multipart/form-data with one file in the field image. Only PNG,
        JPEG and WebP are accepted, recognised by their bytes whatever the file
        name says (415 otherwise), and the file must decode whole as the format
        it starts as: a truncated or corrupt one is a 422 naming the field image.
        Over MAX_UPLOAD_MB (5 MB), or more than MAX_IMAGE_PIXELS (40 megapixels)
        once decoded, is a 413. Files are stored by content hash, written whole
        or not at all. Answers the product, whose _links.image then points at the
        picture; If-Match guards it (412). 409 when another request changed the
        product at the same moment: read it again and retry.
        """
        store = image_store()
        if request.mimetype != "multipart/form-data":
            raise ApiProblem(415, "Send the image as multipart/form-data, in a field named image")
        request.max_content_length = store.max_bytes + MULTIPART_OVERHEAD
        upload = parse_form(upload_parser)["image"]
        try:
            data = upload.stream.read(store.max_bytes + 1)
        finally:
            upload.close()  # large parts are spooled to a temporary file
        product = set_product_image(
            product_id=product_id, data=data, store=store, expected_version=expected_version()
        )
        return tagged(product)

    @ns.doc(id="deleteProductImage")
    @path_example(ns, product_id=NO_SUCH_ID)
    @auth_required(ns, admin=True)
    @problems(
        ns,
        404,
        409,
        429,
        d404="No such product, or it has no image",
        d409=CONCURRENT_WRITE,
        examples={404: "Product {product_id} does not exist", 409: CHANGED_MEANWHILE},
    )
    @conditional_write(ns)
    @ns.response(204, "Removed")
    def delete(self, product_id):
        """Remove the product's image (admin).

        The product stays; its _links.image disappears and GET on the image
        answers 404. The file is deleted once no live product uses it. 404 when the
        product has no image; a stale If-Match is a 412; 409 when another request
        changed the product at the same moment (retry: it may then be a 404).
        """
        remove_product_image(
            product_id=product_id, store=image_store(), expected_version=expected_version()
        )
        return no_content()
