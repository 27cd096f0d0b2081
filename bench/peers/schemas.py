"""The peers' response models (pydantic v2) and what both apps share besides the table."""

import math
from datetime import UTC, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, computed_field

PRODUCTS_PATH = "/api/v1/products"
MAX_PER_PAGE = 100


def rfc3339(value: datetime) -> str:
    """``value`` in UTC with a ``Z``, to the second; naive values (SQLite's) are UTC."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(timespec="seconds") + "Z"


Timestamp = Annotated[datetime, PlainSerializer(rfc3339, return_type=str)]


class ProductOut(BaseModel):
    """A product as the API shows it."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    sku: str
    name: str
    description: str
    price_cents: int
    stock: int
    created_at: Timestamp
    updated_at: Timestamp

    @computed_field(alias="_links")
    @property
    def links(self) -> dict[str, str]:
        """Where the product lives."""
        return {"self": f"{PRODUCTS_PATH}/{self.id}"}


class PageLinks(BaseModel):
    """The pages around this one, by number (``prev`` and ``next`` absent at the ends)."""

    self: str
    first: str
    prev: str | None = None
    next: str | None = None
    last: str


class ProductPage(BaseModel):
    """One page of the catalog."""

    items: list[ProductOut]
    page: int
    per_page: int
    total: int
    pages: int
    links: PageLinks = Field(alias="_links")


def page_envelope(items, *, page: int, per_page: int, total: int) -> dict:
    """The page's fields around ``items`` (ORM objects: the response model reads them)."""
    pages = max(1, math.ceil(total / per_page))

    def at(number: int) -> str:
        return f"{PRODUCTS_PATH}?page={number}&per_page={per_page}"

    return {
        "items": items,
        "page": page,
        "per_page": per_page,
        "total": total,
        "pages": pages,
        "_links": {
            "self": at(page),
            "first": at(1),
            "prev": at(page - 1) if page > 1 else None,
            "next": at(page + 1) if page < pages else None,
            "last": at(pages),
        },
    }
