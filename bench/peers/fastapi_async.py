"""The async FastAPI peer: ``async def`` endpoints on an ``AsyncSession`` per request.

SQLAlchemy's asyncio engine, on aiosqlite for SQLite (a PostgreSQL URL keeps
psycopg, whose async side SQLAlchemy picks for an async engine).

    DATABASE_URL=sqlite:///build/bench/run.sqlite \\
        gunicorn -k uvicorn_worker.UvicornWorker bench.peers.fastapi_async:app
"""

import os
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Query
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from .orm import Product
from .schemas import MAX_PER_PAGE, ProductOut, ProductPage, page_envelope

DATABASE_URL = os.environ["DATABASE_URL"].replace("sqlite://", "sqlite+aiosqlite://", 1)
engine = create_async_engine(DATABASE_URL)
SessionLocal = async_sessionmaker(engine, expire_on_commit=False)


async def get_session() -> AsyncIterator[AsyncSession]:
    """One session per request, closed after the response."""
    async with SessionLocal() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]

app = FastAPI(title="Storefront peer (FastAPI, async)")


@app.get("/health")
async def health() -> dict[str, str]:
    """Up."""
    return {"status": "ok"}


@app.get("/api/v1/products/{product_id}", response_model=ProductOut)
async def read_product(product_id: int, session: SessionDep):
    """One live product, or 404."""
    product = await session.get(Product, product_id)
    if product is None or product.deleted_at is not None:
        raise HTTPException(status_code=404, detail=f"Product {product_id} does not exist")
    return product


@app.get("/api/v1/products", response_model=ProductPage, response_model_exclude_none=True)
async def list_products(
    session: SessionDep,
    page: Annotated[int, Query(ge=1)] = 1,
    per_page: Annotated[int, Query(ge=1, le=MAX_PER_PAGE)] = 20,
):
    """A page of live products by id: the total, then the page by offset."""
    live = Product.deleted_at.is_(None)
    total = await session.scalar(select(func.count()).select_from(Product).where(live))
    by_id = select(Product).where(live).order_by(Product.id)
    result = await session.scalars(by_id.offset((page - 1) * per_page).limit(per_page))
    return page_envelope(result.all(), page=page, per_page=per_page, total=total)
