"""The response cache: public product reads answered without the database, never stale.

A hit is proven by counting statements: it sends none that names ``products``
(the generation check is one SELECT on ``cache_generation``, on a connection of
its own). "Another worker" is a second app on the same database: its own
engine, its own in-process cache, as a second gunicorn worker has.
"""

import gzip
import io
import json
from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient
from sqlalchemy import update

from api.hooks.response_cache import EXTENSION, KEY_PREFIX
from models import Product, db
from models.product import create_product
from tests.conftest import REDIS_URL, UNREACHABLE_REDIS_URL, bearer
from tests.helpers import StatementCounter, statement_counter
from tests.images import MULTIPART, multipart, picture

PRODUCTS = "/api/v1/products"


def item(product_id: int) -> str:
    return f"{PRODUCTS}/{product_id}"


@pytest.fixture
def counter(app) -> Iterator[StatementCounter]:
    with statement_counter(app) as counter:
        yield counter


def product_queries(counter: StatementCounter, client, url: str, **kwargs):
    """GET ``url``; return (the response, how many statements named ``products``)."""
    with counter.counting() as statements:
        response = client.get(url, **kwargs)
    return response, sum("products" in statement for statement in statements)


def test_a_second_read_is_a_hit_that_asks_nothing_of_products(client, counter, make_product):
    product_id = make_product(name="Mug")

    first, first_queries = product_queries(counter, client, item(product_id))
    second, second_queries = product_queries(counter, client, item(product_id))

    assert first_queries >= 1
    assert second_queries == 0
    assert second.status_code == 200
    assert second.get_data() == first.get_data()
    assert second.headers["ETag"] == first.headers["ETag"]
    assert second.headers["Content-Type"] == "application/json"
    assert second.headers["Vary"] == first.headers["Vary"]


def test_pages_and_images_are_hits_too(client, counter, make_product, admin_headers):
    product_id = make_product()
    image = picture()
    uploaded = client.put(
        f"{item(product_id)}/image",
        headers={**admin_headers, "Content-Type": MULTIPART},
        data=multipart("image", "a.png", image),
    )
    assert uploaded.status_code == 200
    for url in (f"{PRODUCTS}?per_page=5", f"{item(product_id)}/image"):
        first, _ = product_queries(counter, client, url)
        second, queries = product_queries(counter, client, url)
        assert (first.status_code, second.status_code, queries) == (200, 200, 0)
        assert second.get_data() == first.get_data()
    assert second.get_data() == image
    assert second.headers["Cache-Control"] == first.headers["Cache-Control"]
    assert second.headers["Date"]


def test_accept_and_the_query_string_are_part_of_the_key(client, make_product):
    make_product(name="First")
    make_product(name="Second")

    as_json = client.get(PRODUCTS)
    as_xml = client.get(PRODUCTS, headers={"Accept": "application/xml"})
    as_csv = client.get(PRODUCTS, headers={"Accept": "text/csv"})
    one = client.get(f"{PRODUCTS}?per_page=1")
    one_again = client.get(f"{PRODUCTS}?per_page=1")
    reordered = client.get(f"{PRODUCTS}?sort=-name&per_page=2")

    assert as_json.mimetype == "application/json"
    assert as_xml.mimetype == "application/xml"
    assert as_xml.get_data().startswith(b"<?xml")
    assert as_csv.mimetype == "text/csv"
    assert as_csv.headers["Content-Disposition"].startswith("inline")
    assert len(as_json.get_json()["items"]) == 2
    assert len(one.get_json()["items"]) == 1
    assert one_again.get_data() == one.get_data()
    assert [p["name"] for p in reordered.get_json()["items"]] == ["Second", "First"]


def test_a_request_with_credentials_is_neither_served_nor_stored(
    client, counter, make_product, customer_headers
):
    product_id = make_product()

    _, private_first = product_queries(counter, client, item(product_id), headers=customer_headers)
    _, public_first = product_queries(counter, client, item(product_id))
    private, private_again = product_queries(
        counter, client, item(product_id), headers=customer_headers
    )

    assert private_first >= 1  # nothing to serve yet, and what it read is not stored:
    assert public_first >= 1  # the public read still had to ask
    assert private_again >= 1  # and the stored public copy is not served to it
    assert private.status_code == 200
    assert private.headers["Cache-Control"] == "private"


