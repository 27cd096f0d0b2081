"""Product images: content-addressed files on disk, referenced from the product row.

A file is named by the SHA-256 of its bytes, so the same picture uploaded twice
is stored once (two products may share a file), and a name never points at
different content. Files are written to a temporary name and renamed into
place, so a crash never leaves half a picture behind.

A file is removed only after the change that stopped using it has committed,
and only when no live product refers to it. Checking that and removing the file
is one step with respect to giving the same file to another product: both hold
the store's lock (a file lock, so every worker and every instance on a shared
volume takes the same one), and the uploader writes the file again if it is
missing before committing its reference. So a file some row refers to is never
lost, whichever request wins. What a crash leaves behind (a file written, its
reference never committed) is found by ``sweep_unused`` (``flask sweep-images``).
"""

import fcntl
import hashlib
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select

from models.base import check_version, db, read_row, transaction
from models.errors import NotFoundError
from models.image_checks import EXTENSIONS, ImageTooLargeError, checked_media_type
from models.product import Product, get_product

LOCK_NAME = ".lock"
TEMPORARY_PREFIX = ".upload-"
# A temporary file this old belongs to no upload in flight: a crash left it.
STALE_TEMPORARY_SECONDS = 3600
# flock excludes other processes, and other threads when each opens the file
# itself; on network filesystems it may be a per-process lock, so the threads
# of one process also take this one.
_THREADS = threading.Lock()


def _live_users(digest: str) -> int:
    """How many live products refer to ``digest``, as committed now.

    Read on a connection of its own: a session may still see the snapshot of a
    transaction that began before another request committed its reference.
    """
    statement = (
        select(func.count())
        .select_from(Product)
        .where(Product.image_sha256 == digest, Product.deleted_at.is_(None))
    )
    return read_row(statement)[0]


@dataclass(frozen=True)
class ImageStore:
    """Image files under ``folder``, sharded by the first two hex digits of their hash.

    What it accepts: at most ``max_bytes`` long, and at most ``max_pixels`` once decoded.
    """

    folder: Path
    max_bytes: int
    max_pixels: int

    def path(self, digest: str, media_type: str) -> Path:
        """Where the image with this hash and type lives."""
        return self.folder / digest[:2] / f"{digest}.{EXTENSIONS[media_type]}"

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the store's lock: no file is written or removed by anyone else meanwhile."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with _THREADS:
            handle = os.open(self.folder / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(handle, fcntl.LOCK_EX)
                yield
            finally:
                os.close(handle)  # which releases the flock

    def write(self, data: bytes, media_type: str) -> str:
        """Store ``data`` unless its file exists (atomically); return its SHA-256.

        Call it holding the lock, and commit the reference before releasing it.
        """
        digest = hashlib.sha256(data).hexdigest()
        target = self.path(digest, media_type)
        if target.exists():
            return digest
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=TEMPORARY_PREFIX)
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

    def _remove_if_unused(self, digest: str, media_type: str) -> bool:
        """Remove the file of ``digest`` if no live product uses it (lock held); True if gone."""
        if _live_users(digest):
            return False
        self.path(digest, media_type).unlink(missing_ok=True)
        return True

    def discard_unused(self, digest: str | None, media_type: str | None) -> None:
        """Remove the file of ``digest`` unless a live product uses it; call it after commit."""
        if digest is None or media_type is None:
            return
        with self.locked():
            self._remove_if_unused(digest, media_type)

    def files(self) -> Iterator[tuple[str, str, Path]]:
        """(hash, media type, path) of every image file in the store."""
        by_extension = {extension: media_type for media_type, extension in EXTENSIONS.items()}
        for path in sorted(self.folder.glob("??/*")):
            digest, _, extension = path.name.partition(".")
            if extension in by_extension and path.parent.name == digest[:2]:
                yield digest, by_extension[extension], path


def set_product_image(
    *, product_id: int, data: bytes, store: ImageStore, expected_version=None
) -> Product:
    """Give a product this image (replacing any), once it is checked (``checked_media_type``)."""
    if len(data) > store.max_bytes:
        raise ImageTooLargeError(store.max_bytes)
    media_type = checked_media_type(data, max_pixels=store.max_pixels)
    product = get_product(product_id)
    check_version(product, expected_version, entity="Product")
    previous = (product.image_sha256, product.image_type)
    # Under the lock, the file exists from before the reference commits until
    # it is no longer used: no one can remove it in between.
    with store.locked():
        digest = store.write(data, media_type)
        try:
            with transaction():
                product.image_sha256 = digest
                product.image_type = media_type
        except BaseException:
            store._remove_if_unused(digest, media_type)
            raise
    if previous != (digest, media_type):
        store.discard_unused(*previous)
    return product


def product_image(product_id: int, store: ImageStore) -> tuple[bytes, str, str]:
    """(bytes, media type, hash) of a live product's image, or ``NotFoundError``."""
    product = get_product(product_id)
    if product.image_sha256 is None:
        raise NotFoundError("Image of product", product_id)
    try:
        # Images are small (``max_bytes``): read whole, no file handle to leak.
        data = store.path(product.image_sha256, product.image_type).read_bytes()
    except FileNotFoundError:
        # Replaced (and its old file removed) since the row was read.
        raise NotFoundError("Image of product", product_id) from None
    return data, product.image_type, product.image_sha256


def remove_product_image(*, product_id: int, store: ImageStore, expected_version=None) -> None:
    """Remove a product's image; the file goes when no live product uses it any more."""
    product = get_product(product_id)
    check_version(product, expected_version, entity="Product")
    if product.image_sha256 is None:
        raise NotFoundError("Image of product", product_id)
    previous = (product.image_sha256, product.image_type)
    with transaction():
        product.image_sha256 = None
        product.image_type = None
    store.discard_unused(*previous)


def sweep_unused(store: ImageStore) -> tuple[int, int]:
    """Remove every image file no live product uses, and stale temporary files.

    For files orphaned before their removal was reliable (or by a crash between
    writing a file and committing its reference), and for the pictures of
    products deleted before deleting a product removed its picture. Safe while
    the API serves: each removal is checked again under the lock. Returns
    (files removed, files kept).
    """
    used = set(
        db.session.scalars(
            select(Product.image_sha256)
            .where(Product.image_sha256.is_not(None), Product.deleted_at.is_(None))
            .distinct()
        )
    )
    db.session.rollback()  # end the read: each check below sees what is committed then
    removed = kept = 0
    for digest, media_type, _path in list(store.files()):
        if digest not in used:
            with store.locked():
                if store._remove_if_unused(digest, media_type):
                    removed += 1
                    continue
        kept += 1
    cutoff = time.time() - STALE_TEMPORARY_SECONDS
    for temporary in store.folder.glob(f"??/{TEMPORARY_PREFIX}*"):
        try:
            stale = temporary.stat().st_mtime < cutoff
        except FileNotFoundError:  # an upload in flight just renamed it into place
            continue
        if stale:
            temporary.unlink(missing_ok=True)
            removed += 1
    return removed, kept
