"""TyDiQA-GoldP -> extractive-QA manifests (type ``t2t``): "question </s> context" -> answer.

Input: the SQuAD-1.1-style JSON files of TyDiQA-GoldP (``tydiqa-goldp-v1.1-train.json``,
``tydiqa-goldp-v1.1-dev.json``, or XTREME's per-language ``tydiqa-goldp-dev-<lang>.json``):
``data[].paragraphs[].{context, qas[].{id, question, answers[].{answer_start, text}}}``.
The language is the prefix of the question id (``finnish-1234-0`` -> fi).

Each question becomes ``src_text = "<question> </s> <context>"``, ``tgt_text`` = its first
answer, ``answers`` = every answer as a JSON list (``mu2slam-score qa --manifest`` scores a
prediction by its best answer, as SQuAD's evaluation does), ``src_lang = tgt_lang`` = the
question's language. Whitespace runs become single spaces.

``--max-context-chars N`` bounds the encoder input: a longer training context is cut to
the N-character window (at word boundaries) that holds the first answer; an evaluation
context keeps its first N characters (the answer position is not looked at), and the
summary counts the evaluation answers that fell outside.

Outputs: ``{train,dev,test}_tydiqa.tsv`` for the files given, and one manifest per
language of each evaluation split (``dev_tydiqa_fi.tsv``).
"""

import argparse
import json
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from mu2slam_fairseq.data.pipeline.datasets import SEGMENT_SEPARATOR

from .common import PrepError, Summary, text_problem
from .rows import MT_COLUMNS, pair_row
from .template import Output, Script

COMMAND = "mu2slam-prep-tydiqa"
LANGS = {
    "arabic": "ar",
    "bengali": "bn",
    "english": "en",
    "finnish": "fi",
    "indonesian": "id",
    "japanese": "ja",
    "korean": "ko",
    "russian": "ru",
    "swahili": "sw",
    "telugu": "te",
    "thai": "th",
}
COLUMNS = MT_COLUMNS + ("answers",)
DESCRIPTION = (
    "Make TyDiQA-GoldP extractive-QA manifests (data type t2t: 'question </s> context' -> answer) "
    "{train,dev,test}_tydiqa.tsv and per-language evaluation manifests from its SQuAD-style JSON files."
)


def clean(text: str) -> str:
    return " ".join(text.split())


def window(context: str, start: int, length: int, max_chars: int) -> str:
    """The ``max_chars`` characters of ``context`` around [start, start + length), cut at spaces."""
    if len(context) <= max_chars:
        return context
    lo = max(0, min(start - (max_chars - length) // 2, len(context) - max_chars))
    hi = lo + max_chars
    if lo > 0:
        space = context.find(" ", lo, start) if start > lo else -1
        lo = space + 1 if space >= 0 else lo
    if hi < len(context):
        space = context.rfind(" ", start + length, hi)
        hi = space if space >= 0 else hi
    return context[lo:hi]


def head(context: str, max_chars: int) -> str:
    """The first ``max_chars`` characters, cut at the last space."""
    if len(context) <= max_chars:
        return context
    cut = context.rfind(" ", 0, max_chars + 1)
    return context[: cut if cut > 0 else max_chars]


def question_rows(
    path: Path, train: bool, langs: Optional[Sequence[str]], max_chars: int, summary: Summary
) -> List[Dict[str, str]]:
    """Manifest rows of every question of one TyDiQA-GoldP JSON file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))["data"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise PrepError(f"{path}: not a SQuAD-style JSON file with a data list ({e})") from None
    rows, outside = [], 0
    for article in data:
        for paragraph in article.get("paragraphs", []):
            context = paragraph.get("context", "")
            for qa in paragraph.get("qas", []):
                qid = str(qa.get("id", ""))
                lang = LANGS.get(qid.split("-", 1)[0])
                if lang is None:
                    summary.drop(
                        "question id without a TyDiQA language prefix", f"{path.name}: {qid}"
                    )
                    continue
                if langs is not None and lang not in langs:
                    continue
                answers = [a for a in qa.get("answers", []) if clean(a.get("text", ""))]
                if not answers:
                    summary.drop("question without an answer", f"{path.name}: {qid}")
                    continue
                text = context
                if max_chars:
                    if train:
                        first = answers[0]
                        text = window(
                            context,
                            int(first.get("answer_start", 0)),
                            len(first["text"]),
                            max_chars,
                        )
                    else:
                        text = head(context, max_chars)
                        outside += all(clean(a["text"]) not in clean(text) for a in answers)
                question, text = clean(qa.get("question", "")), clean(text)
                problem = text_problem(question) or text_problem(text)
                if problem or SEGMENT_SEPARATOR in question + text:
                    summary.drop(
                        problem or f"{SEGMENT_SEPARATOR} inside a text", f"{path.name}: {qid}"
                    )
                    continue
                golds = [clean(a["text"]) for a in answers]
                row = pair_row(qid, f"{question} {SEGMENT_SEPARATOR} {text}", golds[0], lang, lang)
                rows.append({**row, "answers": json.dumps(golds, ensure_ascii=False)})
    if outside:
        summary.note(
            f"{path.name}: {outside} answer(s) lie beyond the first {max_chars} context characters"
        )
    return rows


def prepare(args: argparse.Namespace, out: Output) -> None:
    langs = [x for x in args.langs.split(",") if x] if args.langs else None
    for split in ("train", "dev", "test"):
        paths = getattr(args, split)
        if not paths:
            continue
        train, max_chars = split == "train", args.max_context_chars
        rows = [r for p in paths for r in question_rows(p, train, langs, max_chars, out.summary)]
        out.write(rows, COLUMNS, split, "tydiqa")
        if split != "train":
            for lang in sorted({r["src_lang"] for r in rows}):
                out.write(
                    [r for r in rows if r["src_lang"] == lang], COLUMNS, split, "tydiqa", lang
                )


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--train", type=Path, nargs="+", default=[], help="training JSON file(s)")
    parser.add_argument("--dev", type=Path, nargs="+", default=[], help="development JSON file(s)")
    parser.add_argument("--test", type=Path, nargs="+", default=[], help="test JSON file(s)")
    parser.add_argument(
        "--langs", default=None, help="keep these languages only (comma-separated ISO codes)"
    )
    parser.add_argument(
        "--max-context-chars",
        type=int,
        default=0,
        help="bound contexts to N characters (training: the window holding the answer; 0: no bound)",
    )


def check(args: argparse.Namespace) -> Optional[str]:
    given = args.train or args.dev or args.test
    return None if given else "give at least one of --train, --dev, --test"


main = Script(COMMAND, DESCRIPTION, arguments, prepare, speech=False, check=check).main


if __name__ == "__main__":
    raise SystemExit(main())
