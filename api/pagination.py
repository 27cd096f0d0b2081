"""Offset pagination: query parameters, the page envelope and the Link header."""

from urllib.parse import urlencode

from flask import request
from flask_restx import fields

from api.parsers import bounded_int, make_parser
from models import db

MAX_PER_PAGE = 100
# Bounds the OFFSET: past it the arithmetic would overflow a 64-bit integer.
MAX_PAGE = 1_000_000


def page_parser():
    """A query parser with ``page`` and ``per_page``; add filters to the copy."""
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
    return parser


def page_model(ns, name: str, item_model):
    """Register and return the envelope model of a page of ``item_model``."""
    page_links = ns.model(
        "PageLinks",
        {
            rel: fields.String(
                required=rel in ("self", "first", "last"),
                description=text,
                example=f"/api/v1/products?page={number}&per_page=20",
            )
            for rel, text, number in (
                ("self", "This page", 2),
                ("first", "The first page", 1),
                ("prev", "The previous page (absent on the first)", 1),
                ("next", "The next page (absent on the last)", 3),
                ("last", "The last page", 5),
            )
        },
    )
    return ns.model(
        name,
        {
            "items": fields.List(
                fields.Nested(item_model, skip_none=True),
                required=True,
                description="The items of this page",
            ),
            "page": fields.Integer(required=True, min=1, example=1, description="This page"),
            "per_page": fields.Integer(
                required=True, min=1, max=MAX_PER_PAGE, example=20, description="Items per page"
            ),
            "total": fields.Integer(
                required=True, min=0, example=97, description="Items in all pages"
            ),
            "pages": fields.Integer(required=True, min=0, example=5, description="Number of pages"),
            "_links": fields.Nested(page_links, required=True, skip_none=True),
        },
    )


def _page_url(page: int, per_page: int) -> str:
    args = {k: v for k, v in request.args.items() if k not in ("page", "per_page")}
    return f"{request.path}?{urlencode({**args, 'page': page, 'per_page': per_page})}"


def page_of(parser, build_query) -> tuple[dict, int, dict]:
    """Parse a listing's query string and return the page ``build_query(**filters)`` selects.

    ``parser`` comes from ``page_parser``; every argument but ``page`` and
    ``per_page`` is handed to ``build_query`` as a filter or sort.
    """
    filters = parser.parse_args()
    page, per_page = filters.pop("page"), filters.pop("per_page")
    return paginate(build_query(**filters), page=page, per_page=per_page)


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


def paginate(query, *, page: int, per_page: int) -> tuple[dict, int, dict]:
    """Run ``query`` for one page: (envelope, 200, ``Link`` header), for ``marshal_with``."""
    result = db.paginate(query, page=page, per_page=per_page, error_out=False, count=True)
    last = max(result.pages, 1)
    links = {"self": page, "first": 1, "last": last}
    if page > 1:
        links["prev"] = min(page - 1, last)
    if page < last:
        links["next"] = page + 1
    urls = {rel: _page_url(number, per_page) for rel, number in links.items()}
    envelope = {
        "items": result.items,
        "page": page,
        "per_page": per_page,
        "total": result.total,
        "pages": result.pages,
        "_links": urls,
    }
    header = ", ".join(f'<{url}>; rel="{rel}"' for rel, url in urls.items())
    return envelope, 200, {"Link": header}
