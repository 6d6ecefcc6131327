"""Parallel text -> MT manifests: WMT-style aligned files, and TED-style multi-language TSVs.

``aligned``: ``PREFIX.<src>`` and ``PREFIX.<tgt>`` (optionally ``.gz``), UTF-8, one segment
per line, line i of one the translation of line i of the other. Lines are split on
``\\n`` only: a stray ``\\r`` or U+2028 inside a segment (WMT web-crawled data has them)
would make Python's text mode see extra lines and shift every later pair. Files with
different line counts are refused before anything is written. A pair with an empty side,
or a side that still holds a tab or ``\\r``, is dropped and counted. Ids are
``<prefix name>_<line number>``.

``ted``: ``all_talks_{train,dev,test}.tsv`` with a header ``talk_name`` followed by one
column per language (``en``, ``pt-br``, ``zh-cn``, ...; kept as the codes), no quoting.
A missing translation is written ``__NULL__`` or ``_ _ NULL _ _`` (the pre-tokenized
form); those pairs are dropped and counted. The text is pre-tokenized and stays so. Ids
are ``<talk_name>_<line number>``.

Outputs: ``<split>_mt_<src>_<tgt>.tsv`` (``src_text``/``tgt_text``, ``src_lang``/``tgt_lang``).
"""

import argparse
from pathlib import Path
from typing import List, Optional

from .common import (
    NOT_UTF8,
    PrepError,
    StreamingManifest,
    iter_lines,
    manifest_name,
    open_binary,
    read_tsv,
    text_problem,
)
from .rows import MT_COLUMNS, Row, pair_row
from .template import Output, Script

COMMAND = "mu2slam-prep-parallel"
NULL_MARKERS = ("__NULL__", "_ _ NULL _ _")
TED_SPLITS = ("train", "dev", "test")
DESCRIPTION = (
    "Make MT manifests <split>_mt_<src>_<tgt>.tsv from parallel text: 'aligned' reads "
    "WMT-style line-aligned files PREFIX.<src>/PREFIX.<tgt>; 'ted' reads TED-style "
    "all_talks_<split>.tsv tables with one column per language."
)


def _side_file(prefix: Path, lang: str) -> Path:
    plain = Path(f"{prefix}.{lang}")
    gz = Path(f"{plain}.gz")
    if plain.exists():
        return plain
    if gz.exists():
        return gz
    raise PrepError(f"neither {plain} nor {gz} exists")


def _count_lines(path: Path) -> int:
    with open_binary(path) as f:
        return sum(1 for _ in f)


def pair_problem(src: Optional[str], tgt: Optional[str]) -> Optional[str]:
    """Why a (source, target) pair cannot be written unchanged, or None."""
    for side, text in (("source", src), ("target", tgt)):
        if text is None:
            return f"{side}: {NOT_UTF8}"
        problem = text_problem(text)
        if problem:
            return f"{side}: {problem}"
    return None


def write_pair(out: Output, manifest: StreamingManifest, row: Row, where: str) -> None:
    """Write a pair, or drop it (named by ``where``) when a side cannot be written unchanged."""
    problem = pair_problem(row["src_text"], row["tgt_text"])
    if problem:
        out.drop(problem, where)
    else:
        manifest.write(row)


def prepare_aligned(args: argparse.Namespace, out: Output) -> None:
    src, tgt = args.src_lang, args.tgt_lang
    files = []
    for split, prefix in args.split:
        prefix = Path(prefix)
        manifest_name(split, "mt", src, tgt)  # a bad split name fails before anything is written
        src_file, tgt_file = _side_file(prefix, src), _side_file(prefix, tgt)
        n_src, n_tgt = _count_lines(src_file), _count_lines(tgt_file)
        if n_src != n_tgt:
            raise PrepError(
                f"{src_file} has {n_src} lines but {tgt_file} has {n_tgt}: the files are not aligned"
            )
        files.append((split, prefix, src_file, tgt_file, n_src))
    for split, prefix, src_file, tgt_file, n in files:
        with (
            out.stream(MT_COLUMNS, split, "mt", src, tgt) as manifest,
            open_binary(src_file) as fs,
            open_binary(tgt_file) as ft,
        ):
            pairs = zip(iter_lines(fs), iter_lines(ft))
            for (number, s), (_, t) in out.progress(pairs, prefix.name, total=n, unit="pair"):
                row = pair_row(f"{prefix.name}_{number}", s, t, src, tgt)
                write_pair(out, manifest, row, f"{prefix.name}:{number}")


def prepare_ted(args: argparse.Namespace, out: Output) -> None:
    root, tgt = args.root, args.tgt_lang
    found = [s for s in TED_SPLITS if (root / f"all_talks_{s}.tsv").exists()]
    if not found:
        raise PrepError(f"no all_talks_{{train,dev,test}}.tsv in {root}")
    for split in found:
        tsv = root / f"all_talks_{split}.tsv"
        rows = read_tsv(tsv, out.summary, required=("talk_name", tgt, *args.src_langs))
        for src in args.src_langs:
            if src == tgt:
                continue
            with out.stream(MT_COLUMNS, split, "mt", src, tgt) as manifest:
                for r in out.progress(rows, f"{split} {src}-{tgt}", unit="pair"):
                    s, t = r[src], r[tgt]
                    if s.strip() in NULL_MARKERS or t.strip() in NULL_MARKERS:
                        out.drop("no translation (NULL marker)", f"{tsv.name}:{r.line}")
                        continue
                    row = pair_row(f"{r['talk_name']}_{r.line}", s, t, src, tgt)
                    write_pair(out, manifest, row, f"{tsv.name}:{r.line}")


def prepare(args: argparse.Namespace, out: Output) -> None:
    (prepare_aligned if args.format == "aligned" else prepare_ted)(args, out)


def arguments(parser: argparse.ArgumentParser) -> List[argparse.ArgumentParser]:
    sub = parser.add_subparsers(dest="format", required=True)
    aligned = sub.add_parser(
        "aligned",
        help="line-aligned files PREFIX.<src> and PREFIX.<tgt>",
        description="Line-aligned files PREFIX.<src> and PREFIX.<tgt> (plain or .gz), one segment per line. "
        "Files with different line counts are refused. Example: aligned --src-lang de --tgt-lang en "
        "--split train wmt14/train --split test wmt14/newstest2014 --out data",
    )
    aligned.add_argument(
        "--src-lang", required=True, help="source language code, also the source files' suffix"
    )
    aligned.add_argument(
        "--tgt-lang", required=True, help="target language code, also the target files' suffix"
    )
    aligned.add_argument(
        "--split",
        nargs=2,
        action="append",
        required=True,
        metavar=("SPLIT", "PREFIX"),
        help="a split name (starting with train, dev or test) and the files' common prefix; repeatable",
    )
    ted = sub.add_parser(
        "ted",
        help="TED-style all_talks_<split>.tsv",
        description="TED-style tables all_talks_{train,dev,test}.tsv: header talk_name then one column per "
        "language; __NULL__ or '_ _ NULL _ _' marks a missing translation (such pairs are dropped).",
    )
    ted.add_argument(
        "--root", type=Path, required=True, help="folder holding all_talks_<split>.tsv"
    )
    ted.add_argument(
        "--src-langs",
        nargs="+",
        required=True,
        metavar="LANG",
        help="source language columns, e.g. pt-br de",
    )
    ted.add_argument("--tgt-lang", default="en", help="target language column (default: en)")
    return [aligned, ted]


main = Script(COMMAND, DESCRIPTION, arguments, prepare, speech=False).main


if __name__ == "__main__":
    raise SystemExit(main())
