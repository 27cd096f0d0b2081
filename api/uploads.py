"""Where the app keeps its product images, and their limits: an ``ImageStore`` from the settings."""

from pathlib import Path

from flask import current_app

from models.images import ImageStore

MEGABYTE = 1024 * 1024


def image_store() -> ImageStore:
    """The image files of this app: ``UPLOAD_FOLDER``, limited to ``MAX_UPLOAD_MB``."""
    config = current_app.config
    return ImageStore(
        Path(config["UPLOAD_FOLDER"]), max_bytes=int(config["MAX_UPLOAD_MB"] * MEGABYTE)
    )
