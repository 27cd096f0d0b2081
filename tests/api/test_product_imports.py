"""POST /products/imports: a CSV file of products becomes a job that upserts them by SKU.

Jobs run inside the request here (``JOB_IMMEDIATE``), so the 202's job is
already final; tests/e2e/test_worker.py runs real workers.
"""

import io

import pytest

from models import Product, db
from tests.helpers import assert_problem

HEADER = "sku,name,description,price_cents,stock"
URL = "/api/v1/products/imports"


def upload(client, headers, text: str | bytes, *, query: str = "", key: str | None = None):
    """POST a file to the import operation (with an Idempotency-Key); the response."""
    data = text.encode() if isinstance(text, str) else text
    if key is not None:
        headers = {**headers, "Idempotency-Key": key}
    return client.post(
        URL + query,
        headers=headers,
        data={"file": (io.BytesIO(data), "catalog.csv")},
        content_type="multipart/form-data",
    )


def catalog(lines: list[str]) -> str:
    return "\n".join([HEADER, *lines]) + "\n"


def products(in_app) -> dict[str, tuple]:
    """Every live product by SKU: (name, description, price_cents, stock, version)."""

    def read():
        rows = db.session.scalars(db.select(Product).where(Product.deleted_at.is_(None))).all()
        return {p.sku: (p.name, p.description, p.price_cents, p.stock, p.version) for p in rows}

    return in_app(read)


def test_an_import_answers_202_with_the_job_and_creates_the_products(client, admin_headers, in_app):
    response = upload(client, admin_headers, catalog(["MUG-1,Mug,A mug,1200,3", "CUP-1,Cup,,450,"]))

    assert response.status_code == 202
    job = response.get_json()
    assert response.headers["Location"] == f"/api/v1/jobs/{job['id']}"
    assert int(response.headers["Retry-After"]) > 0
    assert job["kind"] == "product_import"
    assert job["status"] == "succeeded"
    assert job["result"] == {"created": 2, "updated": 0, "failed": 0, "dry_run": False}
    assert job["progress"] == {"done": 2, "total": 2}
    assert (job["errors"], job["error_count"], job["detail"]) == ([], 0, None)
    assert job["started_at"]
    assert job["finished_at"]
    assert products(in_app) == {
        "MUG-1": ("Mug", "A mug", 1200, 3, 1),
        "CUP-1": ("Cup", "", 450, 0, 1),
    }
    polled = client.get(response.headers["Location"], headers=admin_headers)
    assert polled.get_json() == job
    assert "Retry-After" not in polled.headers  # final: nothing to wait for


def test_a_line_with_a_live_sku_replaces_that_product_as_put_would(
    client, admin_headers, make_product, in_app
):
    product_id = make_product(sku="MUG-1", name="Old", description="old", price_cents=5, stock=9)
    etag = client.get(f"/api/v1/products/{product_id}").headers["ETag"]

    job = upload(client, admin_headers, catalog(["MUG-1,New name,,700,"])).get_json()

    assert job["result"] == {"created": 0, "updated": 1, "failed": 0, "dry_run": False}
    # Omitted optional fields reset, as on PUT; the version moves, so the ETag does.
    assert products(in_app) == {"MUG-1": ("New name", "", 700, 0, 2)}
    after = client.get(f"/api/v1/products/{product_id}")
    assert after.headers["ETag"] != etag


def test_a_deleted_products_sku_makes_a_new_product(client, admin_headers, make_product, in_app):
    old = make_product(sku="MUG-1")
    client.delete(f"/api/v1/products/{old}", headers=admin_headers)

    job = upload(client, admin_headers, catalog(["MUG-1,Reborn,,100,1"])).get_json()

    assert job["result"]["created"] == 1
    found = client.get("/api/v1/products?q=MUG-1").get_json()["items"]
    assert [(p["sku"], p["name"]) for p in found] == [("MUG-1", "Reborn")]
    assert found[0]["id"] != old


