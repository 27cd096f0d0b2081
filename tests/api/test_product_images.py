"""Product images: checked by content, bounded in size, content-addressed, never half-written."""

import hashlib
import io
from pathlib import Path

import pytest
from PIL import Image

from models import Product, db
from models.images import LOCK_NAME
from tests.helpers import assert_problem
from tests.images import (
    BOUNDARY,
    MULTIPART,
    PNG_SIGNATURE,
    multipart,
    noise,
    picture,
    png_header,
    png_of_size,
)

PNG = picture("PNG")
JPEG = picture("JPEG")
WEBP = picture("WEBP")


def image_url(product_id: int) -> str:
    return f"/api/v1/products/{product_id}/image"


UNKNOWN = "is not an accepted field"


def upload(client, product_id, data, headers, *, filename="picture.png", field="image", extra=None):
    return client.put(
        image_url(product_id),
        data=multipart(field, filename, data),
        content_type=MULTIPART,
        headers={**headers, **(extra or {})},
    )


def stored_files(app) -> list[Path]:
    """Every file in the upload folder but the store's lock (temporary files count)."""
    folder = Path(app.config["UPLOAD_FOLDER"])
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.name != LOCK_NAME)


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


def _corrupted(data: bytes) -> bytes:
    """``data`` with one byte of its middle (pixel data) changed."""
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1 :]


STARTS_LIKE_AN_IMAGE = {
    "png-signature-then-html": PNG_SIGNATURE + b"<html><script>alert(1)</script></html>",
    "bare-png-signature": PNG_SIGNATURE,
    "truncated-png": noise("PNG")[:1500],
    "png-with-a-bad-checksum": _corrupted(noise("PNG")),
    "jpeg-magic-then-text": b"\xff\xd8\xff\xe0 not a JPEG at all",
    "truncated-jpeg": noise("JPEG")[:1500],
    "webp-header-then-zeros": b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 64,
    "truncated-webp": noise("WEBP")[:1500],
}


@pytest.mark.parametrize("data", STARTS_LIKE_AN_IMAGE.values(), ids=STARTS_LIKE_AN_IMAGE.keys())
def test_a_file_that_only_starts_like_an_image_is_a_422_naming_the_field(
    client, make_product, admin_headers, app, data
):
    product_id = make_product()

    response = upload(client, product_id, data, admin_headers)

    body = assert_problem(response, 422, fields={"image"})
    assert "not a complete, valid image" in body["detail"]
    assert stored_files(app) == []
    assert "image" not in client.get(f"/api/v1/products/{product_id}").get_json()["_links"]


@pytest.mark.parametrize(
    ("width", "height"),
    [(2**31, 2**31), (10_000, 10_000), (8_000, 6_000)],
    # Past twice Pillow's own limit (it raises), past it (it warns), past ours only.
    ids=["2^31-squared", "100-megapixels", "48-megapixels"],
)
def test_a_header_claiming_too_many_pixels_is_a_413_before_decoding(
    client, make_product, admin_headers, app, width, height
):
    product_id = make_product()

    response = upload(client, product_id, png_header(width, height), admin_headers)

    body = assert_problem(response, 413)
    assert f"more than {app.config['MAX_IMAGE_PIXELS']} pixels" in body["detail"]
    assert stored_files(app) == []


def test_max_image_pixels_is_the_largest_width_times_height(build_app, make_product, admin_headers):
    client = build_app(MAX_IMAGE_PIXELS=64).test_client()
    product_id = make_product()

    assert upload(client, product_id, picture(size=(8, 8)), admin_headers).status_code == 200
    assert upload(client, product_id, picture(size=(8, 9)), admin_headers).status_code == 413
    assert upload(client, product_id, picture(size=(65, 1)), admin_headers).status_code == 413


def test_a_jpeg_with_more_pictures_after_the_first_is_served_as_a_jpeg(
    client, make_product, admin_headers
):
    out = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(
        out, format="MPO", save_all=True, append_images=[Image.new("RGB", (8, 8), "blue")]
    )
    product_id = make_product()

    assert upload(client, product_id, out.getvalue(), admin_headers).status_code == 200

    assert client.get(image_url(product_id)).mimetype == "image/jpeg"


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

    assert upload(client, product_id, png_of_size(limit), admin_headers).status_code == 200


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


# --- files of deleted products, and files no live product uses -----------------------------


def test_deleting_products_removes_pictures_no_live_product_shows(
    client, make_product, admin_headers, app
):
    first, second, third = make_product(), make_product(), make_product()
    for product_id, data in ((first, PNG), (second, PNG), (third, JPEG)):
        upload(client, product_id, data, admin_headers)

    assert client.delete(f"/api/v1/products/{first}", headers=admin_headers).status_code == 204
    assert {p.suffix for p in stored_files(app)} == {".png", ".jpg"}  # the second shows the PNG
    assert client.delete(f"/api/v1/products/{third}", headers=admin_headers).status_code == 204
    assert {p.suffix for p in stored_files(app)} == {".png"}
    # The deleted first product's row still names the PNG; only live products keep a file.
    assert client.delete(image_url(second), headers=admin_headers).status_code == 204
    assert stored_files(app) == []


def test_bulk_deleting_products_removes_their_pictures(client, make_product, admin_headers, app):
    shown, kept, gone = make_product(), make_product(), make_product()
    for product_id, data in ((shown, PNG), (kept, PNG), (gone, JPEG)):
        upload(client, product_id, data, admin_headers)

    response = client.delete(
        "/api/v1/products/bulk", json={"ids": [kept, gone]}, headers=admin_headers
    )

    assert response.get_json()["deleted_ids"] == sorted([kept, gone])
    assert {p.suffix for p in stored_files(app)} == {".png"}
    assert client.get(image_url(shown)).get_data() == PNG


def test_an_image_whose_file_vanished_is_a_404_not_a_500(client, make_product, admin_headers, app):
    product_id = make_product()
    upload(client, product_id, PNG, admin_headers)

    stored_files(app)[0].unlink()  # as when a replacement removes it after the row was read

    assert_problem(client.get(image_url(product_id)), 404)