def test_per_client_headers_are_fresh_on_every_hit(build_app, make_product):
    client = build_app(RATELIMIT_ENABLED=True, RATELIMIT_DEFAULT="50 per minute").test_client()
    product_id = make_product()

    responses = [client.get(item(product_id)) for _ in range(4)]

    assert len({r.headers["X-Request-ID"] for r in responses}) == 4
    assert [r.headers["X-RateLimit-Remaining"] for r in responses] == ["49", "48", "47", "46"]
    supplied = client.get(item(product_id), headers={"X-Request-ID": "mine-1"})
    assert supplied.headers["X-Request-ID"] == "mine-1"
    assert responses[-1].headers["X-Content-Type-Options"] == "nosniff"
    assert len({r.get_data() for r in responses}) == 1


def test_a_hit_still_counts_against_the_rate_limit(build_app, make_product):
    client = build_app(RATELIMIT_ENABLED=True, RATELIMIT_DEFAULT="2 per minute").test_client()
    product_id = make_product()

    statuses = [client.get(item(product_id)).status_code for _ in range(3)]

    assert statuses == [200, 200, 429]


def test_if_none_match_on_a_hit_is_a_304(client, counter, make_product):
    product_id = make_product()
    etag = client.get(item(product_id)).headers["ETag"]

    response, queries = product_queries(
        counter, client, item(product_id), headers={"If-None-Match": etag}
    )
    stale, _ = product_queries(counter, client, item(product_id), headers={"If-None-Match": '"0"'})

    assert (response.status_code, queries) == (304, 0)
    assert response.get_data() == b""
    assert response.headers["ETag"] == etag
    assert stale.status_code == 200


def test_the_uncompressed_body_is_stored_and_compressed_on_each_hit(app, make_product):
    for n in range(20):
        make_product(name=f"Product with a long enough name {n}")
    url = f"{PRODUCTS}?per_page=20"
    browser = FlaskClient(app)  # the contract client cannot read compressed bodies

    plain = browser.get(url)
    compressed = browser.get(url, headers={"Accept-Encoding": "gzip"})
    plain_again = browser.get(url)

    assert compressed.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(compressed.get_data()) == plain.get_data()
    assert "Content-Encoding" not in plain_again.headers
    assert plain_again.get_data() == plain.get_data()


def test_a_body_over_the_size_cap_is_served_but_not_stored(build_app, make_product):
    application = build_app(RESPONSE_CACHE_MAX_KB=0.1)
    client = application.test_client()
    product_id = make_product(description="x" * 200)
    with statement_counter(application) as counter:
        first, _ = product_queries(counter, client, item(product_id))
        second, queries = product_queries(counter, client, item(product_id))

    assert (first.status_code, second.status_code) == (200, 200)
    assert queries >= 1


def test_a_worker_keeps_what_fits_in_its_memory_and_drops_the_least_recently_used(
    build_app, make_product
):
    application = build_app(RESPONSE_CACHE_MEMORY_MB=2.5 / 1024)  # 2.5 KB
    client = application.test_client()
    first_id, second_id, third_id = (make_product(description="x" * 600) for _ in range(3))
    with statement_counter(application) as counter:
        for product_id in (first_id, second_id, first_id, third_id):  # the third drops the second
            response, _ = product_queries(counter, client, item(product_id))
            assert response.status_code == 200
        hits = [product_queries(counter, client, item(n))[1] == 0 for n in (first_id, third_id)]
        _, second_queries = product_queries(counter, client, item(second_id))

    assert hits == [True, True]
    assert second_queries >= 1


def test_response_cache_off_means_every_read_asks_the_database(build_app, make_product):
    application = build_app(RESPONSE_CACHE=False)
    client = application.test_client()
    product_id = make_product()
    with statement_counter(application) as counter:
        product_queries(counter, client, item(product_id))
        _, queries = product_queries(counter, client, item(product_id))

    assert EXTENSION not in application.extensions
    assert queries >= 1


@pytest.fixture
def other_worker(build_app):
    """A second app on the same database: what another gunicorn worker is."""
    return build_app().test_client()


def cached(client, url: str) -> dict:
    """Read ``url`` until it is a hit (proven: no product query); the JSON body."""
    client.get(url)
    with statement_counter(client.application) as counter:
        response, queries = product_queries(counter, client, url)
    assert (response.status_code, queries) == (200, 0)
    return response.get_json()


@pytest.mark.parametrize(
    ("method", "body", "field", "value"),
    [
        ("patch", {"stock": 99}, "stock", 99),
        (
            "put",
            {"sku": "NEW-1", "name": "Renamed", "price_cents": 5, "stock": 1},
            "name",
            "Renamed",
        ),
    ],
)
def test_an_edit_through_another_worker_shows_at_once(
    client, other_worker, make_product, admin_headers, method, body, field, value
):
    product_id = make_product()
    assert cached(client, item(product_id))[field] != value
    listing = f"{PRODUCTS}?per_page=10"
    cached(client, listing)

    edited = getattr(other_worker, method)(item(product_id), json=body, headers=admin_headers)

    assert edited.status_code == 200
    assert client.get(item(product_id)).get_json()[field] == value
    assert client.get(listing).get_json()["items"][0][field] == value


