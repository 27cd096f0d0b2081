"""Compressed responses (zstd, brotli, gzip) for clients that accept them.

Only bodies of at least ``MIN_SIZE`` bytes are compressed: below about one
network packet, compression saves nothing and costs CPU. A compressed response
varies by ``Accept-Encoding``, and flask-compress gives it its own strong ETag
(``"<etag>:gzip"``), as a different representation must have; it also answers
an ``If-None-Match`` naming that tag with a 304.
"""

import re

from flask import request
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
    Compress(app)
    app.before_request(_match_compressed_copies)
    # Registered after flask-compress, so it runs before it sees the response.
    app.after_request(_close_the_original_body)
