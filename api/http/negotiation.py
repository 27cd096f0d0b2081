"""Content negotiation: JSON by default, XML and CSV where an operation declares them.

An operation's ``produces`` in the spec is the list it can answer in, and the
same declaration drives the choice here: the ``Accept`` header picks among
those types, and a request for none of them is a 406 problem, answered before
the operation runs (so nothing is written for a response nobody can read).
Errors stay ``application/problem+json`` whatever was asked for.

One exception: a browser that opens an API URL asks for ``text/html`` first
(then XML, then anything), and would be answered XML by those rules. No
operation speaks HTML, so an ``Accept`` that prefers it most is taken as no
preference at all, and the answer is the operation's default, JSON. Any other
``Accept`` is negotiated as it says.
"""

import csv
import io
import re
from xml.etree import ElementTree

from flask import current_app, request
from flask_restx.representations import output_json
from werkzeug.http import parse_options_header

from api.errors import PROBLEM_MEDIA_TYPE, ApiProblem

JSON = "application/json"
XML = "application/xml"
CSV = "text/csv"
HTML = "text/html"
# XML 1.0 cannot carry these; they are refused on input, and replaced here should
# older data hold one.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
# A cell starting with one of these is a formula to a spreadsheet (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def produces(ns, *types: str):
    """Declare the media types an operation answers in, besides JSON and problems."""
    return ns.produces([JSON, *types, PROBLEM_MEDIA_TYPE])


def offered(func) -> list[str]:
    """The success media types an operation declared (JSON when it declared none)."""
    declared = getattr(func, "__apidoc__", {}).get("produces") or [JSON]
    return [mediatype for mediatype in declared if mediatype != PROBLEM_MEDIA_TYPE]


def negotiate(func) -> str:
    """Pick the response type for this request from what ``func`` offers, or raise a 406."""
    choices = offered(func)
    accept = request.accept_mimetypes
    if not accept or _browsing(request.headers.get("Accept", "")):
        return choices[0]
    best = accept.best_match(choices)
    if best is None:
        raise ApiProblem(
            406, f"This operation answers in {', '.join(choices)}; the Accept header asks for none"
        )
    return best


def _browsing(accept: str) -> bool:
    """Whether the first of an ``Accept`` header's most preferred types is HTML.

    That is how a browser opening a URL asks (``text/html,...,*/*;q=0.8``).
    Read from the header itself: werkzeug's parsed list ranks types with
    parameters (``application/signed-exchange;v=b3;q=0.7``) before the rest.
    """
    ranges = []
    for part in accept.split(","):
        mediatype, options = parse_options_header(part)
        try:
            ranges.append((mediatype, float(options.get("q", 1))))
        except ValueError:
            return False  # werkzeug's negotiation judges a malformed header
    if not ranges:
        return False
    best = max(quality for _, quality in ranges)
    return best > 0 and next(m for m, q in ranges if q == best) == HTML


def render(mediatype: str, data, status: int, headers, *, root: str, negotiable: bool):
    """Serialise marshalled ``data`` as ``mediatype``.

    ``negotiable`` operations could have answered in another type, so their
    responses vary with ``Accept`` (caches must key on it).
    """
    response = _serialise(mediatype, data, status, headers, root=root)
    if negotiable:
        response.vary.add("Accept")
    return response


def _serialise(mediatype: str, data, status: int, headers, *, root: str):
    if mediatype == XML:
        body = to_xml(data, root)
    elif mediatype == CSV:
        body = to_csv(data)
        headers = {**dict(headers or {}), "Content-Disposition": f'inline; filename="{root}.csv"'}
    else:
        response = output_json(data, status, headers)
        response.headers["Content-Type"] = JSON
        return response
    response = current_app.response_class(body, status=status, mimetype=mediatype)
    response.headers.extend(headers or {})
    return response


def to_xml(data, root: str) -> bytes:
    """A well-formed XML document: objects are elements, list entries ``<item>``s."""
    element = ElementTree.Element(root)
    _fill(element, data)
    return ElementTree.tostring(element, encoding="utf-8", xml_declaration=True)


def _fill(element, value) -> None:
    if isinstance(value, dict):
        for key, child in value.items():
            if child is not None:
                _fill(ElementTree.SubElement(element, key), child)
    elif isinstance(value, list):
        for child in value:
            _fill(ElementTree.SubElement(element, "item"), child)
    elif isinstance(value, bool):
        element.text = "true" if value else "false"
    else:
        element.text = _NOT_XML.sub("\ufffd", str(value))


def to_csv(page: dict) -> str:
    """One row per item of a page, one column per scalar field (nested ones left out)."""
    items = page.get("items", [])
    columns = [key for key, value in (items[0].items() if items else []) if _scalar(value)]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for item in items:
        writer.writerow([csv_cell(item.get(column)) for column in columns])
    return out.getvalue()


def _scalar(value) -> bool:
    return not isinstance(value, dict | list)


def csv_cell(value) -> str:
    """A CSV cell for ``value``: text a spreadsheet would run as a formula gets a leading '."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return "" if value is None else str(value)