def test_a_deletion_through_another_worker_shows_at_once(
    client, other_worker, make_product, admin_headers
):
    product_id = make_product()
    cached(client, item(product_id))
    assert cached(client, PRODUCTS)["total"] == 1

    assert other_worker.delete(item(product_id), headers=admin_headers).status_code == 204

    assert client.get(item(product_id)).status_code == 404
    assert client.get(PRODUCTS).get_json()["total"] == 0


def test_image_changes_through_another_worker_show_at_once(
    client, other_worker, make_product, admin_headers
):
    product_id = make_product()
    image_url = f"{item(product_id)}/image"
    upload = {**admin_headers, "Content-Type": MULTIPART}
    other_worker.put(image_url, headers=upload, data=multipart("image", "a.png", picture(seed=1)))
    assert client.get(image_url).get_data() == client.get(image_url).get_data() == picture(seed=1)
    assert "image" in cached(client, item(product_id))["_links"]

    other_worker.put(image_url, headers=upload, data=multipart("image", "a.png", picture(seed=2)))
    assert client.get(image_url).get_data() == picture(seed=2)

    assert other_worker.delete(image_url, headers=admin_headers).status_code == 204
    assert client.get(image_url).status_code == 404
    assert "image" not in client.get(item(product_id)).get_json()["_links"]


def test_orders_change_the_stock_every_worker_shows(
    client, other_worker, make_product, customer_headers
):
    product_id = make_product(stock=10)
    assert cached(client, item(product_id))["stock"] == 10
    assert cached(client, f"{PRODUCTS}?in_stock=true")["total"] == 1

    order = {"items": [{"product_id": product_id, "quantity": 10}]}
    placed = other_worker.post("/api/v1/orders", json=order, headers=customer_headers)
    assert placed.status_code == 201
    assert client.get(item(product_id)).get_json()["stock"] == 0
    assert client.get(f"{PRODUCTS}?in_stock=true").get_json()["total"] == 0

    cancel = {"status": "cancelled"}
    order_url = f"/api/v1/orders/{placed.get_json()['id']}"
    assert other_worker.patch(order_url, json=cancel, headers=customer_headers).status_code == 200
    assert client.get(item(product_id)).get_json()["stock"] == 10


def test_bulk_writes_through_another_worker_show_at_once(
    client, other_worker, make_product, admin_headers
):
    kept = make_product()
    assert cached(client, PRODUCTS)["total"] == 1

    items = [{"sku": f"BULK-{n}", "name": f"Bulk {n}", "price_cents": 100} for n in range(3)]
    created = other_worker.post(f"{PRODUCTS}/bulk", json={"items": items}, headers=admin_headers)
    assert created.status_code == 201
    assert client.get(PRODUCTS).get_json()["total"] == 4

    cached(client, item(kept))
    deleted = other_worker.delete(f"{PRODUCTS}/bulk", json={"ids": [kept]}, headers=admin_headers)
    assert deleted.status_code == 200
    assert client.get(item(kept)).status_code == 404
    assert client.get(PRODUCTS).get_json()["total"] == 3


def test_a_catalog_import_shows_at_once(client, other_worker, make_product, admin_headers):
    product_id = make_product(sku="MUG-1", name="Old")
    assert cached(client, item(product_id))["name"] == "Old"
    assert cached(client, PRODUCTS)["total"] == 1

    catalog = "sku,name,description,price_cents,stock\nMUG-1,New,,700,\nCUP-1,Cup,,450,\n"
    imported = other_worker.post(
        f"{PRODUCTS}/imports",
        headers=admin_headers,
        data={"file": (io.BytesIO(catalog.encode()), "catalog.csv")},
        content_type="multipart/form-data",
    )

    assert imported.get_json()["status"] == "succeeded"
    assert client.get(item(product_id)).get_json()["name"] == "New"
    assert client.get(PRODUCTS).get_json()["total"] == 2


def test_a_write_by_the_domain_alone_shows_at_once(client, make_product, in_app):
    """Whatever issues the statements (the CLI, a job, Core UPDATEs): the engine sees them."""
    product_id = make_product(stock=3)
    assert cached(client, item(product_id))["stock"] == 3

    def core_update():
        with db.engine.begin() as connection:
            connection.execute(update(Product).where(Product.id == product_id).values(stock=7))

    in_app(core_update)

    assert client.get(item(product_id)).get_json()["stock"] == 7


