"""Product writes without HTTP: SKU uniqueness, soft deletes, versions, bulk writes."""

import pytest
from sqlalchemy import select

from models import ConflictError, NotFoundError, PreconditionFailedError, Product, db
from models.order import get_order, place_order
from models.product import (
    create_product,
    create_products,
    delete_product,
    delete_products,
    get_product,
    product_query,
    read_product,
    replace_product,
    update_product,
)

pytestmark = pytest.mark.usefixtures("domain")


def live_ids() -> list[int]:
    """The ids a product listing shows."""
    return list(db.session.scalars(product_query().with_only_columns(Product.id)))


# create_product


def test_a_created_product_is_stored_with_its_defaults(stored):
    product = create_product(sku="PEN-1", name="Pen", price_cents=150)

    row = stored.row(Product, product.id)
    assert (row.sku, row.name, row.price_cents) == ("PEN-1", "Pen", 150)
    assert (row.stock, row.description, row.version, row.deleted_at) == (0, "", 1, None)


def test_a_sku_a_live_product_has_is_a_conflict_and_nothing_is_written(
    new_product, stored, refused
):
    new_product(sku="PEN-1")

    error = refused(ConflictError, create_product, sku="PEN-1", name="Other", price_cents=1)

    assert error.detail == "A product with SKU PEN-1 already exists"
    assert stored.count(Product) == 1


def test_a_duplicate_sku_the_check_missed_is_still_a_conflict(
    new_product, stored, refused, monkeypatch
):
    """Two requests racing for one SKU: the unique index refuses what the look-up let by."""
    new_product(sku="PEN-1")
    monkeypatch.setattr("models.product._live_sku_taken", lambda sku, except_id=None: False)

    error = refused(ConflictError, create_product, sku="PEN-1", name="Other", price_cents=1)

    assert error.detail == "A product with SKU PEN-1 already exists"
    assert stored.count(Product) == 1


def test_a_deleted_products_sku_can_be_used_again(new_product, stored):
    old = new_product(sku="PEN-1")
    delete_product(product_id=old.id)

    new = create_product(sku="PEN-1", name="Pen, again", price_cents=1)

    assert new.id != old.id
    assert stored.rows(select(Product.id).where(Product.sku == "PEN-1").order_by(Product.id)) == [
        (old.id,),
        (new.id,),
    ]


@pytest.mark.parametrize("bad", [{"price_cents": -1}, {"stock": -1}])
def test_a_negative_price_or_stock_is_refused_and_nothing_is_written(stored, refused, bad):
    fields = {"sku": "PEN-1", "name": "Pen", "price_cents": 1, "stock": 1, **bad}

    refused(ConflictError, create_product, **fields)

    assert stored.count(Product) == 0


# update_product and replace_product


def test_an_update_changes_only_the_given_fields_and_the_version(new_product, stored):
    product = new_product(sku="PEN-1", name="Pen", price_cents=100, stock=5, description="Blue")
    before = stored.row(Product, product.id)

    update_product(product_id=product.id, price_cents=120)

    after = stored.row(Product, product.id)
    assert after.price_cents == 120
    assert (after.sku, after.name, after.stock, after.description) == ("PEN-1", "Pen", 5, "Blue")
    assert after.version > before.version


def test_an_update_that_changes_nothing_keeps_the_version(new_product, stored):
    product = new_product(name="Pen")
    before = stored.row(Product, product.id).version

    update_product(product_id=product.id, name="Pen")

    assert stored.row(Product, product.id).version == before


def test_another_live_products_sku_is_a_conflict_and_changes_nothing(new_product, stored, refused):
    new_product(sku="PEN-1")
    ink = new_product(sku="INK-1", name="Ink")

    error = refused(ConflictError, update_product, product_id=ink.id, sku="PEN-1", name="Renamed")

    assert error.detail == "A product with SKU PEN-1 already exists"
    row = stored.row(Product, ink.id)
    assert (row.sku, row.name) == ("INK-1", "Ink")


def test_a_product_keeps_its_own_sku_without_conflict(new_product, stored):
    product = new_product(sku="PEN-1")

    replace_product(product_id=product.id, sku="PEN-1", name="Pen", price_cents=1)

    assert stored.row(Product, product.id).name == "Pen"


def test_a_deleted_products_sku_can_be_taken_by_an_update(new_product, stored):
    gone, ink = new_product(sku="PEN-1"), new_product(sku="INK-1")
    delete_product(product_id=gone.id)

    update_product(product_id=ink.id, sku="PEN-1")

    assert stored.row(Product, ink.id).sku == "PEN-1"


def test_replacing_a_product_resets_omitted_stock_and_description(new_product, stored):
    product = new_product(stock=5, description="Blue")

    replace_product(product_id=product.id, sku="PEN-2", name="Pen", price_cents=99)

    row = stored.row(Product, product.id)
    assert (row.sku, row.name, row.price_cents, row.stock, row.description) == (
        "PEN-2",
        "Pen",
        99,
        0,
        "",
    )


def test_a_write_from_a_stale_version_is_refused_and_changes_nothing(new_product, stored, refused):
    product = new_product(name="Pen")
    current = stored.row(Product, product.id).version

    refused(
        PreconditionFailedError,
        update_product,
        product_id=product.id,
        expected_version=frozenset({current + 1}),
        name="Stale",
    )
    refused(
        PreconditionFailedError,
        delete_product,
        product_id=product.id,
        expected_version=frozenset({current + 1}),
    )
    row = stored.row(Product, product.id)
    assert (row.name, row.deleted_at) == ("Pen", None)

    update_product(product_id=product.id, expected_version=frozenset({current}), name="Fresh")
    assert stored.row(Product, product.id).name == "Fresh"


