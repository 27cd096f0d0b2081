"""The email rules (models/emails.py) against Python's Unicode database and ECMAScript."""

import json
import re
import shutil
import subprocess
import sys

import pytest

from models import InvalidValueError
from models.emails import (
    CHARACTERS_RULE,
    EMAIL_MAX_LENGTH,
    EMAIL_PATTERN,
    LAST_CHARACTER,
    LENGTH_RULE,
    SHAPE_RULE,
    fold,
    is_refused,
    normalize_email,
    storable_email,
)

EVERY_CHARACTER = [chr(code) for code in range(sys.maxunicode + 1) if not 0xD800 <= code <= 0xDFFF]


def breaks_an_address(char: str) -> bool:
    """What the pattern must refuse: a character that is, or folds into, a refused one, an @
    or one beyond U+FFFF (which a portable pattern cannot tell apart)."""
    folded = fold(char)
    return (
        ord(char) > LAST_CHARACTER
        or any(is_refused(c) or ord(c) > LAST_CHARACTER for c in folded)
        or (char != "@" and "@" in folded)
    )


def test_the_pattern_allows_exactly_the_characters_that_keep_an_address_whole():
    # The class each part of the address is made of: "[...]" of "^[...]+@...".
    allowed = re.compile(EMAIL_PATTERN[1 : EMAIL_PATTERN.index("]+") + 1])

    wrong = [
        f"U+{ord(char):04X}"
        for char in EVERY_CHARACTER
        if char != "@" and bool(allowed.fullmatch(char)) == breaks_an_address(char)
    ]

    assert wrong == []


def test_folding_is_stable_so_a_stored_address_is_found_by_itself():
    unstable = [f"U+{ord(c):04X}" for c in EVERY_CHARACTER if fold(fold(c)) != fold(c)]

    assert unstable == []


@pytest.mark.parametrize(
    "char",
    [
        "\u200b",  # zero-width space
        "\u200c",  # zero-width non-joiner
        "\u200e",  # left-to-right mark
        "\u202e",  # right-to-left override
        "\u2067",  # right-to-left isolate
        "\u061c",  # Arabic letter mark
        "\ufeff",  # byte order mark
        "\U000e0001",  # language tag
        "\U000e007f",  # cancel tag
        "\U000e01ef",  # variation selector 256
        "\U0001d173",  # musical symbol begin beam
        "\U0001f600",  # an emoji: nothing beyond U+FFFF
        "\u0085",  # a control
        "\u3000",  # ideographic space
        "\uffff",  # not in XML
    ],
)
def test_hidden_characters_are_refused_where_the_schema_is_not_asked(char):
    with pytest.raises(InvalidValueError) as caught:
        storable_email(f"ad{char}a@example.com")

    assert caught.value.field == "email"
    assert caught.value.rule == CHARACTERS_RULE


@pytest.mark.parametrize("char", ["\u200b", "\u202e", "\u00ad", "\U000e0041", "\ufe0f"])
def test_lookups_ignore_invisible_characters(char):
    assert normalize_email(f"Ad{char}a@Example.com") == "ada@example.com"


@pytest.mark.parametrize(
    ("email", "stored"),
    [
        ("Ada@Example.COM", "ada@example.com"),
        ("\uff21\uff44\uff41@example.com", "ada@example.com"),  # full-width
        ("\ufb01le@example.com", "file@example.com"),  # the "fi" ligature
        ("  ada@example.com\n", "ada@example.com"),
        ("stra\u00dfe@example.com", "stra\u00dfe@example.com"),  # lower-cased, not case-folded
        ("\u0041\u030a@example.com", "\u00e5@example.com"),  # composed: one letter
    ],
)
def test_a_stored_address_is_folded_and_trimmed(email, stored):
    assert storable_email(email) == stored
    assert normalize_email(email) == stored
    assert storable_email(stored) == stored


def test_an_address_that_grows_past_the_limit_is_refused_once_normalised():
    grows = "\u0130" * 240 + "@x.example"  # 250 characters, 490 lower-cased
    exactly = "a" * (EMAIL_MAX_LENGTH - len("@x.example")) + "@x.example"

    with pytest.raises(InvalidValueError) as caught:
        storable_email(grows)

    assert len(grows) <= EMAIL_MAX_LENGTH < len(fold(grows))
    assert caught.value.rule == LENGTH_RULE
    assert storable_email(exactly) == exactly


@pytest.mark.parametrize("email", ["a\uff20b@c.de", "ab@c\ufe6bd.ef", "ad@example", "@x.de"])
def test_an_address_must_keep_its_shape_once_normalised(email):
    with pytest.raises(InvalidValueError) as caught:
        storable_email(email)

    assert caught.value.rule == SHAPE_RULE


@pytest.mark.parametrize("flags", ["", "u"])
def test_the_pattern_reads_the_same_in_ecmascript(flags):
    node = shutil.which("node")
    assert node, "the suite needs Node (README, Tests)"
    samples = [
        "ada@example.com",
        "\uff21da@example.com",
        "ad\u00e9le@exemple.fr",
        "\u5409\u91ce@\u4f8b\u3048.jp",
        "\u0130" * 240 + "@x.example",  # refused once normalised, not by the pattern
        *(f"a{char}b@example.com" for char in EVERY_CHARACTER if breaks_an_address(char)),
    ]
    script = (
        "const [pattern, flags, samples] = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
        "const regex = new RegExp(pattern, flags);"
        "process.stdout.write(JSON.stringify(samples.map((s) => regex.test(s))));"
    )

    result = subprocess.run(
        [node, "-e", script],
        input=json.dumps([EMAIL_PATTERN, flags, samples]),
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )

    matches = json.loads(result.stdout)
    assert matches == [bool(re.search(EMAIL_PATTERN, sample)) for sample in samples]
    assert matches[:5] == [True] * 5
    assert not any(matches[5:])