def test_a_kept_total_is_counted_again_after_another_workers_write(build_app, make_product):
    # Totals are kept (any size, a minute): without the cache another worker's
    # write would show within PAGE_COUNT_CACHE_SECONDS; with it, at once.
    settings = {"PAGE_COUNT_CACHE_MIN": 0, "PAGE_COUNT_CACHE_SECONDS": 60}
    client = build_app(**settings).test_client()
    other = build_app(**settings)
    make_product()
    assert cached(client, PRODUCTS)["total"] == 1

    with other.app_context():
        create_product(sku="TWO-2", name="Two", price_cents=1)

    assert client.get(PRODUCTS).get_json()["total"] == 2


def test_with_redis_unreachable_reads_and_writes_work_and_show_fresh_data(
    build_app, make_product, admin_headers, capsys
):
    client = build_app(REDIS_URL=UNREACHABLE_REDIS_URL).test_client()
    product_id = make_product(stock=1)
    capsys.readouterr()

    reads = [client.get(item(product_id)) for _ in range(3)]
    patched = client.patch(item(product_id), json={"stock": 2}, headers=admin_headers)
    after = client.get(item(product_id))

    assert [r.status_code for r in reads] == [200, 200, 200]
    assert patched.status_code == 200
    assert after.get_json()["stock"] == 2
    warnings = [
        line for line in capsys.readouterr().out.splitlines() if "api.response_cache" in line
    ]
    assert len(warnings) == 1
    assert json.loads(warnings[0])["level"] == "WARNING"


@pytest.fixture
def redis_cache(build_app, redis_prefix):
    """An app caching in the test Redis, under a prefix of this test's own."""
    return build_app(REDIS_URL=REDIS_URL, REDIS_KEY_PREFIX=redis_prefix)


def test_with_redis_entries_live_under_the_key_prefix_and_are_hits(
    redis_cache, redis_client, redis_prefix, make_product
):
    product_id = make_product()
    client = redis_cache.test_client()
    with statement_counter(redis_cache) as counter:
        product_queries(counter, client, item(product_id))
        hit, queries = product_queries(counter, client, item(product_id))

    assert (hit.status_code, queries) == (200, 0)
    keys = list(redis_client.scan_iter(match=f"{redis_prefix}*"))
    assert keys
    assert all(key.decode().startswith(redis_prefix + KEY_PREFIX) for key in keys)


def test_entries_redis_kept_through_a_write_it_missed_are_not_served(
    redis_cache, build_app, redis_prefix, make_product, admin_headers
):
    # A write made while Redis was unreachable (here: by an instance that
    # cannot reach it), then Redis answering again with the old entries.
    product_id = make_product(stock=1)
    client = redis_cache.test_client()
    assert cached(client, item(product_id))["stock"] == 1

    cut_off = build_app(REDIS_URL=UNREACHABLE_REDIS_URL, REDIS_KEY_PREFIX=redis_prefix)
    patched = cut_off.test_client().patch(
        item(product_id), json={"stock": 5}, headers=admin_headers
    )

    assert patched.status_code == 200
    assert client.get(item(product_id)).get_json()["stock"] == 5


def test_two_instances_sharing_redis_share_hits_and_see_each_others_writes(
    redis_cache, build_app, redis_prefix, make_product, admin_headers
):
    other = build_app(REDIS_URL=REDIS_URL, REDIS_KEY_PREFIX=redis_prefix)
    product_id = make_product(stock=1)
    a, b = redis_cache.test_client(), other.test_client()
    a.get(item(product_id))
    with statement_counter(other) as counter:
        shared, queries = product_queries(counter, b, item(product_id))
    assert (shared.get_json()["stock"], queries) == (1, 0)

    assert b.patch(item(product_id), json={"stock": 4}, headers=admin_headers).status_code == 200

    assert a.get(item(product_id)).get_json()["stock"] == 4


def test_hits_misses_and_bypasses_are_counted_for_the_hit_ratio(build_app, make_product, admin):
    application = build_app(METRICS_TOKEN="scrape", RESPONSE_CACHE_MAX_KB=0.4)
    client = application.test_client()
    small = make_product()
    large = make_product(description="x" * 400)
    for url in (item(small), item(small), item(small), item(large)):
        client.get(url)
    client.get(item(small), headers=bearer(admin["access"]))

    scraped = client.get("/metrics", headers=bearer("scrape")).get_data(as_text=True)

    assert 'response_cache_requests_total{outcome="hit"} 2.0' in scraped
    assert 'response_cache_requests_total{outcome="miss"} 2.0' in scraped
    assert 'response_cache_requests_total{outcome="bypass"} 1.0' in scraped
    assert "response_cache_too_large_total 1.0" in scraped