@pytest.mark.parametrize("field", ["id", "version", "deleted_at", "image_sha256"])
def test_a_server_owned_field_cannot_be_updated(new_product, stored, refused, field):
    product = new_product()
    before = stored.row(Product, product.id)

    refused(TypeError, update_product, product_id=product.id, **{field: None})

    assert stored.row(Product, product.id) == before


# delete_product: soft deletes


def test_a_deleted_product_keeps_its_row_but_is_gone(new_product, stored):
    product, other = new_product(), new_product()
    before = stored.row(Product, product.id).version

    delete_product(product_id=product.id)

    row = stored.row(Product, product.id)
    assert row.deleted_at is not None
    assert row.version > before
    with pytest.raises(NotFoundError):
        get_product(product.id)
    with pytest.raises(NotFoundError):
        read_product(product.id)
    assert live_ids() == [other.id]


WRITES = {
    "update": lambda product_id: update_product(product_id=product_id, name="X"),
    "replace": lambda product_id: replace_product(
        product_id=product_id, sku="NEW-1", name="X", price_cents=1
    ),
    "delete": lambda product_id: delete_product(product_id=product_id),
}


@pytest.mark.parametrize("write", WRITES.values(), ids=WRITES.keys())
def test_a_deleted_product_cannot_be_written_again(new_product, stored, refused, write):
    product = new_product(name="Pen")
    delete_product(product_id=product.id)
    before = stored.row(Product, product.id)

    error = refused(NotFoundError, write, product_id=product.id)

    assert (error.entity, error.key) == ("Product", product.id)
    assert stored.row(Product, product.id) == before


@pytest.mark.parametrize("write", WRITES.values(), ids=WRITES.keys())
def test_an_unknown_product_cannot_be_written(refused, write):
    refused(NotFoundError, write, product_id=424242)


def test_orders_still_show_a_deleted_product(new_user, new_product):
    product = new_product(price_cents=300)
    order = place_order(user=new_user(), items=[{"product_id": product.id, "quantity": 2}]).order
    delete_product(product_id=product.id)

    lines = get_order(order.id).items

    assert [(i.product_id, i.quantity, i.unit_price_cents) for i in lines] == [(product.id, 2, 300)]


# create_products and delete_products: the bulk writes


def test_a_batch_is_created_in_order_with_defaults(stored):
    created = create_products(
        items=[
            {"sku": "B-2", "name": "Second", "price_cents": 2, "stock": 7, "description": "d"},
            {"sku": "B-1", "name": "First", "price_cents": 1},
        ]
    )

    assert [p.sku for p in created] == ["B-2", "B-1"]
    rows = stored.rows(select(Product.sku, Product.stock, Product.description).order_by(Product.id))
    assert rows == [("B-2", 7, "d"), ("B-1", 0, "")]


def test_a_sku_repeated_in_the_batch_is_a_conflict_naming_it(stored, refused):
    items = [
        {"sku": sku, "name": "x", "price_cents": 1} for sku in ("A-1", "B-1", "A-1", "C-1", "B-1")
    ]

    error = refused(ConflictError, create_products, items=items)

    assert error.detail == "SKUs repeated in the batch: A-1, B-1"
    assert stored.count(Product) == 0


def test_skus_of_live_products_are_a_conflict_naming_them_and_nothing_is_written(
    new_product, stored, refused
):
    new_product(sku="B-3")
    new_product(sku="B-1")
    items = [{"sku": sku, "name": "x", "price_cents": 1} for sku in ("B-1", "B-2", "B-3")]

    error = refused(ConflictError, create_products, items=items)

    assert error.detail == "SKUs already in use: B-1, B-3"
    assert stored.count(Product) == 2


def test_a_batch_may_reuse_the_skus_of_deleted_products(new_product, stored):
    gone = new_product(sku="B-1")
    delete_product(product_id=gone.id)

    create_products(items=[{"sku": "B-1", "name": "x", "price_cents": 1}])

    assert stored.count(Product) == 2


def test_one_bad_item_fails_the_whole_batch(stored, refused):
    items = [
        {"sku": "B-1", "name": "x", "price_cents": 1},
        {"sku": "B-2", "name": "x", "price_cents": -1},
    ]

    refused(ConflictError, create_products, items=items)

    assert stored.count(Product) == 0


def test_bulk_delete_reports_what_it_deleted_and_what_it_did_not_find(new_product, stored):
    first, second, already, kept = (new_product() for _ in range(4))
    delete_product(product_id=already.id)
    versions = {p.id: stored.row(Product, p.id).version for p in (first, second)}
    unknown = kept.id + 1000

    deleted, not_found = delete_products(ids=[unknown, second.id, first.id, second.id, already.id])

    assert deleted == sorted([first.id, second.id])
    assert not_found == sorted([unknown, already.id])
    for product_id in deleted:
        row = stored.row(Product, product_id)
        assert row.deleted_at is not None
        assert row.version > versions[product_id]
    assert live_ids() == [kept.id]


def test_bulk_delete_of_nothing_live_changes_nothing(new_product, stored):
    kept = new_product()
    before = stored.row(Product, kept.id)

    assert delete_products(ids=[kept.id + 1000]) == ([], [kept.id + 1000])
    assert stored.row(Product, kept.id) == before
