"""Fuzz target: JSON bodies of the write operations.

The first byte picks the operation, the rest is the body, sent as
``application/json`` with credentials that get past the operation's auth
check, so the body reaches the depth bound, the parser and the validator.
"""

import sys

from fuzz.harness import build, fuzz

harness = build()
OPERATIONS = [
    ("POST", "/api/v1/products", harness.admin),
    ("PUT", f"/api/v1/products/{harness.product_id}", harness.admin),
    ("PATCH", f"/api/v1/products/{harness.product_id}", harness.admin),
    ("POST", "/api/v1/products/bulk", harness.admin),
    ("POST", "/api/v1/orders", harness.customer),
    ("PATCH", f"/api/v1/orders/{harness.order_id}", harness.admin),
    ("POST", "/api/v1/users", harness.admin),
    ("PATCH", f"/api/v1/users/{harness.user_id}", harness.admin),
    ("POST", "/api/v1/auth/login", {}),
    ("POST", "/api/v1/auth/register", {}),
]


def test_one_input(data: bytes) -> None:
    """Send ``data[1:]`` as the JSON body of the operation ``data[0]`` picks."""
    if not data:
        return
    method, url, headers = OPERATIONS[data[0] % len(OPERATIONS)]
    harness.send(method, url, data=data[1:], content_type="application/json", headers=headers)


if __name__ == "__main__":
    fuzz(test_one_input, sys.argv)
