"""Fuzz target: request headers (If-Match, If-None-Match, Idempotency-Key, Accept and more).

The first byte picks an operation and a header; the rest is that header's
value, sent as a server would pass it on (Latin-1, without the control
characters HTTP forbids in a field value).
"""

import re
import sys

from fuzz.harness import build, fuzz

harness = build(instrument=("werkzeug.http", "werkzeug.datastructures"))
PRODUCT = f"/api/v1/products/{harness.product_id}"
ORDER = f"/api/v1/orders/{harness.order_id}"
ORDER_LINES = {"items": [{"product_id": harness.product_id, "quantity": 1}]}
# (method, URL, credentials, JSON body, headers to fuzz)
OPERATIONS = [
    ("PATCH", PRODUCT, harness.admin, {"stock": 10**6}, ("If-Match", "Accept")),
    ("GET", PRODUCT, {}, None, ("If-None-Match", "Accept", "Accept-Encoding", "X-Request-ID")),
    ("POST", "/api/v1/orders", harness.customer, ORDER_LINES, ("Idempotency-Key", "Accept")),
    ("GET", ORDER, harness.customer, None, ("If-None-Match", "Authorization")),
    ("GET", "/api/v1/auth/me", {}, None, ("Authorization",)),
    ("GET", "/api/v1/products", {}, None, ("Accept", "Origin", "X-Request-ID")),
    ("PATCH", f"/api/v1/users/{harness.user_id}", harness.admin, {"name": "x"}, ("If-Match",)),
    ("PATCH", PRODUCT, harness.admin, {"stock": 10**6}, ("Content-Type",)),
]
CASES = [
    (method, url, headers, body, name)
    for method, url, headers, body, names in OPERATIONS
    for name in names
]
# What an HTTP field value cannot hold (RFC 9110 5.5): servers refuse it before the app.
_FORBIDDEN = re.compile("[\x00-\x08\x0a-\x1f\x7f]")


def test_one_input(data: bytes) -> None:
    """Send the operation ``data[0]`` picks with its header set to ``data[1:]``."""
    if not data:
        return
    method, url, credentials, body, name = CASES[data[0] % len(CASES)]
    value = _FORBIDDEN.sub("", data[1:].decode("latin-1"))
    headers = {**credentials, name: value}
    if name == "Content-Type":
        harness.send(method, url, data=b'{"stock": 5}', headers=headers)
    else:
        harness.send(method, url, json=body, headers=headers)


if __name__ == "__main__":
    fuzz(test_one_input, sys.argv)
