"""Fuzz target: the ``after`` cursors of the product and order listings.

The first byte picks the listing and its ``sort``, and whether the rest is sent
as the cursor's text itself or as the JSON inside one (base64url-encoded, as
the API encodes its own), so the fuzzer works on the decoder's values as well
as on its framing.
"""

import base64
import sys

from fuzz.harness import build, fuzz

harness = build()
LISTINGS = [
    ("/api/v1/products", {}, sort)
    for sort in (None, "name", "-name", "price_cents", "-price_cents", "created_at", "-created_at")
] + [
    (url, harness.customer, sort)
    for url in ("/api/v1/orders", f"/api/v1/users/{harness.user_id}/orders")
    for sort in (None, "created_at", "-created_at", "total_cents", "-total_cents")
]


def test_one_input(data: bytes) -> None:
    """List with the cursor ``data[1:]`` (raw or encoded, as ``data[0]`` says)."""
    if not data:
        return
    url, headers, sort = LISTINGS[(data[0] >> 1) % len(LISTINGS)]
    if data[0] & 1:
        after = data[1:].decode("latin-1")
    else:
        after = base64.urlsafe_b64encode(data[1:]).rstrip(b"=").decode("ascii")
    query = {"after": after, **({"sort": sort} if sort else {})}
    harness.send("GET", url, query_string=query, headers=headers)


if __name__ == "__main__":
    fuzz(test_one_input, sys.argv)
