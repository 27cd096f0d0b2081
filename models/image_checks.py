"""What an uploaded picture must be: a PNG, JPEG or WebP that decodes whole, of bounded size.

Recognised by content, never by file name or declared type: the leading bytes
say which of the three it claims to be (anything else is unsupported), then
Pillow must decode it as that format, every pixel, within ``max_pixels``. A
file that only starts like an image (a PNG signature followed by HTML, a bare
signature, a truncated or corrupt stream) does not decode and is refused, and
so is a header claiming more pixels than allowed, before any pixel is
decoded: memory stays bounded by ``max_pixels`` (four bytes each, at most)
whatever the file claims.
"""

import io
import warnings

from PIL import Image

from models.errors import DomainError

SIGNATURES = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
}
EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}
MEDIA_TYPES = tuple(EXTENSIONS)
# Pillow's plugin for each media type, and the media type each format it may
# report is served as. MPO is a JPEG with further pictures after the first (as
# some cameras write them): every JPEG reader shows the first.
PILLOW_FORMATS = {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WEBP"}
SERVED_AS = {"PNG": "image/png", "JPEG": "image/jpeg", "MPO": "image/jpeg", "WEBP": "image/webp"}
# Past its own limit (89 megapixels) Pillow only warns, and would go on to
# decode; as an error the warning reaches ``checked_media_type``, which refuses
# the image like any other over ``max_pixels``. Twice that limit it raises.
warnings.filterwarnings("error", category=Image.DecompressionBombWarning)


class UnsupportedImageError(DomainError):
    """The bytes are not a PNG, JPEG or WebP image."""

    def __init__(self):
        super().__init__("The file must be a PNG, JPEG or WebP image (checked by its content)")


class ImageTooLargeError(DomainError):
    """The image is over the configured size limit."""

    def __init__(self, limit: int):
        super().__init__(f"The image is larger than {limit} bytes")


class ImageTooManyPixelsError(DomainError):
    """The image would decode to more pixels than allowed (a decompression bomb, maybe)."""

    def __init__(self, limit: int):
        super().__init__(f"The image has more than {limit} pixels (width times height)")


class InvalidImageError(DomainError):
    """The bytes start like a PNG, JPEG or WebP image but do not decode as one."""

    def __init__(self, media_type: str):
        super().__init__(
            f"The file starts like {PILLOW_FORMATS[media_type]} but is not a complete, "
            "valid image of that format"
        )


def sniff(data: bytes) -> str:
    """Return the media type ``data`` claims by its leading bytes, or raise."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    for media_type, signatures in SIGNATURES.items():
        if data.startswith(signatures):
            return media_type
    raise UnsupportedImageError()


def _check_pixels(size: tuple[int, int], max_pixels: int) -> None:
    width, height = size
    if width * height > max_pixels:
        raise ImageTooManyPixelsError(max_pixels)


def checked_media_type(data: bytes, *, max_pixels: int) -> str:
    """The media type to serve ``data`` as, once it decodes whole within ``max_pixels``.

    Raises ``UnsupportedImageError`` when the leading bytes are none of the three
    formats, ``ImageTooManyPixelsError`` when the header claims too many pixels,
    and ``InvalidImageError`` when the file does not decode as the format it
    claims, or decodes as another than the one it is to be served as.
    """
    media_type = sniff(data)
    formats = [PILLOW_FORMATS[media_type]]
    try:
        # ``open`` reads the header only; ``verify`` checks the structure (a
        # PNG's chunk checksums) without decoding, and leaves the image unusable...
        with Image.open(io.BytesIO(data), formats=formats) as image:
            _check_pixels(image.size, max_pixels)
            image.verify()
        # ...so it is opened again for ``load``, which decodes every pixel: a
        # truncated or corrupt stream fails here.
        with Image.open(io.BytesIO(data), formats=formats) as image:
            if SERVED_AS.get(image.format) != media_type:
                raise InvalidImageError(media_type)
            image.load()
    except DomainError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ImageTooManyPixelsError(max_pixels) from error
    # Pillow reports malformed input with many types (OSError, SyntaxError,
    # ValueError, EOFError, struct.error, ...); any of them means it does not decode.
    except Exception as error:
        raise InvalidImageError(media_type) from error
    return media_type
