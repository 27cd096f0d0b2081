"""The sync FastAPI peer: ``def`` endpoints on a ``Session`` per request.

    DATABASE_URL=sqlite:///build/bench/run.sqlite \\
        gunicorn -k uvicorn_worker.UvicornWorker bench.peers.fastapi_sync:app
"""

import os
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Query
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from .orm import Product
from .schemas import MAX_PER_PAGE, ProductOut, ProductPage, page_envelope

DATABASE_URL = os.environ["DATABASE_URL"]
# SQLite connections refuse other threads by default; FastAPI runs `def`
# endpoints and dependencies in a thread pool.
connect_args = {"check_same_thread": False} if DATABASE_URL.startswith("sqlite") else {}
engine = create_engine(DATABASE_URL, connect_args=connect_args)


def get_session() -> Iterator[Session]:
    """One session per request, closed after the response."""
    with Session(engine) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]

app = FastAPI(title="Storefront peer (FastAPI, sync)")


@app.get("/health")
def health() -> dict[str, str]:
    """Up."""
    return {"status": "ok"}


@app.get("/api/v1/products/{product_id}", response_model=ProductOut)
def read_product(product_id: int, session: SessionDep):
    """One live product, or 404."""
    product = session.get(Product, product_id)
    if product is None or product.deleted_at is not None:
        raise HTTPException(status_code=404, detail=f"Product {product_id} does not exist")
    return product


@app.get("/api/v1/products", response_model=ProductPage, response_model_exclude_none=True)
def list_products(
    session: SessionDep,
    page: Annotated[int, Query(ge=1)] = 1,
    per_page: Annotated[int, Query(ge=1, le=MAX_PER_PAGE)] = 20,
):
    """A page of live products by id: the total, then the page by offset."""
    live = Product.deleted_at.is_(None)
    total = session.scalar(select(func.count()).select_from(Product).where(live))
    by_id = select(Product).where(live).order_by(Product.id)
    items = session.scalars(by_id.offset((page - 1) * per_page).limit(per_page)).all()
    return page_envelope(items, page=page, per_page=per_page, total=total)
