"""Product images: content-addressed files on disk, referenced from the product row.

A file is named by the SHA-256 of its bytes, so the same picture uploaded twice
is stored once, and a name never points at different content. Files are written
to a temporary name and renamed into place, so a crash never leaves half a
picture behind; the row is changed in its own transaction afterwards, and a
file that no row references any more is removed.
"""

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select

from models.base import check_version, db, transaction
from models.errors import DomainError, NotFoundError
from models.product import Product, get_product

# What we accept, recognised by content, never by file name or declared type.
SIGNATURES = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
}
EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}
MEDIA_TYPES = tuple(EXTENSIONS)


class UnsupportedImageError(DomainError):
    """The bytes are not a PNG, JPEG or WebP image."""

    def __init__(self):
        super().__init__("The file must be a PNG, JPEG or WebP image (checked by its content)")


class ImageTooLargeError(DomainError):
    """The image is over the configured size limit."""

    def __init__(self, limit: int):
        super().__init__(f"The image is larger than {limit} bytes")


def sniff(data: bytes) -> str:
    """Return the media type of ``data`` from its leading bytes, or raise."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    for media_type, signatures in SIGNATURES.items():
        if data.startswith(signatures):
            return media_type
    raise UnsupportedImageError()


@dataclass(frozen=True)
class ImageStore:
    """Image files under ``folder``, sharded by the first two hex digits of their hash."""

    folder: Path
    max_bytes: int

    def path(self, digest: str, media_type: str) -> Path:
        """Where the image with this hash and type lives."""
        return self.folder / digest[:2] / f"{digest}.{EXTENSIONS[media_type]}"

    def save(self, data: bytes, media_type: str) -> str:
        """Store ``data`` (atomically, once per content); return its SHA-256."""
        digest = hashlib.sha256(data).hexdigest()
        target = self.path(digest, media_type)
        if target.exists():
            return digest
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return digest

    def discard_unused(self, digest: str | None, media_type: str | None) -> None:
        """Remove the file of ``digest`` unless some live row still points at it."""
        if digest is None or media_type is None:
            return
        users = db.session.scalar(
            select(func.count()).select_from(Product).where(Product.image_sha256 == digest)
        )
        if not users:
            self.path(digest, media_type).unlink(missing_ok=True)


def set_product_image(
    *, product_id: int, data: bytes, store: ImageStore, expected_version=None
) -> Product:
    """Give a product this image (replacing any), checked by content and size."""
    if len(data) > store.max_bytes:
        raise ImageTooLargeError(store.max_bytes)
    media_type = sniff(data)
    product = get_product(product_id)
    check_version(product, expected_version, entity="Product")
    previous = (product.image_sha256, product.image_type)
    digest = store.save(data, media_type)
    try:
        with transaction():
            product.image_sha256 = digest
            product.image_type = media_type
    except BaseException:
        store.discard_unused(digest, media_type)
        raise
    if previous[0] != digest:
        store.discard_unused(*previous)
    return product


def product_image(product_id: int, store: ImageStore) -> tuple[Path, str, str]:
    """(path, media type, hash) of a live product's image, or ``NotFoundError``."""
    product = get_product(product_id)
    if product.image_sha256 is None:
        raise NotFoundError("Image of product", product_id)
    path = store.path(product.image_sha256, product.image_type)
    if not path.exists():
        raise NotFoundError("Image of product", product_id)
    return path, product.image_type, product.image_sha256


def remove_product_image(*, product_id: int, store: ImageStore, expected_version=None) -> None:
    """Remove a product's image; the file goes when no product uses it any more."""
    product = get_product(product_id)
    check_version(product, expected_version, entity="Product")
    if product.image_sha256 is None:
        raise NotFoundError("Image of product", product_id)
    previous = (product.image_sha256, product.image_type)
    with transaction():
        product.image_sha256 = None
        product.image_type = None
    store.discard_unused(*previous)
