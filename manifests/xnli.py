"""XNLI -> text-classification manifests (type ``t2t``): "premise </s> hypothesis" -> label.

Input, as the corpora unpack:

- ``XNLI-1.0/xnli.{dev,test}.tsv``: tab-separated, a 19-column header; the columns used are
  ``language gold_label sentence1 sentence2 pairID`` (selected by name);
- optionally the machine-translated MultiNLI training data, ``XNLI-MT-1.0/multinli/
  multinli.train.<lang>.tsv``: header ``premise hypo label``, label ``contradictory`` for
  what XNLI calls ``contradiction``.

Each row becomes ``src_text = "<premise> </s> <hypothesis>"`` (the t2t data type encodes
the two segments apart and joins them with the end-of-sequence symbol) and ``tgt_text`` =
the label word (``entailment``, ``neutral``, ``contradiction``) in ``--label-lang``
(English by default, so one output vocabulary serves every input language);
``src_lang`` is the row's language. Whitespace runs become single spaces.

Outputs: ``train_xnli.tsv`` (``--train-langs en`` is the zero-shot setting, ``all`` the
translate-train-all one), ``{dev,test}_xnli.tsv`` with every ``--langs`` language and
``{dev,test}_xnli_<lang>.tsv`` per language (score each with ``mu2slam-score accuracy``).
"""

import argparse
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from mu2slam_fairseq.data.datasets import SEGMENT_SEPARATOR

from .common import (
    Options,
    PrepError,
    Summary,
    add_output_args,
    finish,
    manifest_name,
    options_from,
    read_tsv,
    run,
    text_problem,
    write_speech,
)
from .rows import MT_COLUMNS

COMMAND = "mu2slam-prep-xnli"
LANGS = "ar bg de el en es fr hi ru sw th tr ur vi zh".split()
LABELS = ("entailment", "neutral", "contradiction")
LABEL_ALIASES = {"contradictory": "contradiction"}
EVAL_COLUMNS = ("language", "gold_label", "sentence1", "sentence2", "pairID")
TRAIN_COLUMNS = ("premise", "hypo", "label")


def clean(text: str) -> str:
    return " ".join(text.split())


def pair_row(
    row_id: str,
    premise: str,
    hypothesis: str,
    label: str,
    lang: str,
    label_lang: str,
    summary: Summary,
    where: str,
) -> Optional[Dict[str, str]]:
    """One manifest row, or None (counted in the summary) when the pair cannot be used."""
    label = LABEL_ALIASES.get(label.strip(), label.strip())
    if label not in LABELS:
        summary.drop(f"label not one of {', '.join(LABELS)}", where)
        return None
    premise, hypothesis = clean(premise), clean(hypothesis)
    for text in (premise, hypothesis):
        problem = text_problem(text)
        if problem:
            summary.drop(problem, where)
            return None
        if SEGMENT_SEPARATOR in text:
            summary.drop(f"{SEGMENT_SEPARATOR} inside a text", where)
            return None
    return {
        "id": row_id,
        "audio": "",
        "n_frames": "",
        "src_text": f"{premise} {SEGMENT_SEPARATOR} {hypothesis}",
        "tgt_text": label,
        "src_lang": lang,
        "tgt_lang": label_lang,
    }


def eval_rows(
    path: Path, langs: Sequence[str], label_lang: str, summary: Summary
) -> Dict[str, List[Dict[str, str]]]:
    """{language: rows} of ``xnli.dev.tsv`` or ``xnli.test.tsv``."""
    out: Dict[str, List[Dict[str, str]]] = {lang: [] for lang in langs}
    for r in read_tsv(path, summary, required=EVAL_COLUMNS):
        lang = r["language"]
        if lang not in out:
            continue
        row = pair_row(
            f"{lang}-{r['pairID']}",
            r["sentence1"],
            r["sentence2"],
            r["gold_label"],
            lang,
            label_lang,
            summary,
            f"{path.name}:{r.line}",
        )
        if row is not None:
            out[lang].append(row)
    return out


