"""Small HTTP helpers shared by the namespaces."""

from flask import Response
from flask.sessions import SessionInterface


def no_content() -> Response:
    """An empty 204.

    Flask would label it ``text/html``, which no operation produces; contract
    checkers (schemathesis) want a listed type even on an empty body, so it is
    labelled with the operations' own ``application/json``.
    """
    return Response(status=204, mimetype="application/json")


class NoCookieSessions(SessionInterface):
    """Flask's cookie session, switched off: the API is stateless (JWT in a header).

    Flask would otherwise build a signing serializer on every request just to
    find no cookie, and a stray ``session[...] = ...`` could start sending one.
    Every request gets a ``NullSession``, which refuses writes loudly.
    """

    def open_session(self, app, request):
        """Never read a session cookie."""
        return self.make_null_session(app)

    def save_session(self, app, session, response):
        """Never set one."""
