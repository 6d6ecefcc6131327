"""Fortune cookie files as monolingual text (``fortunes`` and its -de/-es/-it/-ru siblings).

Entries are separated by lines holding a single ``%``. Each entry becomes one line of text:
its attribution (``-- Author``) is dropped and its lines are joined. ASCII art, control
characters (overstrike, terminal escapes) and very long entries are skipped.
"""

from collections import Counter
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

from .textclean import has_control, letter_count

PACKAGES = {
    "en": "fortunes",
    "de": "fortunes-de",
    "es": "fortunes-es",
    "it": "fortunes-it",
    "ru": "fortunes-ru",
}
FORTUNES = Path("usr/share/games/fortunes")
MAX_CHARS = 400
MIN_LETTER_SHARE = 0.6  # of the non-space characters; less is ASCII art or a table


def fortune_files(root: Path) -> Dict[str, List[Path]]:
    """``{lang: [files]}``: the regular fortune files of each language, sorted.

    English files sit at the top of the fortunes folder, next to links into ``it/``; the
    other languages have a sub-folder each. ``off`` (offensive) sub-folders are left out,
    as are the ``.dat`` indexes and the ``.u8`` links.
    """
    base = Path(root) / FORTUNES
    out: Dict[str, List[Path]] = {}

    def regular(folder: Path) -> List[Path]:
        if not folder.is_dir():
            return []
        return sorted(
            p
            for p in folder.iterdir()
            if p.is_file() and not p.is_symlink() and p.suffix not in (".dat", ".u8")
        )

    italian = {p.name for p in regular(base / "it")}
    out["en"] = [p for p in regular(base) if p.name not in italian]
    for lang in ("de", "es", "it", "ru"):
        out[lang] = regular(base / lang)
    return {k: v for k, v in out.items() if v}


def _clean(entry: List[str]) -> Tuple[Optional[str], Optional[str]]:
    lines = [ln for ln in entry if not ln.strip().startswith("--")]
    raw = "\n".join(lines)
    if has_control(raw.replace("\n", " ").replace("\t", " ")):
        return None, "control characters"
    text = " ".join(raw.split())
    if not text:
        return None, "empty"
    if len(text) > MAX_CHARS:
        return None, f"over {MAX_CHARS} characters"
    visible = len(text) - text.count(" ")
    if letter_count(text) < MIN_LETTER_SHARE * visible:
        return None, "mostly symbols (ASCII art, tables)"
    if "\\" in text:
        return None, "format characters (\\)"
    return text, None


def read_fortunes(path: Path, dropped: Counter) -> Iterator[Tuple[int, str]]:
    """``(entry number, text)`` of the usable entries of one fortune file."""
    entry: List[str] = []
    n = 0
    for line in path.read_text(encoding="utf-8", errors="replace").replace("\r\n", "\n").split(
        "\n"
    ) + ["%"]:
        if line.strip() == "%":
            if any(ln.strip() for ln in entry):
                text, reason = _clean(entry)
                if reason:
                    dropped[f"fortunes: {reason}"] += 1
                else:
                    yield n, text
                n += 1
            entry = []
        else:
            entry.append(line)
