"""Pagination: query parameters, the page envelope, its links and the Link header.

Every listing is paged by number (``page``, ``per_page``). A listing that grows
without bound also takes a keyset cursor (``after``), which the ``next`` link of
every page but the last carries, so a client that follows ``next`` reads each
page with an index seek, as cheaply at the millionth row as at the first. A page
reads one row more than it shows, to know whether a ``next`` exists without
counting; ``total`` comes from ``api.http.page_counts``.
"""

from urllib.parse import urlencode

from flask import request
from flask_restx import fields

from api.config import PAGE_COUNT_CACHE_MIN, PAGE_COUNT_CACHE_SECONDS
from api.errors import ApiProblem
from api.http.cursors import Cursor, cursor_text, decode_cursor, encode_cursor
from api.http.page_counts import count_rows
from api.restx.parsers import bounded_int, make_parser
from models.base import Listing

MAX_PER_PAGE = 100
# Bounds the OFFSET: past it the arithmetic would overflow a 64-bit integer.
MAX_PAGE = 1_000_000
# The query arguments the envelope's links set themselves.
PAGING_ARGUMENTS = ("page", "per_page", "after")

TOTAL_DESCRIPTION = (
    f"Items in all pages. Under {PAGE_COUNT_CACHE_MIN:,} (PAGE_COUNT_CACHE_MIN by default) "
    "they are counted for every request; a larger count may be reused for up to "
    f"{PAGE_COUNT_CACHE_SECONDS} s (PAGE_COUNT_CACHE_SECONDS by default) by the server "
    "process that made it, until that process's next write, so writes through other "
    "processes can take that long to show"
)


def page_parser(*, cursor: bool = False):
    """A query parser with ``page`` and ``per_page`` (and ``after`` with ``cursor``)."""
    parser = make_parser()
    parser.add_argument(
        "page",
        type=bounded_int(1, MAX_PAGE),
        default=1,
        location="args",
        help="Page number, from 1",
    )
    parser.add_argument(
        "per_page",
        type=bounded_int(1, MAX_PER_PAGE),
        default=20,
        location="args",
        help=f"Items per page, at most {MAX_PER_PAGE}",
    )
    if cursor:
        parser.add_argument(
            "after",
            type=cursor_text,
            location="args",
            help="Keyset cursor: continue after the last item of a page, as fast at any depth. "
            "Opaque: copy it from a `next` link (every page but the last has one) with the "
            "same `sort`; filters may change. Not with `page` (400); a malformed cursor, or "
            "one made for another `sort`, is a 400. The page's `page` is the number it had "
            "when its cursor was made; items added or removed before it since then shift it",
        )
    return parser


def page_model(ns, name: str, item_model, *, skip_none: bool = True):
    """Register and return the envelope model of a page of ``item_model``.

    ``skip_none``: leave the items' null fields out (an item whose model says a
    field is null until known keeps it: ``skip_none=False``).
    """
    page_links = ns.model(
        "PageLinks",
        {
            rel: fields.String(
                required=rel in ("self", "first", "last"),
                description=text,
                example=example,
            )
            for rel, text, example in (
                ("self", "This page", "/api/v1/products?page=2&per_page=20"),
                ("first", "The first page", "/api/v1/products?page=1&per_page=20"),
                (
                    "prev",
                    "The previous page, by number (absent on the first)",
                    "/api/v1/products?page=1&per_page=20",
                ),
                (
                    "next",
                    "The next page, by keyset cursor where the listing takes `after`, "
                    "else by number (absent on the last)",
                    "/api/v1/products?after=eyJzIjpudWxsLCJ2IjpudWxsLCJpIjo0MCwicCI6M30&per_page=20",
                ),
                ("last", "The last page", "/api/v1/products?page=5&per_page=20"),
            )
        },
    )
    return ns.model(
        name,
        {
            "items": fields.List(
                fields.Nested(item_model, skip_none=skip_none),
                required=True,
                description="The items of this page",
            ),
            "page": fields.Integer(
                required=True,
                min=1,
                example=1,
                description="This page's number (after a cursor: its number when the cursor "
                "was made)",
            ),
            "per_page": fields.Integer(
                required=True, min=1, max=MAX_PER_PAGE, example=20, description="Items per page"
            ),
            "total": fields.Integer(
                required=True, min=0, example=97, description=TOTAL_DESCRIPTION
            ),
            "pages": fields.Integer(
                required=True,
                min=0,
                example=5,
                description="Number of pages: `total` divided by `per_page`, rounded up "
                "(so as fresh as `total`)",
            ),
            "_links": fields.Nested(page_links, required=True, skip_none=True),
        },
    )


