"""What an upload must be to be stored: checked by decoding, whatever its bytes are."""

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models.image_checks import (
    ImageTooManyPixelsError,
    InvalidImageError,
    UnsupportedImageError,
    checked_media_type,
)
from tests.images import noise, png_header

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 40_000_000
VALID = {"image/png": noise("PNG"), "image/jpeg": noise("JPEG"), "image/webp": noise("WEBP")}
REFUSALS = (UnsupportedImageError, InvalidImageError, ImageTooManyPixelsError)


@pytest.mark.parametrize("media_type", VALID)
def test_a_valid_image_is_served_as_its_own_type(media_type):
    assert checked_media_type(VALID[media_type], max_pixels=LIMIT) == media_type


@st.composite
def damaged(draw):
    """A valid image with some bytes changed, cut short, or followed by others."""
    data = bytearray(VALID[draw(st.sampled_from(sorted(VALID)))])
    for _ in range(draw(st.integers(1, 4))):
        position = draw(st.integers(0, len(data) - 1))
        data[position] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    return bytes(data) + draw(st.binary(max_size=16))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(damaged())
def test_whatever_the_bytes_the_answer_is_a_media_type_or_a_refusal(data):
    # Never any other exception: that would be a 500.
    try:
        media_type = checked_media_type(data, max_pixels=LIMIT)
    except REFUSALS:
        return
    assert media_type in VALID


def test_pillows_decompression_bomb_warning_is_a_refusal_outside_the_tests_too():
    # The suite makes every warning an error; production does not. In a plain
    # interpreter, Pillow's warning (past 89 megapixels) must still refuse the
    # image rather than print a warning and go on.
    program = (
        "import sys\n"
        "from models.image_checks import ImageTooManyPixelsError, checked_media_type\n"
        "try:\n"
        f"    checked_media_type(sys.stdin.buffer.read(), max_pixels={10**12})\n"
        "except ImageTooManyPixelsError:\n"
        "    print('refused')\n"
    )

    result = subprocess.run(
        [sys.executable, "-c", program],
        input=png_header(10_000, 10_000),
        cwd=ROOT,
        capture_output=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout.decode() == "refused\n"
    assert result.stderr == b""
