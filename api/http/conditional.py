"""Conditional requests: ETags from the version column, 304s and 412s.

Every single-resource response carries ``ETag: "<version>"``. A GET whose
``If-None-Match`` names the current version is a bodiless 304; a PUT, PATCH or
DELETE whose ``If-Match`` names another version is a 412, so two editors cannot
overwrite each other unseen. The version check itself is the domain's
(``expected_version``), inside the transaction that writes.
"""

import re
from functools import wraps

from flask import Response, g, request
from flask_restx.utils import unpack

from api.errors import Problem

# A version, optionally with the representation it was sent in: "3", "3-xml".
_VERSION_TAG = re.compile(r"^([0-9]+)(?:-[a-z]+)?$")
JSON = "application/json"

IF_NONE_MATCH = {
    "in": "header",
    "type": "string",
    "description": "An ETag from an earlier response: 304 Not Modified while it is current",
}
IF_MATCH = {
    "in": "header",
    "type": "string",
    "description": "The ETag you edited: 412 if the resource changed since (optimistic locking), "
    "or if the value names no entity tag at all",
}


def etag(obj) -> str:
    """The unquoted entity tag of an object in the negotiated representation.

    JSON is tagged with the bare version (``"3"``), other representations add
    their subtype (``"3-xml"``), so a cache never answers an XML request with a
    JSON body it revalidated, while ``If-Match`` accepts any of them.
    """
    mediatype = g.get("mediatype", JSON)
    suffix = "" if mediatype == JSON else "-" + mediatype.rsplit("/", 1)[-1]
    return f"{obj.version}{suffix}"


def tagged(obj, status: int = 200) -> tuple:
    """``obj`` for ``marshal_with``, with its ``ETag`` header."""
    return obj, status, {"ETag": f'"{etag(obj)}"'}


def expected_version() -> frozenset[int] | None:
    """The versions ``If-Match`` accepts: None without the header or with ``*``.

    A tag that is not one of our versions can never match, so it yields an
    empty set, which makes the write a 412. So does a header that names no
    tag at all (``,,,``, an empty value, unbalanced quotes): it is still a
    precondition the client sent, and one that nothing satisfies.
    """
    if "If-Match" not in request.headers or request.if_match.star_tag:
        return None
    versions = (_VERSION_TAG.match(tag or "") for tag in request.if_match.as_set())
    return frozenset(int(match.group(1)) for match in versions if match)


def conditional_read(ns):
    """Answer 304 when ``If-None-Match`` names the ETag the GET would send; document it.

    Apply it above ``marshal_with``: it looks at the ``ETag`` that ``tagged``
    put on the (already marshalled) result.
    """

    def decorate(func):
        @wraps(func)
        def answer(*args, **kwargs):
            result = func(*args, **kwargs)
            _data, _status, headers = unpack(result)
            tag = (headers or {}).get("ETag", "").strip('"')
            if tag and request.if_none_match.contains_weak(tag):
                response = Response(status=304)
                response.set_etag(tag)
                return response
            return result

        answer = ns.doc(params={"If-None-Match": IF_NONE_MATCH})(answer)
        return ns.response(304, "Not modified: your copy (If-None-Match) is current")(answer)

    return decorate


def conditional_write(ns):
    """Document ``If-Match`` and the 412 on a PUT, PATCH or DELETE."""

    def decorate(func):
        func = ns.doc(params={"If-Match": IF_MATCH})(func)
        return ns.response(412, "The resource changed since the ETag in If-Match", Problem)(func)

    return decorate
