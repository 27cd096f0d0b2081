"""Email addresses: the one form they are stored and compared in, and which may be stored.

Look-alikes are one address. An address is folded: NFKC (full-width letters,
ligatures and other compatibility forms become plain ones), lower-cased
(``str.lower``, as before), NFKC again (lower-casing can leave a string that is
not in normal form) and trimmed. Where an address is stored, it may hold no
character that does not show or that reorders the text around it: such
characters are refused, not removed, so the account is what its owner typed and
sees. Where one is looked up (login, the listing filter), they are ignored, so a
zero-width space pasted into a login form still finds the account.

``EMAIL_PATTERN``, the schema's, says all of that but the length: an address the
schema allows folds to one with a single @ and nothing hidden. It lists the
characters an address may hold, which are those up to U+FFFF: beyond it lie
invisible ones too (tag characters, variation selectors), and no pattern can
name them that Python and ECMAScript (the spec's dialect, with or without its
"u" flag) read alike, because ECMAScript sees such a character as two UTF-16
code units. Emoji and the rarest ideographs are the cost. The length is checked
on the folded address: some letters grow when lower-cased ("İ" becomes "i" and
a combining dot), the one rule a request the schema allows can still break.
"""

import re
import unicodedata

from models.errors import InvalidValueError

EMAIL_MAX_LENGTH = 254
LAST_CHARACTER = 0xFFFF

# Invisible: format characters (Cf: zero-width characters, bidirectional
# controls, the byte order mark, the soft hyphen, tag characters) and the others
# Unicode lists as Default_Ignorable_Code_Point, as (first, last) code points.
_INVISIBLE_CATEGORY = "Cf"
_INVISIBLE_RANGES = (
    (0x034F, 0x034F),  # combining grapheme joiner
    (0x115F, 0x1160),  # Hangul choseong and jungseong fillers
    (0x17B4, 0x17B5),  # Khmer inherent vowels
    (0x180B, 0x180F),  # Mongolian free variation selectors
    (0x2065, 0x2065),  # reserved, among the invisible operators
    (0x3164, 0x3164),  # Hangul filler
    (0xFE00, 0xFE0F),  # variation selectors
    (0xFFA0, 0xFFA0),  # half-width Hangul filler
    (0xFFF0, 0xFFF8),  # reserved, ignorable
    (0xE0000, 0xE0FFF),  # tag characters, variation selectors 17-256, reserved
)
# Never stored either: controls and separators (spaces), and the two
# noncharacters XML 1.0 cannot carry (the API answers in XML too).
_REFUSED_CATEGORIES = frozenset({"Cc", "Zs", "Zl", "Zp"})
_NOT_XML = "\ufffe\uffff"

# The characters up to U+FFFF an address may not hold, in hex: the refused ones
# (``is_refused``) and those whose folded form holds one, an @ or a character
# beyond U+FFFF (spacing accents fold to a space and a combining accent, U+FF20
# to "@", a few CJK compatibility ideographs to ideographs beyond U+FFFF).
# tests/unit/test_emails.py checks the table against Python's Unicode database.
_REFUSED_UP_TO_LAST = """
0000-0020 007F-00A0 00A8 00AD 00AF 00B4 00B8 02D8-02DD 034F 037A 0384-0385 0600-0605
061C 06DD 070F 0890-0891 08E2 115F-1160 1680 17B4-17B5 180B-180F 1FBD 1FBF-1FC1
1FCD-1FCF 1FDD-1FDF 1FED-1FEE 1FFD-1FFE 2000-200F 2017 2028-202F 203E 205F-206F 3000
309B-309C 3164 FA6C FACF-FAD1 FAD5-FAD7 FC5E-FC63 FDFA-FDFB FE00-FE0F FE49-FE4C FE6B
FE70 FE72 FE74 FE76 FE78 FE7A FE7C FE7E FEFF FF20 FFA0 FFE3 FFF0-FFFB FFFE-FFFF
"""
_AT, _SURROGATES = (0x40, 0x40), (0xD800, 0xDFFF)


def _hex_ranges(table: str) -> list[tuple[int, int]]:
    """``"0000-0020 00A8"`` as ``[(0x0, 0x20), (0xA8, 0xA8)]``."""
    ranges = []
    for token in table.split():
        first, _, last = token.partition("-")
        ranges.append((int(first, 16), int(last or first, 16)))
    return ranges


def _allowed_class() -> str:
    """The regular expression class of the characters an address may hold.

    Everything up to U+FFFF but the refused characters, the @ (which only
    separates) and the surrogates, as ``\\uXXXX`` escapes: both dialects read a
    class of those alike.
    """
    allowed, start = [], 0
    for first, last in sorted([*_hex_ranges(_REFUSED_UP_TO_LAST), _AT, _SURROGATES]):
        if first > start:
            allowed.append((start, first - 1))
        start = max(start, last + 1)
    if start <= LAST_CHARACTER:
        allowed.append((start, LAST_CHARACTER))
    return (
        "[" + "".join(f"\\u{a:04x}" + (f"-\\u{b:04x}" if b > a else "") for a, b in allowed) + "]"
    )


# Deliberately loose otherwise (one @, a dot in the domain): the mailbox is
# proven by use.
_PART = _allowed_class() + "+"
EMAIL_PATTERN = f"^{_PART}@{_PART}\\.{_PART}$"
_EMAIL = re.compile(EMAIL_PATTERN)

CHARACTERS_RULE = (
    "must hold no invisible, control, bidirectional-control or space characters, "
    "and none beyond U+FFFF"
)
LENGTH_RULE = (
    f"must be at most {EMAIL_MAX_LENGTH} characters long once normalised (NFKC, lower-cased)"
)
SHAPE_RULE = "must be one @ and a domain with a dot once normalised (NFKC, lower-cased)"


def fold(email: str) -> str:
    """NFKC, lower-cased, NFKC again: the letters an address compares by (not trimmed)."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", email).lower())


def is_invisible(char: str) -> bool:
    """True for a character that does not show, or that only steers how text around it shows."""
    code = ord(char)
    return unicodedata.category(char) == _INVISIBLE_CATEGORY or any(
        first <= code <= last for first, last in _INVISIBLE_RANGES
    )


def is_refused(char: str) -> bool:
    """True for a character no stored address may hold: an invisible one, a control, a space."""
    return (
        is_invisible(char) or unicodedata.category(char) in _REFUSED_CATEGORIES or char in _NOT_XML
    )


def normalize_email(email: str) -> str:
    """The form addresses are compared in: folded and trimmed, invisible characters ignored.

    For lookups; it never fails. A stored address is already in this form.
    """
    folded = fold(email).strip()
    if folded.isascii():  # the usual case: nothing in ASCII is invisible
        return folded
    return "".join(char for char in folded if not is_invisible(char))


def storable_email(email: str) -> str:
    """``email`` as it is stored (folded and trimmed), or ``InvalidValueError`` naming the rule.

    The rules of ``EMAIL_PATTERN``, for callers that bypass the schema (the
    commands), checked on the address as given and once folded; and the length,
    which only the folded address shows.
    """
    folded = fold(email).strip()
    if any(ord(char) > LAST_CHARACTER for char in email) or any(map(is_refused, folded)):
        raise InvalidValueError("email", CHARACTERS_RULE)
    if len(folded) > EMAIL_MAX_LENGTH:
        raise InvalidValueError("email", LENGTH_RULE)
    if not _EMAIL.match(folded):
        raise InvalidValueError("email", SHAPE_RULE)
    return folded
