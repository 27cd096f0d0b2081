"""The Flask application and request classes and the session interface ``create_app`` uses."""

from flask import Flask
from flask.sessions import SessionInterface

from api.http.bodies import BodyRequest


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


class StorefrontFlask(Flask):
    """Flask, remembering which functions are coroutines instead of asking on every call.

    Flask passes every hook and view through ``ensure_sync`` on each request,
    about a dozen ``inspect`` calls a request whose answer never changes. The
    functions it is asked about are the registered ones, so the memo stays small;
    it is bounded all the same.
    """

    _SYNC_MEMO_SIZE = 1024
    # Bodies bounded in nesting and size before anything parses them.
    request_class = BodyRequest

    def ensure_sync(self, func):
        """``Flask.ensure_sync``, memoised per function."""
        memo = self.__dict__.setdefault("_sync_memo", {})
        try:
            return memo[func]
        except KeyError:
            sync = super().ensure_sync(func)
            if len(memo) < self._SYNC_MEMO_SIZE:
                memo[func] = sync
            return sync
        except TypeError:  # an unhashable callable
            return super().ensure_sync(func)
