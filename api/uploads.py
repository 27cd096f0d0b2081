"""Where the app keeps its product images, and their limits: an ``ImageStore`` from the settings."""

from pathlib import Path

from flask import current_app

from models.images import ImageStore

MEGABYTE = 1024 * 1024


def image_store() -> ImageStore:
    """This app's image files: ``UPLOAD_FOLDER``, ``MAX_UPLOAD_MB`` and ``MAX_IMAGE_PIXELS``."""
    config = current_app.config
    return ImageStore(
        Path(config["UPLOAD_FOLDER"]),
        max_bytes=int(config["MAX_UPLOAD_MB"] * MEGABYTE),
        max_pixels=config["MAX_IMAGE_PIXELS"],
    )
