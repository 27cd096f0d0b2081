"""Assertions and walks that several test modules share."""

from collections.abc import Iterator
from contextlib import contextmanager
from http import HTTPStatus

from sqlalchemy import event

from models import db

METHODS = ("get", "put", "post", "delete", "patch")


def operations(spec: dict):
    """Yield (path, method, operation) for every operation of a spec (2.0 or 3.0)."""
    for path, item in spec["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


def assert_problem(response, status: int, *, fields=None) -> dict:
    """Check the RFC 9457 problem shape of ``response`` and return its body.

    ``fields``: the keys ``errors`` must have; None: no ``errors``; ``...``: unchecked.
    """
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["type"] == "about:blank"
    assert body["status"] == status
    assert body["title"] == HTTPStatus(status).phrase
    assert body["detail"]
    assert body["instance"] == response.request.path
    assert body["request_id"] == response.headers["X-Request-ID"]
    if fields is None:
        assert "errors" not in body
    elif fields is not ...:
        assert set(body["errors"]) == set(fields), body["errors"]
    return body


class StatementCounter:
    """Counts the statements sent to an engine, only inside ``counting()``."""

    def __init__(self, engine):
        self.engine = engine
        self.active = False
        self.statements: list[str] = []
        event.listen(engine, "before_cursor_execute", self._count)

    def _count(self, _conn, _cursor, statement, _params, _context, _executemany):
        if self.active:
            self.statements.append(statement)

    @contextmanager
    def counting(self) -> Iterator[list[str]]:
        """Record the statements executed in the block; yields the list being filled."""
        self.statements = []
        self.active = True
        try:
            yield self.statements
        finally:
            self.active = False

    def close(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._count)


@contextmanager
def statement_counter(app) -> Iterator[StatementCounter]:
    """A ``StatementCounter`` on ``app``'s engine, removed afterwards."""
    with app.app_context():
        engine = db.engine
    counter = StatementCounter(engine)
    try:
        yield counter
    finally:
        counter.close()
