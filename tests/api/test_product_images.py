"""Product images: checked by content, bounded in size, content-addressed, never half-written."""

import hashlib
from pathlib import Path

import pytest

from models import Product, db
from tests.helpers import assert_problem

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 64


def image_url(product_id: int) -> str:
    return f"/api/v1/products/{product_id}/image"


BOUNDARY = "----storefront-test-boundary"
UNKNOWN = "is not an accepted field"


def multipart(field: str, filename: str, data: bytes) -> bytes:
    """A multipart/form-data body with one file part, built in memory.

    (werkzeug's test builder spools bodies over 500 KB to a temporary file it
    does not always close; these bytes need no file.)
    """
    head = (
        f"--{BOUNDARY}\r\n"
        f'Content-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    return head + data + f"\r\n--{BOUNDARY}--\r\n".encode()


def upload(client, product_id, data, headers, *, filename="picture.png", field="image", extra=None):
    return client.put(
        image_url(product_id),
        data=multipart(field, filename, data),
        content_type=f"multipart/form-data; boundary={BOUNDARY}",
        headers={**headers, **(extra or {})},
    )


def stored_files(app) -> list[Path]:
    return sorted(p for p in Path(app.config["UPLOAD_FOLDER"]).rglob("*") if p.is_file())


@pytest.fixture(autouse=True)
def _empty_upload_folder(app):
    yield
    for path in stored_files(app):
        path.unlink()


@pytest.mark.parametrize(
    ("data", "media_type", "filename"),
    [(PNG, "image/png", "a.png"), (JPEG, "image/jpeg", "a.txt"), (WEBP, "image/webp", "noext")],
)
def test_upload_then_download_by_content_type(
    client, make_product, admin_headers, data, media_type, filename
):
    product_id = make_product()

    response = upload(client, product_id, data, admin_headers, filename=filename)

    assert response.status_code == 200
    assert response.get_json()["_links"]["image"] == image_url(product_id)
    image = client.get(image_url(product_id))
    assert image.status_code == 200
    assert image.mimetype == media_type
    assert image.get_data() == data
    assert image.headers["ETag"] == f'"{hashlib.sha256(data).hexdigest()}"'
    assert "max-age=300" in image.headers["Cache-Control"]
    assert (
        client.get(
            image_url(product_id), headers={"If-None-Match": image.headers["ETag"]}
        ).status_code
        == 304
    )


def test_a_product_without_image_has_no_image_link_and_404s(client, make_product):
    product_id = make_product()

    assert "image" not in client.get(f"/api/v1/products/{product_id}").get_json()["_links"]
    assert client.get(image_url(product_id)).status_code == 404


@pytest.mark.parametrize(
    "data",
    [
        b"GIF89a" + b"\x00" * 32,
        b"%PDF-1.7 not an image",
        b"<svg xmlns='http://www.w3.org/2000/svg'/>",
        b"",
    ],
)
def test_other_content_is_a_415_whatever_its_name(client, make_product, admin_headers, app, data):
    product_id = make_product()

    response = upload(client, product_id, data, admin_headers, filename="looks-like.png")

    assert response.status_code == 415
    assert stored_files(app) == []
    assert "image" not in client.get(f"/api/v1/products/{product_id}").get_json()["_links"]


def test_a_body_that_is_not_multipart_is_a_415(client, make_product, admin_headers):
    product_id = make_product()

    response = client.put(
        image_url(product_id), data=PNG, content_type="image/png", headers=admin_headers
    )

    assert response.status_code == 415


def test_a_multipart_body_without_the_image_field_is_a_400(client, make_product, admin_headers):
    product_id = make_product()

    response = upload(client, product_id, PNG, admin_headers, field="picture")

    assert response.status_code == 400
    assert "image" in response.get_json()["errors"]


def form_body(*parts: tuple[str, str | None, bytes]) -> bytes:
    """A multipart/form-data body of (field, filename or None for a text field, content) parts."""
    body = b""
    for field, filename, data in parts:
        named = f'; filename="{filename}"' if filename is not None else ""
        body += (
            (
                f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{field}"{named}\r\n\r\n'
            ).encode()
            + data
            + b"\r\n"
        )
    return body + f"--{BOUNDARY}--\r\n".encode()


@pytest.mark.parametrize(
    ("parts", "errors"),
    [
        ([("picture", "a.png", PNG)], {"image": ["is required"], "picture": [UNKNOWN]}),
        ([("note", None, b"hello")], {"image": ["is required"], "note": [UNKNOWN]}),
        ([], {"image": ["is required"]}),
        ([("image", "a.png", PNG), ("caption", None, b"A mug")], {"caption": [UNKNOWN]}),
        ([("image", "a.png", PNG), ("thumb", "t.png", PNG)], {"thumb": [UNKNOWN]}),
        ([("image", "a.png", PNG), ("image", "b.png", PNG)], {"image": ["must be sent once"]}),
        ([("image", None, PNG)], {"image": ["is required", "must be a file, not a text field"]}),
    ],
    ids=["misnamed", "text only", "no parts", "extra text", "extra file", "twice", "as text"],
)
def test_a_form_with_a_missing_or_unknown_field_is_a_400_naming_it(
    client, make_product, admin_headers, app, parts, errors
):
    product_id = make_product()

    response = client.put(
        image_url(product_id),
        data=form_body(*parts),
        content_type=f"multipart/form-data; boundary={BOUNDARY}",
        headers=admin_headers,
    )

    body = assert_problem(response, 400, fields=set(errors))
    assert body["errors"] == errors
    assert "form" in body["detail"]
    assert "query" not in body["detail"]
    assert stored_files(app) == []


def test_an_image_over_the_limit_is_a_413_and_nothing_is_stored(
    client, make_product, admin_headers, app
):
    product_id = make_product()
    limit = int(app.config["MAX_UPLOAD_MB"] * 1024 * 1024)

    response = upload(client, product_id, PNG + b"\x00" * limit, admin_headers)

    assert response.status_code == 413
    assert response.mimetype == "application/problem+json"
    assert stored_files(app) == []


def test_an_image_just_under_the_limit_is_accepted(client, make_product, admin_headers, app):
    product_id = make_product()
    limit = int(app.config["MAX_UPLOAD_MB"] * 1024 * 1024)

    assert (
        upload(client, product_id, PNG + b"\x00" * (limit - len(PNG)), admin_headers).status_code
        == 200
    )


def test_the_same_picture_is_stored_once(client, make_product, admin_headers, app):
    first, second = make_product(), make_product()

    upload(client, first, PNG, admin_headers)
    upload(client, second, PNG, admin_headers)

    assert len(stored_files(app)) == 1
    digest = hashlib.sha256(PNG).hexdigest()
    assert stored_files(app)[0].name == f"{digest}.png"


def test_replacing_and_deleting_remove_files_no_one_uses(client, make_product, admin_headers, app):
    first, second = make_product(), make_product()
    upload(client, first, PNG, admin_headers)
    upload(client, second, PNG, admin_headers)

    upload(client, first, JPEG, admin_headers)
    assert {p.suffix for p in stored_files(app)} == {".png", ".jpg"}
    assert client.delete(image_url(second), headers=admin_headers).status_code == 204
    assert {p.suffix for p in stored_files(app)} == {".jpg"}
    assert client.get(image_url(second)).status_code == 404
    assert client.delete(image_url(second), headers=admin_headers).status_code == 404


def test_a_failed_database_write_leaves_no_file(
    client, make_product, admin_headers, app, monkeypatch
):
    product_id = make_product()

    def refuse(*_args, **_kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr("models.images.transaction", refuse)
    response = upload(client, product_id, PNG, admin_headers)

    assert response.status_code == 500
    assert stored_files(app) == []


def test_uploads_are_for_admins_only(client, make_product, customer_headers, in_app):
    product_id = make_product()

    assert upload(client, product_id, PNG, {}).status_code == 401
    assert upload(client, product_id, PNG, customer_headers).status_code == 403
    assert client.delete(image_url(product_id), headers=customer_headers).status_code == 403
    assert in_app(lambda: db.session.get(Product, product_id).image_sha256) is None


def test_a_stale_if_match_refuses_the_upload(client, make_product, admin_headers):
    product_id = make_product()
    stale = client.get(f"/api/v1/products/{product_id}").headers["ETag"]
    client.patch(f"/api/v1/products/{product_id}", json={"stock": 1}, headers=admin_headers)

    response = upload(client, product_id, PNG, admin_headers, extra={"If-Match": stale})

    assert response.status_code == 412


def test_a_deleted_products_image_is_gone_too(client, make_product, admin_headers):
    product_id = make_product()
    upload(client, product_id, PNG, admin_headers)

    client.delete(f"/api/v1/products/{product_id}", headers=admin_headers)

    assert client.get(image_url(product_id)).status_code == 404
