"""Fuzz target: multipart/form-data image uploads.

The input is the whole body of ``PUT /products/{id}/image``, parsed with the
boundary the seeds use, so the fuzzer works on werkzeug's multipart parser,
the form's field checks and the image sniffing behind them.
"""

import sys

from fuzz.harness import build, fuzz

BOUNDARY = "fuzz-boundary"
harness = build(instrument=("werkzeug.formparser", "werkzeug.sansio.multipart"))
URL = f"/api/v1/products/{harness.product_id}/image"


def test_one_input(data: bytes) -> None:
    """Upload ``data`` as a multipart body."""
    harness.send(
        "PUT",
        URL,
        data=data,
        content_type=f"multipart/form-data; boundary={BOUNDARY}",
        headers=harness.admin,
    )


if __name__ == "__main__":
    fuzz(test_one_input, sys.argv)
