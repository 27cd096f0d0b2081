"""Products of the catalog, and the functions that change them."""

from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    CheckConstraint,
    Index,
    Integer,
    Select,
    String,
    Text,
    bindparam,
    select,
    update,
)
from sqlalchemy.orm import Mapped, mapped_column

from models.base import (
    PG_TRGM,
    IdType,
    Listing,
    Ordering,
    SoftDeleteMixin,
    TimestampedMixin,
    check_version,
    db,
    live_listing_indexes,
    live_trigram_indexes,
    read_row,
    read_rows,
    transaction,
    unicode_lower,
    utcnow,
)
from models.errors import ConflictError, NotFoundError

if TYPE_CHECKING:  # models.images imports this module: the store is passed in, not imported
    from models.images import ImageStore

SKU_PATTERN = "^[A-Z0-9][A-Z0-9_-]*$"
SKU_MAX_LENGTH = 64
NAME_MAX_LENGTH = 200
DESCRIPTION_MAX_LENGTH = 5000
# Bounds that keep values inside a 32-bit integer column on every database.
MAX_PRICE_CENTS = 1_000_000_000
MAX_STOCK = 1_000_000_000


class Product(TimestampedMixin, SoftDeleteMixin, db.Model):
    """Something the store sells; prices are integer cents, stock never negative."""

    __tablename__ = "products"
    __table_args__ = (
        CheckConstraint("price_cents >= 0", name="price_cents"),
        CheckConstraint("stock >= 0", name="stock"),
        # Unique among live products, so a deleted product's SKU can be reused.
        Index(
            "uq_products_sku_live",
            "sku",
            unique=True,
            sqlite_where=db.text("deleted_at IS NULL"),
            postgresql_where=db.text("deleted_at IS NULL"),
        ),
        # Listings (``product_query``): every sort and filter column, and ``q``.
        *live_listing_indexes("products", "name", "price_cents", "created_at", "stock"),
        *live_trigram_indexes("products", "name", "sku"),
        PG_TRGM,
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    sku: Mapped[str] = mapped_column(String(SKU_MAX_LENGTH))
    name: Mapped[str] = mapped_column(String(NAME_MAX_LENGTH))
    description: Mapped[str] = mapped_column(Text, default="")
    price_cents: Mapped[int] = mapped_column(Integer)
    stock: Mapped[int] = mapped_column(Integer, default=0)
    # The picture, if any: the SHA-256 naming its file, and its media type.
    image_sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    image_type: Mapped[str | None] = mapped_column(String(32))

    def __repr__(self) -> str:
        return f"<Product {self.id} {self.sku}>"


# The orderings a client may ask for; anything else never reaches SQL.
PRODUCT_SORTS = {
    "name": Product.name,
    "price_cents": Product.price_cents,
    "created_at": Product.created_at,
}
PRODUCT_ORDERING = Ordering(PRODUCT_SORTS, Product.id)


def _live_sku_taken(sku: str, *, except_id: int | None = None) -> bool:
    query = select(Product.id).where(Product.sku == sku, Product.deleted_at.is_(None))
    if except_id is not None:
        query = query.where(Product.id != except_id)
    return db.session.scalar(query.limit(1)) is not None


def _duplicate_sku(sku: str) -> str:
    return f"A product with SKU {sku} already exists"


def get_product(product_id: int) -> Product:
    """Return the live product ``product_id`` or raise ``NotFoundError``."""
    product = db.session.get(Product, product_id)
    if product is None or product.is_deleted:
        raise NotFoundError("Product", product_id)
    return product


_LIVE_PRODUCT = select(Product.__table__).where(
    Product.id == bindparam("product_id"), Product.deleted_at.is_(None)
)


def read_product(product_id: int):
    """The live product ``product_id`` as a read-only row (see ``read_row``), or ``NotFoundError``.

    For answering a GET; a change goes through ``get_product`` and the session.
    """
    product = read_row(_LIVE_PRODUCT, product_id=product_id)
    if product is None:
        raise NotFoundError("Product", product_id)
    return product


def product_query(
    *,
    q: str | None = None,
    min_price: int | None = None,
    max_price: int | None = None,
    in_stock: bool | None = None,
    sort: str | None = None,
    after: tuple | None = None,
) -> Select:
    """Build the select for a filtered, sorted product listing (live products only).

    ``sort`` is a key of ``PRODUCT_SORTS``, optionally prefixed with ``-`` for
    descending; ties break on id so pages never overlap or skip. ``after``, a
    position from ``PRODUCT_ORDERING.position``, keeps only the products that
    follow it in that order.
    """
    query = select(Product).where(Product.deleted_at.is_(None))
    if q:
        needle = q.lower()
        query = query.where(
            unicode_lower(Product.name).contains(needle, autoescape=True)
            | unicode_lower(Product.sku).contains(needle, autoescape=True)
        )
    if min_price is not None:
        query = query.where(Product.price_cents >= min_price)
    if max_price is not None:
        query = query.where(Product.price_cents <= max_price)
    if in_stock is True:
        query = query.where(Product.stock > 0)
    elif in_stock is False:
        query = query.where(Product.stock == 0)
    if after is not None:
        query = query.where(PRODUCT_ORDERING.after(sort, after))
    return query.order_by(*PRODUCT_ORDERING.order_by(sort))


# Product pages need no relationship: Core rows, not ORM objects.
PRODUCTS = Listing(product_query, PRODUCT_ORDERING, read=read_rows)


def create_product(
    *, sku: str, name: str, price_cents: int, stock: int = 0, description: str = ""
) -> Product:
    """Create a product; a live product with the same SKU is a ``ConflictError``."""
    with transaction(conflict=_duplicate_sku(sku)):
        if _live_sku_taken(sku):
            raise ConflictError(_duplicate_sku(sku))
        product = Product(
            sku=sku, name=name, price_cents=price_cents, stock=stock, description=description
        )
        db.session.add(product)
    return product


def replace_product(
    *,
    product_id: int,
    sku: str,
    name: str,
    price_cents: int,
    stock: int = 0,
    description: str = "",
    expected_version: frozenset[int] | None = None,
) -> Product:
    """Replace every client-owned field of a product (PUT semantics)."""
    return update_product(
        product_id=product_id,
        expected_version=expected_version,
        sku=sku,
        name=name,
        price_cents=price_cents,
        stock=stock,
        description=description,
    )


EDITABLE_FIELDS = frozenset({"sku", "name", "description", "price_cents", "stock"})


def update_product(
    *, product_id: int, expected_version: frozenset[int] | None = None, **changes: Any
) -> Product:
    """Change the given fields of a product (PATCH semantics).

    With ``expected_version`` (from ``If-Match``), a product changed since the
    client read it is a ``PreconditionFailedError``.
    """
    unknown = set(changes) - EDITABLE_FIELDS
    if unknown:
        raise TypeError(f"not editable: {sorted(unknown)}")
    product = get_product(product_id)
    check_version(product, expected_version, entity="Product")
    sku = changes.get("sku", product.sku)
    with transaction(conflict=_duplicate_sku(sku)):
        if "sku" in changes and _live_sku_taken(sku, except_id=product.id):
            raise ConflictError(_duplicate_sku(sku))
        for field, value in changes.items():
            setattr(product, field, value)
    return product


def delete_product(
    *,
    product_id: int,
    expected_version: frozenset[int] | None = None,
    images: "ImageStore | None" = None,
) -> None:
    """Soft-delete a product: it answers 404 and leaves listings, orders keep it.

    Its picture's file goes too, from ``images``, once the deletion has
    committed and unless another live product shows the same picture. Without
    ``images`` the file stays until ``sweep_unused`` (``flask sweep-images``).
    """
    product = get_product(product_id)
    check_version(product, expected_version, entity="Product")
    picture = (product.image_sha256, product.image_type)
    with transaction():
        product.deleted_at = utcnow()
    if images is not None:
        images.discard_unused(*picture)


MAX_BULK = 500


def create_products(*, items: list[dict]) -> list[Product]:
    """Create up to ``MAX_BULK`` products in one transaction: all of them or none.

    A SKU repeated in the batch, or already used by a live product, is a
    ``ConflictError`` naming every such SKU.
    """
    skus = [item["sku"] for item in items]
    repeated = sorted({sku for sku in skus if skus.count(sku) > 1})
    if repeated:
        raise ConflictError("SKUs repeated in the batch: " + ", ".join(repeated))
    with transaction(conflict="A SKU in the batch is already in use"):
        taken = db.session.scalars(
            select(Product.sku).where(Product.sku.in_(skus), Product.deleted_at.is_(None))
        ).all()
        if taken:
            raise ConflictError("SKUs already in use: " + ", ".join(sorted(taken)))
        products = [Product(**{"stock": 0, "description": "", **item}) for item in items]
        db.session.add_all(products)
    return products


def delete_products(
    *, ids: list[int], images: "ImageStore | None" = None
) -> tuple[list[int], list[int]]:
    """Soft-delete the live products among ``ids``; return (deleted ids, ids not found).

    Their pictures' files go as ``delete_product`` removes one.
    """
    wanted = sorted(set(ids))
    with transaction():
        # The pictures of exactly the rows this statement deleted, read as it did.
        deleted = db.session.execute(
            update(Product)
            .where(Product.id.in_(wanted), Product.deleted_at.is_(None))
            .values(deleted_at=utcnow(), version=Product.version + 1)
            .returning(Product.id, Product.image_sha256, Product.image_type)
            .execution_options(synchronize_session=False)
        ).all()
    if images is not None:
        for picture in {(row.image_sha256, row.image_type) for row in deleted}:
            images.discard_unused(*picture)
    found = {row.id for row in deleted}
    return sorted(found), [product_id for product_id in wanted if product_id not in found]
