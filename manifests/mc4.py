"""mC4-style JSON lines -> unlabeled text manifests, one per language and split.

Input: files named like mC4's, ``c4-<lang>.tfrecord-<i>-of-<n>.json.gz`` (training) and
``c4-<lang>-validation.tfrecord-<i>-of-<n>.json.gz`` (validation), gzipped JSON lines with
keys ``text``, ``timestamp`` and ``url``; folders given as inputs are searched for them.
Language codes are mC4's own (``iw``, ``fil``, ``und``, ``ru-Latn``, ...).

A document holds many lines (paragraphs, headings, list items) separated by ``\\n``: each
line becomes one row, since one row is one training text and the masking treats a row as
one sequence. ``\\r\\n`` and a lone ``\\r`` also end a line. Blank lines are separators and
give no row. With ``--sentences`` a line is further cut after sentence-final punctuation
(``. ! ? …`` followed by white space, or ``。！？`` anywhere); the white space at a cut is the
only thing removed. Otherwise texts are copied unchanged; a line holding a tab, or shorter
than ``--min-chars``, is dropped and counted.

Outputs: ``train_text_<lang>.tsv`` and ``dev_text_<lang>.tsv`` (from the validation files),
with ids ``<shard>_<document>_<line>[_<sentence>]`` (numbers from 0, shard from the file name).
"""

import argparse
import json
import re
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

from .common import TAB_IN_TEXT, PrepError, iter_lines, open_binary
from .rows import TEXT_COLUMNS, text_row
from .template import Output, Script

COMMAND = "mu2slam-prep-mc4"
FILE_NAME = re.compile(
    r"^c4-(?P<lang>.+?)(?P<validation>-validation)?\.tfrecord-(?P<shard>\d+)-of-(?P<shards>\d+)\.json(?:\.gz)?$"
)
LINE_BREAK = re.compile(r"\r\n|\r|\n")
SENTENCE_END = re.compile(r"(?<=[.!?\u2026])\s+|(?<=[\u3002\uff01\uff1f])\s*")
DESCRIPTION = (
    "Make unlabeled text manifests train_text_<lang>.tsv and dev_text_<lang>.tsv from mC4-style "
    "files c4-<lang>[-validation].tfrecord-<i>-of-<n>.json.gz (gzipped JSON lines with a 'text' key). "
    "Each line of a document becomes one row (blank lines give none); --sentences cuts lines "
    "further at sentence-final punctuation."
)


def parse_name(path: Path) -> Optional[Tuple[str, str, int]]:
    """``(lang, split, shard)`` of an mC4 file name, or None."""
    m = FILE_NAME.match(path.name)
    if m is None:
        return None
    return m.group("lang"), "dev" if m.group("validation") else "train", int(m.group("shard"))


def find_files(
    inputs: Sequence[Path], langs: Optional[Sequence[str]]
) -> Dict[Tuple[str, str], List[Tuple[int, Path]]]:
    """``{(split, lang): [(shard, file)]}`` in shard order."""
    files: Dict[Tuple[str, str], List[Tuple[int, Path]]] = {}
    for given in inputs:
        if given.is_dir():
            paths = sorted(p for p in given.rglob("c4-*.json*") if parse_name(p))
        elif given.exists():
            paths = [given]
        else:
            raise PrepError(f"{given} does not exist")
        for p in paths:
            parsed = parse_name(p)
            if parsed is None:
                raise PrepError(
                    f"{p.name} is not named like an mC4 file (c4-<lang>[-validation].tfrecord-<i>-of-<n>.json.gz)"
                )
            lang, split, shard = parsed
            if not langs or lang in langs:
                files.setdefault((split, lang), []).append((shard, p))
    if not files:
        raise PrepError(
            "no mC4 files" + (f" for {' '.join(langs)}" if langs else "") + " in the inputs"
        )
    return {k: sorted(set(v)) for k, v in sorted(files.items())}


def split_document(text: str, sentences: bool) -> Iterator[Tuple[str, str]]:
    """``(id suffix, text)`` for each non-blank line (or sentence) of a document."""
    for i, line in enumerate(LINE_BREAK.split(text)):
        if not line.strip():
            continue
        if not sentences:
            yield str(i), line
            continue
        pieces = [p for p in SENTENCE_END.split(line) if p.strip()]
        for j, piece in enumerate(pieces):
            yield f"{i}_{j}", piece


def prepare(args: argparse.Namespace, out: Output) -> None:
    max_lines = args.max_lines
    for (split, lang), shards in find_files(args.inputs, args.langs).items():
        with out.stream(TEXT_COLUMNS, split, "text", lang) as manifest:
            full = lambda: max_lines is not None and manifest.stats.rows >= max_lines  # noqa: E731
            for shard, path in shards:
                if full():
                    break
                with open_binary(path) as f:
                    for doc, raw in out.progress(iter_lines(f), path.name, unit="doc"):
                        if full():
                            break
                        try:
                            text = json.loads(raw)["text"] if raw is not None else None
                        except (ValueError, KeyError, TypeError):
                            text = None
                        if not isinstance(text, str):
                            out.drop("document is not JSON with a text field", f"{path.name}:{doc}")
                            continue
                        for suffix, line in split_document(text, args.sentences):
                            if full():
                                break
                            if "\t" in line:
                                out.drop(TAB_IN_TEXT, f"{path.name}:{doc}")
                            elif len(line) < args.min_chars:
                                out.drop("shorter than --min-chars", f"{path.name}:{doc}")
                            else:
                                manifest.write(text_row(f"{shard}_{doc - 1}_{suffix}", line, lang))
            if full():
                out.note(
                    f"{manifest.path.name}: reached --max-lines {max_lines}; the rest was not read"
                )


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "inputs", nargs="+", type=Path, metavar="PATH", help="mC4 files, or folders holding them"
    )
    parser.add_argument(
        "--langs", nargs="+", metavar="LANG", help="mC4 language codes to keep (default: all found)"
    )
    parser.add_argument(
        "--sentences", action="store_true", help="one row per sentence instead of per line"
    )
    parser.add_argument(
        "--min-chars",
        type=int,
        default=1,
        metavar="N",
        help="drop rows shorter than N characters (default: 1)",
    )
    parser.add_argument(
        "--max-lines",
        type=int,
        metavar="N",
        help="stop a language's split after N rows (mC4 is large)",
    )


main = Script(COMMAND, DESCRIPTION, arguments, prepare, speech=False).main


if __name__ == "__main__":
    raise SystemExit(main())
