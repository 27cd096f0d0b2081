"""Small HTTP helpers shared by the namespaces."""

from flask import Response


def no_content() -> Response:
    """An empty 204: no body, and no ``Content-Type`` that no operation produces."""
    response = Response(status=204)
    del response.headers["Content-Type"]
    return response
