"""Micro-benchmark: restx's ``marshal`` against the compiled serializer, µs per object.

    python -m bench.serialize [--number 20000]

Measured in one process, inside a request context (the links call ``url_for``),
with the options the endpoints use: the ``Product`` model on one ORM row, and
the ``ProductPage`` envelope (``skip_none``) on a page of 50 rows. A written-out
function producing the same dict shows the floor; the model's plain fields alone
show the serializer's own cost; the two costs the model itself imposes
(``url_for`` per link, ``Timestamp.format`` per timestamp) are timed alone.
Each figure is the best of seven runs, the functions' runs interleaved.
"""

import argparse
import math
import timeit
from collections.abc import Callable
from datetime import datetime

from flask import url_for
from flask_restx import marshal

from api import create_app
from api.restx.fields import Timestamp
from api.restx.serialize import compile_model
from models import Product
from namespaces.products import Product as ProductModel
from namespaces.products import ProductPage

PAGE_SIZE = 50
REPEATS = 7
TIMESTAMP = Timestamp()


def best_us(functions: dict[str, Callable[[], object]], number: int) -> dict[str, float]:
    """µs per call of each function: the best of ``REPEATS`` runs of ``number`` calls.

    The runs of the functions alternate, so a busy neighbour slows them alike.
    """
    timers = {label: timeit.Timer(function) for label, function in functions.items()}
    best = dict.fromkeys(functions, math.inf)
    for _ in range(REPEATS):
        for label, timer in timers.items():
            best[label] = min(best[label], timer.timeit(number) / number * 1e6)
    return best


def rows(count: int) -> list[Product]:
    """Transient ORM rows, read through SQLAlchemy's instrumented attributes as in a request."""
    created = datetime(2026, 11, 21, 12, 0, 0)
    return [
        Product(
            id=n,
            sku=f"SKU-{n:04d}",
            name=f"Product {n}",
            description="A 350 ml camping mug.",
            price_cents=1299,
            stock=40,
            created_at=created,
            updated_at=created,
            image_sha256="ab" * 32 if n % 5 == 0 else None,
        )
        for n in range(1, count + 1)
    ]


def by_hand(product) -> dict:
    """The Product representation written out: the floor."""
    links = {"self": url_for("api.products_product_item", product_id=product.id)}
    if product.image_sha256:
        links["image"] = url_for("api.products_product_image", product_id=product.id)
    return {
        "id": product.id,
        "sku": product.sku,
        "name": product.name,
        "description": product.description,
        "price_cents": product.price_cents,
        "stock": product.stock,
        "created_at": TIMESTAMP.format(product.created_at),
        "updated_at": TIMESTAMP.format(product.updated_at),
        "_links": links,
    }


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=20000, help="calls per run, one object")
    number = parser.parse_args().number
    app = create_app({"APP_ENV": "testing", "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    page_rows = rows(PAGE_SIZE)
    product = page_rows[0]
    links = {"self": "/api/v1/products?page=1&per_page=50", "first": "…", "last": "…"}
    page = {"items": page_rows, "page": 1, "per_page": 50, "total": 50, "pages": 1}
    page["_links"] = links
    # The model without what costs the same either way (url_for, Timestamp.format):
    # what is left is the serializer's own work.
    plain = {name: field for name, field in ProductModel.items() if type(field) is not Timestamp}
    plain.pop("_links")
    one = compile_model(ProductModel)
    one_plain = compile_model(plain)
    many = compile_model(ProductPage, skip_none=True)
    with app.test_request_context():
        assert one(product) == marshal(product, ProductModel)  # noqa: S101 - a sanity check
        assert many(page) == marshal(page, ProductPage, skip_none=True)  # noqa: S101
        single = best_us(
            {
                "Product: marshal": lambda: marshal(product, ProductModel),
                "Product: compiled": lambda: one(product),
                "Product: by hand": lambda: by_hand(product),
                "Product's 6 plain fields: marshal": lambda: marshal(product, plain),
                "Product's 6 plain fields: compiled": lambda: one_plain(product),
                "  of which one url_for": lambda: url_for(
                    "api.products_product_item", product_id=1
                ),
                "  of which one Timestamp.format": lambda: TIMESTAMP.format(product.created_at),
            },
            number,
        )
        paged = best_us(
            {
                f"ProductPage of {PAGE_SIZE}: marshal": lambda: marshal(
                    page, ProductPage, skip_none=True
                ),
                f"ProductPage of {PAGE_SIZE}: compiled": lambda: many(page),
            },
            max(number // PAGE_SIZE, 1),
        )
    figures = {**single, **paged}
    width = max(map(len, figures))
    for label, micros in figures.items():
        print(f"{label:<{width}}  {micros:9.1f} µs")
    marshal_one, compiled_one = single["Product: marshal"], single["Product: compiled"]
    marshal_page, compiled_page = paged.values()
    print(
        f"speed-up: Product {marshal_one / compiled_one:.1f}×, "
        f"ProductPage {marshal_page / compiled_page:.1f}×"
    )


if __name__ == "__main__":
    main()
