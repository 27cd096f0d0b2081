"""Fuzz target: the query strings of the listings (integers, booleans, text, dates, sorts).

The first byte picks the listing; the rest is its query string, as raw as a
server passes it on (percent-escapes, repeated and empty parameters included).
"""

import sys

from fuzz.harness import build, fuzz

harness = build()
LISTINGS = [
    ("/api/v1/products", {}),
    ("/api/v1/orders", harness.customer),
    ("/api/v1/orders", harness.admin),
    ("/api/v1/users", harness.admin),
    (f"/api/v1/users/{harness.user_id}/orders", harness.admin),
]


def test_one_input(data: bytes) -> None:
    """GET the listing ``data[0]`` picks with the query string ``data[1:]``."""
    if not data:
        return
    url, headers = LISTINGS[data[0] % len(LISTINGS)]
    harness.send("GET", url, query_string=data[1:].decode("latin-1"), headers=headers)


if __name__ == "__main__":
    fuzz(test_one_input, sys.argv)
