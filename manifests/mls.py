"""Multilingual LibriSpeech -> ASR manifests.

Input: one or more ``mls_<language>`` folders (``mls_<language>_opus`` for the Opus
release), each with ``{train,dev,test}/transcripts.txt`` (``<id>\\t<text>``, no header;
texts are lowercase without punctuation and are copied as they are) and
``{split}/audio/<speaker>/<book>/<speaker>_<book>_<segment>.flac`` (or ``.opus``).
``<language>`` is an English name; manifests and rows use its ISO 639-1 code instead
(german -> de, dutch -> nl, french -> fr, spanish -> es, italian -> it, portuguese -> pt,
polish -> pl, english -> en), so MLS joins the other corpora's codes.

Outputs: ``{train,dev,test}_asr_<code>.tsv``; the speaker is the id's first field.
"""

import argparse
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from .common import PrepError, read_tsv, text_problem
from .rows import SPEECH_COLUMNS, asr_row
from .template import Output, Pending, Script

COMMAND = "mu2slam-prep-mls"
LANGUAGE_CODES = {
    "german": "de",
    "dutch": "nl",
    "french": "fr",
    "spanish": "es",
    "italian": "it",
    "portuguese": "pt",
    "polish": "pl",
    "english": "en",
}
SPLITS = ("train", "dev", "test")
DESCRIPTION = (
    "Make Multilingual LibriSpeech ASR manifests {train,dev,test}_asr_<code>.tsv. ROOT is an "
    "mls_<language> folder (or mls_<language>_opus) or a folder holding several; each has "
    "<split>/transcripts.txt and <split>/audio/<speaker>/<book>/*.flac. The English language "
    "names become ISO 639-1 codes: "
    + ", ".join(f"{k} -> {v}" for k, v in LANGUAGE_CODES.items())
    + "."
)


def parse_folder(name: str) -> Optional[Tuple[str, str]]:
    """``('german', '.flac')`` for ``mls_german``, ``('german', '.opus')`` for ``mls_german_opus``."""
    if not name.startswith("mls_"):
        return None
    language, ext = name[len("mls_") :], ".flac"
    if language.endswith("_opus"):
        language, ext = language[: -len("_opus")], ".opus"
    return (language, ext) if language in LANGUAGE_CODES else None


def find_folders(root: Path, langs: Optional[Sequence[str]]) -> List[Tuple[Path, str, str]]:
    """``[(folder, code, extension)]`` under ``root`` (or ``root`` itself), filtered by ``langs``
    (English names or codes)."""
    candidates = (
        [root] if parse_folder(root.name) else sorted(p for p in root.iterdir() if p.is_dir())
    )
    found = []
    for folder in candidates:
        parsed = parse_folder(folder.name)
        if parsed is None:
            continue
        language, ext = parsed
        code = LANGUAGE_CODES[language]
        if not langs or language in langs or code in langs:
            found.append((folder, code, ext))
    if not found:
        raise PrepError(
            f"no mls_<language> folder{' for ' + ' '.join(langs) if langs else ''} at {root}"
        )
    return found


def audio_path(split_dir: Path, uid: str, ext: str) -> Path:
    speaker, book, _ = uid.split("_", 2)
    return split_dir / "audio" / speaker / book / f"{uid}{ext}"


def prepare(args: argparse.Namespace, out: Output) -> None:
    plans = []  # (pending rows, columns, split, task, language)
    clips: Dict[str, Path] = {}
    for folder, code, ext in find_folders(args.root, args.langs):
        for split in SPLITS:
            transcripts = folder / split / "transcripts.txt"
            if not transcripts.exists():
                out.note(f"{folder.name}: no {split}/transcripts.txt")
                continue
            pending, seen = [], set()
            for r in read_tsv(transcripts, out.summary, columns=("id", "text")):
                uid = r["id"]
                if uid.count("_") < 2:
                    out.drop("id is not <speaker>_<book>_<segment>", f"{transcripts}:{r.line}")
                elif uid in seen:
                    out.drop("duplicate id", f"{transcripts}:{r.line}")
                else:
                    seen.add(uid)
                    clips[f"{code}/{uid}"] = audio_path(folder / split, uid, ext)
                    row = asr_row(uid, r["text"], code, uid.split("_", 1)[0])
                    pending.append(Pending(f"{code}/{uid}", uid, row, text_problem(r["text"])))
            plans.append((pending, SPEECH_COLUMNS, split, "asr", code))
    out.write_speech(clips, "segments", plans)


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--root",
        type=Path,
        required=True,
        help="an mls_<language> folder or a folder holding several",
    )
    parser.add_argument(
        "--langs",
        nargs="+",
        metavar="LANG",
        help="languages to use, as names (german) or codes (de)",
    )


main = Script(COMMAND, DESCRIPTION, arguments, prepare).main


if __name__ == "__main__":
    raise SystemExit(main())