def sort_argument(parser, sorts) -> None:
    """Add ``sort`` to a listing's parser: a key of ``sorts``, ``-`` for descending.

    The allow-list is the spec's enum, so anything else is a 400 before SQL.
    """
    parser.add_argument(
        "sort",
        location="args",
        choices=[*sorts, *(f"-{key}" for key in sorts)],
        help="Order by this field; a leading - sorts descending. Default: id",
    )


def page_of(parser, listing: Listing) -> tuple[dict, int, dict]:
    """Parse a listing's query string and return the page of ``listing`` it asks for.

    ``parser`` comes from ``page_parser``; every argument but the paging ones is
    handed to ``listing.select`` as a filter or sort. A listing with cursors
    also gets ``after``, a position in its ordering, when the request has one.
    """
    filters = parser.parse_args()
    page, per_page, after = (filters.pop(name, None) for name in PAGING_ARGUMENTS)
    if after is None:
        return paginate(listing, page=page, per_page=per_page, **filters)
    sort = filters.get("sort")
    cursor = _read_cursor(after, listing.ordering, sort)
    rows, more = _fetch(listing, listing.select(**filters, after=cursor.position), per_page)
    total = count_rows(listing.select(**filters))
    return _page(
        rows,
        more,
        page=cursor.page,
        per_page=per_page,
        total=total,
        listing=listing,
        sort=sort,
        self_after=after,
    )


def _read_cursor(after: str, ordering, sort: str | None) -> Cursor:
    """The cursor ``after`` of a request sorted by ``sort``, or a 400 problem."""
    if "page" in request.args:
        raise ApiProblem(
            400,
            "Invalid query parameter",
            errors={"after": ["cannot be combined with page: send one or the other"]},
        )
    return decode_cursor(
        after, sort=sort, column_type=ordering.column_type(sort), max_page=MAX_PAGE
    )


def paginate(listing: Listing, *, page: int, per_page: int, **filters) -> tuple[dict, int, dict]:
    """Page number ``page`` of ``listing`` under ``filters``: (envelope, 200, ``Link`` header).

    The ``next`` link is a cursor after this page's last row when the listing
    takes cursors, else the next page number.
    """
    query = listing.select(**filters)
    rows, more = _fetch(listing, query.offset((page - 1) * per_page), per_page)
    if more or (not rows and page > 1):
        total = count_rows(query)
    else:
        # The last page says how many there are, without counting.
        total = (page - 1) * per_page + len(rows)
    return _page(
        rows,
        more,
        page=page,
        per_page=per_page,
        total=total,
        listing=listing,
        sort=filters.get("sort"),
    )


def _fetch(listing: Listing, query, per_page: int) -> tuple[list, bool]:
    """Up to ``per_page`` rows of ``query``, and whether more follow (one more row is read)."""
    rows = listing.read(query.limit(per_page + 1))
    return rows[:per_page], len(rows) > per_page


def _page(rows, more, *, page, per_page, total, listing, sort, self_after=None):
    """The envelope, status and ``Link`` header of a page of ``rows``.

    ``more``: rows follow the last one; ``self_after``: the cursor that opened
    this page, if one did.
    """
    pages = -(-total // per_page)
    last = max(pages, 1)
    links = {
        "self": _url(per_page, after=self_after) if self_after else _url(per_page, page=page),
        "first": _url(per_page, page=1),
        "last": _url(per_page, page=last),
    }
    if page > 1:
        links["prev"] = _url(per_page, page=min(page - 1, last))
    if more:
        links["next"] = _next_url(rows[-1], page, per_page, listing, sort)
    envelope = {
        "items": rows,
        "page": page,
        "per_page": per_page,
        "total": total,
        "pages": pages,
        "_links": links,
    }
    header = ", ".join(f'<{url}>; rel="{rel}"' for rel, url in links.items())
    return envelope, 200, {"Link": header}


def _next_url(last_row, page: int, per_page: int, listing: Listing, sort: str | None) -> str:
    """The page after ``last_row``: by keyset cursor when the listing takes cursors."""
    if not listing.cursors:
        return _url(per_page, page=page + 1)
    # Past MAX_PAGE the number stops growing; the cursor still finds the rows.
    cursor = Cursor(sort, listing.ordering.position(last_row, sort), min(page + 1, MAX_PAGE))
    return _url(per_page, after=encode_cursor(cursor))


def _url(per_page: int, **paging) -> str:
    """This listing's URL with the request's filters and sort, and the given paging."""
    kept = {k: v for k, v in request.args.items() if k not in PAGING_ARGUMENTS}
    return f"{request.path}?{urlencode({**kept, **paging, 'per_page': per_page})}"
