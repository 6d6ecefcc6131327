"""Fast character tests shared by the corpus readers."""

import re
import unicodedata

# Control (Cc) and format (Cf) characters and private-use code points: overstrike,
# terminal escapes, zero-width marks. Built once from the Unicode database.
_ranges = []
for _cp in range(0x3000):
    if unicodedata.category(chr(_cp)) in ("Cc", "Cf"):
        _ranges.append(_cp)
_extra = "\ufeff\ufff9-\ufffb\ue000-\uf8ff"
CONTROL = re.compile("[" + "".join(re.escape(chr(c)) for c in _ranges) + _extra + "]")
del _ranges, _cp

LETTER = re.compile(r"[^\W\d_]")
LETTER_OR_DIGIT = re.compile(r"[^\W_]")


def has_control(text: str) -> bool:
    """True if ``text`` holds a control, format or private-use character."""
    return CONTROL.search(text) is not None


def letter_count(text: str) -> int:
    return len(LETTER.findall(text))


def has_letter_or_digit(text: str) -> bool:
    return LETTER_OR_DIGIT.search(text) is not None
