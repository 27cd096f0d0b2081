"""Compressed responses (zstd, brotli, gzip) for clients that accept them.

Only bodies of at least ``MIN_SIZE`` bytes are compressed: below about one
network packet, compression saves nothing and costs CPU. A compressed response
varies by ``Accept-Encoding``, and flask-compress gives it its own strong ETag
(``"<etag>:gzip"``), as a different representation must have; it also answers
an ``If-None-Match`` naming that tag with a 304.

Responses whose bytes are fixed for the life of the process (the spec
documents) are compressed once per coding: their views call
``keep_compressed_copies`` with their ETag, which keys flask-compress's cache.
Everything else is compressed afresh, and never stored.
"""

import re

from flask import g, request
from flask_compress import Compress

MIN_SIZE = 1024
# Text formats the API, its docs and its metrics send; images are compressed already.
MIMETYPES = [
    "application/json",
    "application/problem+json",
    "application/xml",
    "text/csv",
    "text/html",
    "text/css",
    "text/javascript",
    "application/javascript",
    "text/plain",
]


_CODING_SUFFIX = re.compile(r':(?:zstd|br|gzip|deflate)"')


def _match_compressed_copies():
    # A client that edits what it read compressed sends If-Match: "<etag>:gzip".
    # Which coding it was read in does not matter to a write: the views compare
    # the tag they know.
    if_match = request.environ.get("HTTP_IF_MATCH")
    if if_match:
        request.environ["HTTP_IF_MATCH"] = _CODING_SUFFIX.sub('"', if_match)


class _FixedBodyCopies:
    """flask-compress's cache backend: it keeps only copies of fixed bodies.

    flask-compress asks its cache about every response it compresses, under
    ``"<coding>;<key>"``, the key from ``COMPRESS_CACHE_KEY``. Only a response
    whose view called ``keep_compressed_copies`` has a key; the rest (a product,
    a page, the metrics) change with every write, so a copy would be wrong the
    next time and would grow memory without bound. The documents are a handful
    of bodies in a few codings, so this store needs no eviction.
    """

    def __init__(self) -> None:
        self._copies: dict[str, bytes] = {}

    def get(self, key: str) -> bytes | None:
        """The copy stored under ``key``, if any."""
        return self._copies.get(key)

    def set(self, key: str, value: bytes) -> None:
        """Keep ``value`` only if its response named itself fixed."""
        if not key.endswith(";"):
            self._copies[key] = value


def keep_compressed_copies(tag: str) -> None:
    """Let this request's response be compressed once and reused, per coding.

    ``tag`` must change whenever the body does (a strong ETag does); a view
    calls this only for bytes that stay the same for the life of the process.
    """
    g.fixed_body_tag = tag


def _fixed_body_tag(_request) -> str:
    return g.get("fixed_body_tag", "")


def _close_the_original_body(response):
    # flask-compress replaces a streamed body (a static file) with a compressing
    # generator over it, so closing the response no longer closes the file.
    body = response.response
    if response.is_streamed and hasattr(body, "close"):
        response.call_on_close(body.close)
    return response


def register_compression(app) -> None:
    """Compress large text responses; clients that send no ``Accept-Encoding`` get identity."""
    app.config.setdefault("COMPRESS_MIN_SIZE", MIN_SIZE)
    app.config.setdefault("COMPRESS_MIMETYPES", MIMETYPES)
    app.config.setdefault("COMPRESS_CACHE_BACKEND", _FixedBodyCopies)
    app.config.setdefault("COMPRESS_CACHE_KEY", _fixed_body_tag)
    Compress(app)
    app.before_request(_match_compressed_copies)
    # Registered after flask-compress, so it runs before it sees the response.
    app.after_request(_close_the_original_body)
