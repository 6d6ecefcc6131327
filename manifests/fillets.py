"""Fish Fillets NG: dialogue scripts and voice recordings.

The game ships, per level, ``script/<level>/dialogs_<lang>.lua`` (the English file holds
``dialogId("<id>", "<font>", "<English>")`` lines; the translated files repeat that call and
follow it with ``dialogStr("<translation>")``) and ``sound/<level>/<lang>/<id>.ogg`` voice
recordings. Jokes and shouts shared by all levels live under ``script/share`` and
``sound/share/<group>``; they are read as one more unit named ``share``.
"""

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

from .textclean import has_control, has_letter_or_digit

SHARE = "share"
# script/share/<prefix>_dialogs_<lang>.lua -> sound/share/<folder>/<lang>/<id>.ogg
SHARE_SOUND_FOLDERS = {
    "black": "blackjokes",
    "border": "border",
    "bore": "borejokes",
    "shout": "border",
}
# dialogs_de_CH.lua is a partial regional respelling of the German file (ss for ß); reading
# it too would add near-duplicates of the German lines.
SKIPPED_SCRIPT_LANGS = {"de_CH"}

_STR = r'"((?:[^"\\\n]|\\.)*)"'
_CALL = re.compile(
    r"dialogId\(\s*" + _STR + r"\s*,\s*" + _STR + r"\s*,\s*" + _STR + r"\s*\)"
    r"|dialogStr\(\s*" + _STR + r"\s*\)",
    re.S,
)
_FILE = re.compile(r"^(?:(?P<prefix>[a-z]+)_)?dialogs_(?P<lang>[A-Za-z_]+)\.lua$")


@dataclass(frozen=True)
class Line:
    """One dialogue line of one level in one language, with its English original."""

    level: str
    dialogue_id: str
    lang: str
    text: str  # raw, Lua escapes resolved
    english: str  # the line in dialogs_en.lua (falls back to the English in this file)
    group: Optional[str] = None  # the script file's prefix (brief, demo; black, bore in share)


def _unescape(s: str) -> str:
    """Resolve the quote escapes; any other backslash stays and marks a format string."""
    return re.sub(r'\\(["\'\\])', r"\1", s)


def _strip_comments(src: str) -> str:
    """Drop ``--`` comments that stand outside strings (comments never hold quotes here)."""
    out = []
    for line in src.split("\n"):
        stripped = line.lstrip()
        out.append("" if stripped.startswith("--") else line)
    return "\n".join(out)


def parse_dialogs(path: Path) -> List[Tuple[str, str, Optional[str]]]:
    """``[(dialogue_id, english_in_file, translation_or_None)]`` in file order."""
    src = _strip_comments(path.read_text(encoding="utf-8", errors="replace"))
    entries: List[List] = []
    for m in _CALL.finditer(src):
        if m.group(1) is not None:
            entries.append([m.group(1), _unescape(m.group(3)), None])
        elif entries and entries[-1][2] is None:
            entries[-1][2] = _unescape(m.group(4))
    return [tuple(e) for e in entries]


def level_strings(game_root: Path, level: str) -> List[str]:
    """Every string literal of every dialogue file of a level, in every language.

    Deliberately over-inclusive (regional variants, untranslated leftovers, font names):
    it is what the hold-out keeps out of training.
    """
    out: List[str] = []
    for p in sorted((game_root / "script" / level).glob("*dialogs_*.lua")):
        src = p.read_text(encoding="utf-8", errors="replace")
        out.extend(_unescape(s) for s in re.findall(_STR, src))
    return out


def speaker_of(dialogue_id: str) -> str:
    """The middle field of ``lvl-spk-name`` (``m`` small fish, ``v`` big fish, ...)."""
    parts = dialogue_id.split("-")
    return parts[1] if len(parts) >= 3 else parts[0]


def levels(game_root: Path) -> List[str]:
    """Level folders that have an English dialogue file, sorted (``share`` excluded)."""
    return sorted(
        p.parent.name
        for p in (game_root / "script").glob("*/dialogs_en.lua")
        if p.parent.name != SHARE
    )


def _script_files(game_root: Path, level: str) -> Dict[Tuple[Optional[str], str], Path]:
    """``{(share_prefix, lang): path}`` for a level's dialogue files."""
    files = {}
    for p in sorted((game_root / "script" / level).glob("*dialogs_*.lua")):
        m = _FILE.match(p.name)
        if not m or m.group("lang") in SKIPPED_SCRIPT_LANGS:
            continue
        # Prefixed files (brief_dialogs, demo_dialogs: the briefing and the posters shown
        # inside a level) belong to that level like its main dialogue file.
        files[(m.group("prefix"), m.group("lang"))] = p
    return files


def read_level(game_root: Path, level: str) -> List[Line]:
    """Every line of a level in every language (English included as lang ``en``)."""
    files = _script_files(game_root, level)
    english: Dict[Tuple[Optional[str], str], str] = {}
    for (prefix, lang), path in files.items():
        if lang == "en":
            for did, en, _ in parse_dialogs(path):
                english.setdefault((prefix, did), en)
    lines: List[Line] = []
    seen = set()
    for (prefix, lang), path in sorted(files.items(), key=lambda kv: (kv[0][0] or "", kv[0][1])):
        for did, en_inline, translation in parse_dialogs(path):
            key = (lang, did)
            if key in seen:
                continue
            seen.add(key)
            en = english.get((prefix, did), en_inline)
            text = en if lang == "en" else translation
            if text is None:
                text = ""
            lines.append(Line(level, did, lang, text, en, prefix))
    return lines


def audio_path(game_root: Path, line: Line, lang: str) -> Path:
    """Where the recording of ``line`` in ``lang`` would be."""
    if line.level == SHARE:
        folder = SHARE_SOUND_FOLDERS.get(line.group or "", line.group or "")
        return game_root / "sound" / SHARE / folder / lang / f"{line.dialogue_id}.ogg"
    return game_root / "sound" / line.level / lang / f"{line.dialogue_id}.ogg"


def clean_text(text: str) -> Tuple[Optional[str], Optional[str]]:
    """``(cleaned, None)`` for a usable line, ``(None, reason)`` for one to skip.

    Lines with ``%`` or a backslash are format strings or escapes, not speech.
    """
    if "%" in text or "\\" in text:
        return None, "format characters (% or \\)"
    text = " ".join(text.split())
    if has_control(text):
        return None, "control characters"
    if not text:
        return None, "empty"
    if not has_letter_or_digit(text):
        return None, "punctuation only"
    return text, None


def iter_all_lines(game_root: Path, with_share: bool = True) -> Iterator[Line]:
    """All lines of all levels (and of ``share``), level by level in sorted order."""
    names = levels(game_root) + (
        [SHARE] if with_share and (game_root / "script" / SHARE).is_dir() else []
    )
    for level in names:
        yield from read_level(game_root, level)