def test_bad_lines_are_reported_with_their_line_and_column_and_not_applied(
    client, admin_headers, in_app
):
    lines = [
        "GOOD-1,Good,,100,1",  # line 2
        "BAD-1,Negative,,-5,1",  # 3
        "BAD-2,Cents,,12.99,1",  # 4
        ",No sku,,1,1",  # 5
        "bad sku,Lower,,1,1",  # 6
        "SHORT,line",  # 7
        "BAD-3,,,,",  # 8: no name, no price
        "",  # 9: blank lines are skipped, not errors
        "GOOD-2,Also good,,1,99999999999999999999",  # 10: beyond the bound
    ]
    job = upload(client, admin_headers, catalog(lines)).get_json()

    assert job["status"] == "succeeded"
    assert job["result"] == {"created": 1, "updated": 0, "failed": 7, "dry_run": False}
    assert [(e["line"], e["field"], e["message"]) for e in job["errors"]] == [
        (3, "price_cents", "must be at least 0"),
        (4, "price_cents", "must be of type integer"),
        (5, "sku", "is required"),
        (6, "sku", "must match the pattern ^[A-Z0-9][A-Z0-9_-]*$"),
        (7, None, "has 2 cells; a line needs 5: sku,name,description,price_cents,stock"),
        (8, "name", "is required"),
        (8, "price_cents", "is required"),
        (10, "stock", "must be at most 1000000000"),
    ]
    assert job["error_count"] == 8
    assert job["progress"] == {"done": 9, "total": 9}
    assert set(products(in_app)) == {"GOOD-1"}


def test_a_repeated_sku_counts_on_its_first_line_only(client, admin_headers, in_app):
    job = upload(
        client,
        admin_headers,
        catalog(
            ["MUG-1,First,,100,1", "CUP-1,Cup,,1,1", "MUG-1,Second,,200,2", "MUG-1,Third,,3,3"]
        ),
    ).get_json()

    assert job["result"] == {"created": 2, "updated": 0, "failed": 2, "dry_run": False}
    assert [(e["line"], e["field"], e["message"]) for e in job["errors"]] == [
        (4, "sku", "repeats line 2: only the first line of a SKU counts"),
        (5, "sku", "repeats line 2: only the first line of a SKU counts"),
    ]
    assert products(in_app)["MUG-1"][0] == "First"


def test_line_numbers_are_the_files_even_across_quoted_newlines_a_bom_and_crlf(
    client, admin_headers, in_app
):
    text = (
        "\ufeff"
        + HEADER
        + '\r\nMUG-1,Mug,"two\r\nlines",100,1\r\nBAD-1,Bad,"x",-1,1\r\nCUP-1,"Cup, big",,5,\r\n'
    )
    job = upload(client, admin_headers, text).get_json()

    assert [(e["line"], e["field"]) for e in job["errors"]] == [(4, "price_cents")]
    assert job["progress"] == {"done": 4, "total": 4}
    assert products(in_app)["MUG-1"][1] == "two\r\nlines"
    assert products(in_app)["CUP-1"][0] == "Cup, big"


def test_an_unclosed_quote_is_one_bad_line_saying_so(client, admin_headers, in_app):
    job = upload(client, admin_headers, catalog(['MUG-1,"Mug,,1,1', "CUP-1,Cup,,1,1"])).get_json()

    assert job["result"]["failed"] == 1
    (error,) = job["errors"]
    assert error["line"] == 2
    assert "quote opened and never closed" in error["message"]


def test_a_dry_run_reports_what_would_change_and_changes_nothing(
    client, admin_headers, make_product, in_app
):
    make_product(sku="MUG-1", name="Old", price_cents=5, stock=1)
    before = products(in_app)

    job = upload(
        client,
        admin_headers,
        catalog(["MUG-1,New,,1,1", "CUP-1,Cup,,1,1", "BAD,,,,"]),
        query="?dry_run=true",
    ).get_json()

    assert job["status"] == "succeeded"
    assert job["result"] == {"created": 1, "updated": 1, "failed": 1, "dry_run": True}
    assert job["error_count"] == 2
    assert products(in_app) == before


def test_running_the_same_file_again_updates_what_it_created(client, admin_headers, in_app):
    text = catalog(["MUG-1,Mug,,1200,3", "CUP-1,Cup,,450,1"])
    upload(client, admin_headers, text)

    again = upload(client, admin_headers, text).get_json()

    assert again["result"] == {"created": 0, "updated": 2, "failed": 0, "dry_run": False}
    assert {sku: fields[:4] for sku, fields in products(in_app).items()} == {
        "MUG-1": ("Mug", "", 1200, 3),
        "CUP-1": ("Cup", "", 450, 1),
    }


