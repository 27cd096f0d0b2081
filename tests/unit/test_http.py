"""The app's Flask subclass and session interface keep Flask's contract."""

import pytest
from flask import session

from api.app import StorefrontFlask


def test_ensure_sync_still_wraps_coroutines_and_returns_plain_functions(monkeypatch):
    app = StorefrontFlask(__name__)
    wrapped = []
    monkeypatch.setattr(app, "async_to_sync", lambda func: wrapped.append(func) or "sync")

    def plain():
        return None

    async def coroutine():
        return None

    assert app.ensure_sync(plain) is plain
    assert app.ensure_sync(coroutine) == "sync"
    assert app.ensure_sync(coroutine) == "sync"  # remembered: converted once
    assert wrapped == [coroutine]


def test_no_cookie_session_is_ever_read_or_set(app, client):
    response = client.get("/health", headers={"Cookie": "session=forged"})

    assert "Set-Cookie" not in response.headers
    with app.test_request_context(headers={"Cookie": "session=forged"}):
        app.preprocess_request()
        assert dict(session) == {}
        with pytest.raises(RuntimeError):  # a stray write fails loudly instead of a cookie
            session["user"] = 1
