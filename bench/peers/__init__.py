"""Peers: the same reads written with FastAPI, to measure the API against.

Two apps, written the way FastAPI's documentation writes them: SQLAlchemy ORM,
a session per request from a ``Depends`` dependency with ``yield``, pydantic v2
response models read from the ORM objects (``from_attributes``), and pages as
a count plus ``OFFSET``/``LIMIT``. ``fastapi_sync`` has plain ``def`` endpoints
on a ``Session`` (FastAPI runs them in its thread pool); ``fastapi_async`` has
``async def`` endpoints on an ``AsyncSession`` over SQLAlchemy's asyncio engine
(aiosqlite on SQLite). Both share the table and the response models
(``orm.py``, ``schemas.py``) and read ``DATABASE_URL``: the benchmark points them
at the app's own database file.

``bench/server.py`` serves each under gunicorn with uvicorn's worker class and
as many workers as the app has. They answer only what they are compared on:

- ``GET /api/v1/products/{product_id}``: the product, or 404 when it does not
  exist or is soft-deleted;
- ``GET /api/v1/products?page=&per_page=``: ``items``, ``page``, ``per_page``,
  ``total``, ``pages`` and page ``_links``, live products by id;
- ``GET /health``: 200, for the harness to know the server is up.

Products have the API's fields and ``_links.self``, timestamps in RFC 3339 UTC
to the second. Errors are FastAPI's own (``{"detail": ...}``), not problem+json:
the peers stand for what a FastAPI app gives for free, not for this API.
"""
