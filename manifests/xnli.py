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

from mu2slam_fairseq.data.pipeline.datasets import SEGMENT_SEPARATOR

from .common import PrepError, Summary, read_tsv, text_problem
from .rows import MT_COLUMNS, pair_row
from .template import Output, Script

COMMAND = "mu2slam-prep-xnli"
LANGS = "ar bg de el en es fr hi ru sw th tr ur vi zh".split()
LABELS = ("entailment", "neutral", "contradiction")
LABEL_ALIASES = {"contradictory": "contradiction"}
EVAL_COLUMNS = ("language", "gold_label", "sentence1", "sentence2", "pairID")
TRAIN_COLUMNS = ("premise", "hypo", "label")
DESCRIPTION = (
    "Make XNLI classification manifests (data type t2t: 'premise </s> hypothesis' -> label): "
    "train_xnli.tsv from XNLI-MT's multinli.train.<lang>.tsv, {dev,test}_xnli.tsv and "
    "{dev,test}_xnli_<lang>.tsv from XNLI-1.0's xnli.{dev,test}.tsv."
)


def clean(text: str) -> str:
    return " ".join(text.split())


def nli_row(
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
    return pair_row(row_id, f"{premise} {SEGMENT_SEPARATOR} {hypothesis}", label, lang, label_lang)


def eval_rows(
    path: Path, langs: Sequence[str], label_lang: str, summary: Summary
) -> Dict[str, List[Dict[str, str]]]:
    """{language: rows} of ``xnli.dev.tsv`` or ``xnli.test.tsv``."""
    out: Dict[str, List[Dict[str, str]]] = {lang: [] for lang in langs}
    for r in read_tsv(path, summary, required=EVAL_COLUMNS):
        lang = r["language"]
        if lang not in out:
            continue
        row = nli_row(
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
            row = nli_row(
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


def prepare(args: argparse.Namespace, out: Output) -> None:
    langs = [x for x in args.langs.split(",") if x]
    train_langs = (
        LANGS if args.train_langs == "all" else [x for x in args.train_langs.split(",") if x]
    )
    if args.mt is not None:
        rows = train_rows(args.mt, train_langs, args.label_lang, args.limit, out.summary)
        out.write(rows, MT_COLUMNS, "train", "xnli")
    if args.xnli is not None:
        for split in ("dev", "test"):
            path = args.xnli / f"xnli.{split}.tsv"
            if not path.exists():
                raise PrepError(
                    f"{path} not found (the XNLI-1.0 folder holds xnli.dev.tsv and xnli.test.tsv)"
                )
            by_lang = eval_rows(path, langs, args.label_lang, out.summary)
            out.write([r for lang in langs for r in by_lang[lang]], MT_COLUMNS, split, "xnli")
            for lang in langs:
                out.write(by_lang[lang], MT_COLUMNS, split, "xnli", lang)


def arguments(parser: argparse.ArgumentParser) -> None:
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


def check(args: argparse.Namespace) -> Optional[str]:
    return "give --xnli and/or --mt" if args.xnli is None and args.mt is None else None


main = Script(COMMAND, DESCRIPTION, arguments, prepare, speech=False, check=check).main


if __name__ == "__main__":
    raise SystemExit(main())
