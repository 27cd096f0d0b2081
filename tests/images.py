"""Pictures for the image tests: real ones made with Pillow, broken ones made by hand.

Also the multipart body an upload sends, built in memory: werkzeug's test
builder spools bodies over 500 KB to a temporary file it does not always close,
and the live tests send raw bytes anyway.
"""

import io
import random
import struct
import zlib

from PIL import Image

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
BOUNDARY = "----storefront-test-boundary"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"


def picture(image_format: str = "PNG", *, seed: int = 0, size: tuple[int, int] = (8, 8)) -> bytes:
    """A small, valid image in ``image_format`` (PNG, JPEG or WEBP); ``seed`` varies its bytes."""
    colour = (seed % 256, (seed // 256) % 256, (seed // 65536) % 256)
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, format=image_format)
    return out.getvalue()


def noise(image_format: str = "PNG", *, seed: int = 0, size: tuple[int, int] = (48, 48)) -> bytes:
    """A valid image of random pixels: it compresses badly, so its pixel data fills the file."""
    pixels = random.Random(seed).randbytes(size[0] * size[1] * 3)  # noqa: S311 (test data)
    out = io.BytesIO()
    Image.frombytes("RGB", size, pixels).save(out, format=image_format)
    return out.getvalue()


def png_chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk: length, type, data, CRC."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_header(width: int, height: int) -> bytes:
    """A PNG that is all header: it claims ``width`` by ``height`` pixels and has no pixel data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return PNG_SIGNATURE + png_chunk(b"IHDR", ihdr) + png_chunk(b"IEND", b"")


def png_of_size(total: int, *, seed: int = 0) -> bytes:
    """A valid PNG of exactly ``total`` bytes: a small picture padded by a private chunk.

    The padding is an ancillary chunk (``prVt``), which decoders skip: the file
    stays a well-formed PNG, only a longer one.
    """
    small = picture("PNG", seed=seed)
    iend = png_chunk(b"IEND", b"")
    padding = total - len(small) - 12
    assert padding >= 0, f"a PNG is at least {len(small) + 12} bytes"
    return small[: -len(iend)] + png_chunk(b"prVt", b"\x00" * padding) + iend


def multipart(field: str, filename: str, data: bytes) -> bytes:
    """A multipart/form-data body (``MULTIPART``) with one file part."""
    head = (
        f"--{BOUNDARY}\r\n"
        f'Content-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    return head + data + f"\r\n--{BOUNDARY}--\r\n".encode()