def test_small_chunks_give_the_same_outcome(build_app, admin, in_app):
    app = build_app(JOB_IMPORT_CHUNK=2)
    lines = [f"SKU-{n},Product {n},,{n},1" for n in range(7)] + ["SKU-3,Again,,1,1", "X,,,,"]

    job = upload(
        app.test_client(), {"Authorization": f"Bearer {admin['access']}"}, catalog(lines)
    ).get_json()

    assert job["result"] == {"created": 7, "updated": 0, "failed": 2, "dry_run": False}
    assert job["progress"] == {"done": 9, "total": 9}
    assert len(products(in_app)) == 7


def test_errors_are_capped_at_1000_with_the_full_count(client, admin_headers):
    lines = [f"BAD-{n},Bad,,-1,1" for n in range(1005)]

    job = upload(client, admin_headers, catalog(lines)).get_json()

    assert job["result"]["failed"] == 1005
    assert job["error_count"] == 1005
    assert len(job["errors"]) == 1000
    assert job["errors"][-1]["line"] == 1001


@pytest.mark.parametrize(
    ("content", "detail"),
    [
        ("name,sku\nMug,MUG-1\n", "its first line must be sku,name,description,price_cents,stock"),
        ("", "it is empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "NUL bytes"),
        (b"sku,name,description,price_cents,stock\nMUG,\xe9t\xe9,,1,1\n", "not UTF-8"),
        ("SKU,NAME,DESCRIPTION,PRICE_CENTS,STOCK\n", "its first line must be"),
    ],
    ids=["wrong-header", "empty", "binary", "latin-1", "header-case"],
)
def test_a_file_that_is_not_a_catalog_csv_is_a_422_at_once(
    client, admin_headers, content, detail, in_app
):
    response = upload(client, admin_headers, content)

    body = assert_problem(response, 422, fields=["file"])
    assert detail in body["detail"]
    assert client.get("/api/v1/jobs", headers=admin_headers).get_json()["total"] == 0


def test_a_file_over_max_import_mb_is_a_413(build_app, admin):
    app = build_app(MAX_IMPORT_MB=0.001)  # about 1 KB
    text = catalog([f"SKU-{n},Product {n},,1,1" for n in range(100)])

    response = upload(app.test_client(), {"Authorization": f"Bearer {admin['access']}"}, text)

    body = assert_problem(response, 413)
    assert "MAX_IMPORT_MB" in body["detail"]


def test_the_import_needs_multipart_with_a_file(client, admin_headers):
    assert_problem(client.post(URL, headers=admin_headers, json={"file": "x"}), 415)
    missing = client.post(
        URL, headers=admin_headers, data={"other": "x"}, content_type="multipart/form-data"
    )
    assert_problem(missing, 400, fields=["file"])


def test_only_admins_import(client, customer_headers):
    assert_problem(upload(client, customer_headers, catalog([])), 403)
    assert_problem(upload(client, {}, catalog([])), 401)


def test_a_retry_with_the_same_idempotency_key_and_file_returns_the_same_job(
    client, admin_headers, in_app
):
    text = catalog(["MUG-1,Mug,,1,1"])
    key = "import-2026-11-21"
    first = upload(client, admin_headers, text, key=key)
    retried = upload(client, admin_headers, text, key=key)

    assert retried.status_code == 202
    assert retried.get_json() == first.get_json()
    assert retried.headers["Location"] == first.headers["Location"]
    assert client.get("/api/v1/jobs", headers=admin_headers).get_json()["total"] == 1
    other = upload(client, admin_headers, catalog(["CUP-1,Cup,,1,1"]), key=key)
    assert "different request" in assert_problem(other, 409)["detail"]
    # The other file was not kept, nor applied.
    assert set(products(in_app)) == {"MUG-1"}


def test_an_empty_catalog_succeeds_with_nothing_done(client, admin_headers):
    job = upload(client, admin_headers, HEADER).get_json()

    assert job["status"] == "succeeded"
    assert job["progress"] == {"done": 0, "total": 0}
    assert job["result"] == {"created": 0, "updated": 0, "failed": 0, "dry_run": False}
