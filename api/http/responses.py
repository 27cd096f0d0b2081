"""Responses the namespaces build by hand, where restx would label them wrongly."""

from flask import Response


def no_content() -> Response:
    """An empty 204.

    Flask would label it ``text/html``, which no operation produces; contract
    checkers (schemathesis) want a listed type even on an empty body, so it is
    labelled with the operations' own ``application/json``.
    """
    return Response(status=204, mimetype="application/json")
