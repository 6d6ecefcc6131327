"""Battle for Wesnoth gettext catalogues as English -> xx sentence pairs.

Each text domain is one ``wesnoth-<domain>.mo`` per language under
``usr/share/games/wesnoth/1.16/locale/<lang>/LC_MESSAGES``; msgid is English, msgstr the
human translation. Campaign domains are the unit of the dev/test hold-out.
"""

import gettext
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Optional

from .textclean import has_control

# The campaigns shipped as wesnoth-1.16-<campaign> packages; every other domain (core,
# units, help, multiplayer, ...) comes with wesnoth-1.16-data.
CAMPAIGNS = (
    "did",
    "dm",
    "dw",
    "ei",
    "httt",
    "l",
    "low",
    "nr",
    "sof",
    "sota",
    "sotbe",
    "thot",
    "trow",
    "tsg",
    "ttb",
    "utbs",
)
PACKAGES = ("wesnoth-1.16-data",) + tuple(f"wesnoth-1.16-{c}" for c in CAMPAIGNS)
LOCALE = Path("usr/share/games/wesnoth/1.16/locale")

MIN_WORDS = 4
MAX_WORDS = 60
MIN_RATIO, MAX_RATIO = 0.5, 2.0  # characters of translation / characters of English

# Variables ($name, {MACRO}, %s), markup (<i>, [tags], &image), pipes and newlines mark
# strings that are templates or layout rather than sentences.
_FORMAT = re.compile(r"[$%{}|&@\\]|\[/?[a-z]|<[a-zA-Z/]|[\n\r\t]")


@dataclass(frozen=True)
class Pair:
    domain: str
    lang: str
    english: str
    translation: str


def catalogue_langs(root: Path) -> List[str]:
    """Locale folder names that have catalogues, sorted."""
    base = Path(root) / LOCALE
    return (
        sorted(p.name for p in base.iterdir() if (p / "LC_MESSAGES").is_dir())
        if base.is_dir()
        else []
    )


def _read_mo(path: Path) -> Dict[str, str]:
    with open(path, "rb") as f:
        catalog = gettext.GNUTranslations(f)._catalog
    out: Dict[str, str] = {}
    for key in sorted(k for k in catalog if isinstance(k, str)):  # tuples are plural forms
        msgid = key.split("\x04", 1)[-1]  # drop the msgctxt
        if msgid and catalog[key]:
            out.setdefault(msgid, catalog[key])
    return out


def _check(english: str, translation: str) -> Optional[str]:
    """None for a usable sentence pair, else why it is dropped."""
    if _FORMAT.search(english) or _FORMAT.search(translation):
        return "format string or markup"
    if has_control(english) or has_control(translation):
        return "control characters"
    if translation.strip() == english.strip():
        return "untranslated"
    n_words = len(english.split())
    if n_words < MIN_WORDS:
        return f"under {MIN_WORDS} words"
    if n_words > MAX_WORDS:
        return f"over {MAX_WORDS} words"
    ratio = len(translation) / max(1, len(english))
    if not MIN_RATIO <= ratio <= MAX_RATIO:
        return "bad length ratio"
    return None


def catalogue_strings(root: Path, langs: Iterable[str], domain: str) -> List[str]:
    """Every msgid and msgstr of one domain in ``langs``, unfiltered (for the hold-out)."""
    out: List[str] = []
    base = Path(root) / LOCALE
    name = "wesnoth.mo" if domain == "core" else f"wesnoth-{domain}.mo"
    for lang in sorted(set(langs)):
        mo = base / lang / "LC_MESSAGES" / name
        if mo.is_file():
            for english, translation in _read_mo(mo).items():
                out += [english, translation]
    return out


def read_pairs(root: Path, langs: Iterable[str], dropped: Counter) -> List[Pair]:
    """Usable pairs of every domain for ``langs`` (Wesnoth locale names, e.g. ``pt_BR``).

    Sorted by (domain, lang, english); reasons for dropped entries are counted in ``dropped``.
    """
    pairs: List[Pair] = []
    base = Path(root) / LOCALE
    for lang in sorted(set(langs)):
        for mo in sorted((base / lang / "LC_MESSAGES").glob("wesnoth*.mo")):
            domain = mo.stem[len("wesnoth-") :] if mo.stem != "wesnoth" else "core"
            for english, translation in _read_mo(mo).items():
                reason = _check(english, translation)
                if reason:
                    dropped[f"wesnoth: {reason}"] += 1
                    continue
                pairs.append(
                    Pair(domain, lang, " ".join(english.split()), " ".join(translation.split()))
                )
    pairs.sort(key=lambda p: (p.domain, p.lang, p.english))
    return pairs