def train_rows(
    folder: Path, langs: Sequence[str], label_lang: str, limit: Optional[int], summary: Summary
) -> List[Dict[str, str]]:
    """Rows of ``multinli.train.<lang>.tsv`` for each language (at most ``limit`` each)."""
    rows = []
    for lang in langs:
        path = folder / f"multinli.train.{lang}.tsv"
        if not path.exists():
            raise PrepError(
                f"{path} not found (the XNLI-MT-1.0 multinli folder holds multinli.train.<lang>.tsv)"
            )
        kept = 0
        for r in read_tsv(path, summary, required=TRAIN_COLUMNS):
            if limit is not None and kept >= limit:
                break
            row = pair_row(
                f"{lang}-{r.line}",
                r["premise"],
                r["hypo"],
                r["label"],
                lang,
                label_lang,
                summary,
                f"{path.name}:{r.line}",
            )
            if row is not None:
                rows.append(row)
                kept += 1
    return rows


def prepare(
    xnli: Optional[Path],
    mt: Optional[Path],
    langs: Sequence[str],
    train_langs: Sequence[str],
    label_lang: str,
    limit: Optional[int],
    opts: Options,
) -> Summary:
    summary = Summary(COMMAND, opts.out)
    if mt is not None:
        write_speech(
            manifest_name("train", "xnli"),
            train_rows(mt, train_langs, label_lang, limit, summary),
            MT_COLUMNS,
            opts,
            summary,
        )
    if xnli is not None:
        for split in ("dev", "test"):
            path = xnli / f"xnli.{split}.tsv"
            if not path.exists():
                raise PrepError(
                    f"{path} not found (the XNLI-1.0 folder holds xnli.dev.tsv and xnli.test.tsv)"
                )
            by_lang = eval_rows(path, langs, label_lang, summary)
            write_speech(
                manifest_name(split, "xnli"),
                [r for lang in langs for r in by_lang[lang]],
                MT_COLUMNS,
                opts,
                summary,
            )
            for lang in langs:
                write_speech(
                    manifest_name(split, "xnli", lang), by_lang[lang], MT_COLUMNS, opts, summary
                )
    return summary


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog=COMMAND,
        description="Make XNLI classification manifests (data type t2t: 'premise </s> hypothesis' -> label): "
        "train_xnli.tsv from XNLI-MT's multinli.train.<lang>.tsv, {dev,test}_xnli.tsv and "
        "{dev,test}_xnli_<lang>.tsv from XNLI-1.0's xnli.{dev,test}.tsv.",
    )
    parser.add_argument(
        "--xnli", type=Path, help="the XNLI-1.0 folder (xnli.dev.tsv, xnli.test.tsv)"
    )
    parser.add_argument(
        "--mt", type=Path, help="XNLI-MT-1.0's multinli folder (multinli.train.<lang>.tsv)"
    )
    parser.add_argument(
        "--langs",
        default=",".join(LANGS),
        help="evaluation languages, comma-separated (default: all 15)",
    )
    parser.add_argument(
        "--train-langs",
        default="en",
        help="training languages: en (zero-shot, default), a comma-separated list, or all (translate-train-all)",
    )
    parser.add_argument(
        "--label-lang", default="en", help="language tag of the label words (default: en)"
    )
    parser.add_argument(
        "--limit", type=int, default=None, help="at most this many training pairs per language"
    )
    add_output_args(parser, speech=False)
    args = parser.parse_args(argv)
    if args.xnli is None and args.mt is None:
        parser.error("give --xnli and/or --mt")
    langs = [x for x in args.langs.split(",") if x]
    train_langs = (
        LANGS if args.train_langs == "all" else [x for x in args.train_langs.split(",") if x]
    )
    opts = options_from(args)
    return run(
        COMMAND,
        lambda: finish(
            prepare(args.xnli, args.mt, langs, train_langs, args.label_lang, args.limit, opts), opts
        ),
    )


if __name__ == "__main__":
    raise SystemExit(main())
