"""Compression: gzip and brotli for large responses, to the clients that accept them.

Each encoding has an ETag of its own that revalidates and guards edits; small
responses are sent as they are.
"""

import gzip

import brotli
from flask.testing import FlaskClient
from flask_compress import flask_compress

DOCUMENTS = ("/api/v1/swagger.json", "/api/v1/openapi.json")


def test_large_responses_are_compressed_for_clients_that_accept_it(client):
    plain = client.get("/api/v1/swagger.json")
    zipped = client.get("/api/v1/swagger.json", headers={"Accept-Encoding": "gzip"})
    broken = client.get("/api/v1/swagger.json", headers={"Accept-Encoding": "br"})

    assert "Content-Encoding" not in plain.headers
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert broken.headers["Content-Encoding"] == "br"
    assert gzip.decompress(zipped.get_data()) == plain.get_data()
    assert brotli.decompress(broken.get_data()) == plain.get_data()
    assert len(zipped.get_data()) < len(plain.get_data()) / 3
    for response in (plain, zipped, broken):
        assert "Accept-Encoding" in response.headers["Vary"]


def test_a_compressed_representation_has_its_own_etag_and_revalidates(client):
    headers = {"Accept-Encoding": "gzip"}
    plain_etag = client.get("/api/v1/swagger.json").headers["ETag"]
    zipped = client.get("/api/v1/swagger.json", headers=headers)

    again = client.get(
        "/api/v1/swagger.json", headers={**headers, "If-None-Match": zipped.headers["ETag"]}
    )

    assert zipped.headers["ETag"] == plain_etag.removesuffix('"') + ':gzip"'
    assert again.status_code == 304
    assert again.get_data() == b""


def test_swagger_ui_assets_are_compressed(client):
    bundle = "/swaggerui/swagger-ui-bundle.js"
    with client.get(bundle, headers={"Accept-Encoding": "br"}) as response:
        body = brotli.decompress(response.get_data())

    assert response.status_code == 200
    assert response.headers["Content-Encoding"] == "br"
    assert body.startswith(b"/*")


def test_small_responses_are_not_compressed(client):
    response = client.get("/health", headers={"Accept-Encoding": "gzip, br"})

    assert response.status_code == 200
    assert "Content-Encoding" not in response.headers
    assert response.get_json() == {"status": "ok"}


def test_a_compressed_copy_revalidates_and_is_edited_with_its_own_etag(
    app, client, admin_headers, make_product
):
    path = f"/api/v1/products/{make_product(description='A long story. ' * 200)}"
    # Read compressed, as a browser would; the contract client cannot read compressed bodies.
    browser = FlaskClient(app)
    read = browser.get(path, headers={"Accept-Encoding": "gzip"})
    tag = read.headers["ETag"]

    revalidated = browser.get(path, headers={"Accept-Encoding": "gzip", "If-None-Match": tag})
    edited = client.patch(path, json={"stock": 1}, headers={**admin_headers, "If-Match": tag})
    stale = client.patch(path, json={"stock": 2}, headers={**admin_headers, "If-Match": tag})

    assert read.headers["Content-Encoding"] == "gzip"
    assert tag == '"1:gzip"'
    assert revalidated.status_code == 304
    assert edited.status_code == 200
    assert stale.status_code == 412


def test_the_documents_are_compressed_once_per_coding_not_per_request(
    app, client, make_product, monkeypatch
):
    # Swagger UI and SDK generators fetch the spec gzipped on every load; its
    # bytes change only on deploy, so compressing it again (milliseconds for
    # 200 KB) is waste. Responses built per request are compressed each time.
    calls = []
    compress = flask_compress._compress_data

    def counting(app, data, algorithm):
        calls.append((len(data), algorithm))
        return compress(app, data, algorithm)

    monkeypatch.setattr(flask_compress, "_compress_data", counting)
    plain = {path: client.get(path).get_data() for path in DOCUMENTS}

    for round_number in range(3):
        for path in DOCUMENTS:
            for coding, decompress in (("gzip", gzip.decompress), ("br", brotli.decompress)):
                response = client.get(path, headers={"Accept-Encoding": coding})
                assert response.headers["Content-Encoding"] == coding
                assert decompress(response.get_data()) == plain[path]
        if round_number == 0:
            # The first round compressed what this app had not compressed yet.
            assert len(calls) <= len(DOCUMENTS) * 2
            calls.clear()
    assert calls == []

    path = f"/api/v1/products/{make_product(description='A long story. ' * 200)}"
    browser = FlaskClient(app)
    for _ in range(2):
        assert browser.get(path, headers={"Accept-Encoding": "gzip"}).status_code == 200
    assert len(calls) == 2
