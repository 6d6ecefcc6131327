"""Tiny XNLI and TyDiQA-GoldP inputs in the corpora's own layouts (CORPUS_FORMATS.md).

XNLI-1.0 ``xnli.{dev,test}.tsv``: tab-separated, 19-column header, parses and annotator
labels included, no quoting (a text holds an unbalanced ``"``). XNLI-MT-1.0
``multinli/multinli.train.<lang>.tsv``: header ``premise hypo label`` with the label
``contradictory``. TyDiQA-GoldP: SQuAD-1.1 JSON, the language as the question-id prefix.
"""

import json
from pathlib import Path
from typing import Dict, List

XNLI_HEADER = (
    "language gold_label sentence1_binary_parse sentence2_binary_parse sentence1_parse sentence2_parse "
    "sentence1 sentence2 promptID pairID genre label1 label2 label3 label4 label5 sentence1_tokenized "
    "sentence2_tokenized match"
).split()
PAIRS = {
    "en": [
        ("The cat sleeps on the mat.", "A cat is sleeping.", "entailment"),
        ("The cat sleeps on the mat.", "The cat is running outside.", "contradiction"),
        ("He bought a red car.", "He likes red things.", "neutral"),
        ('She said "hello to everyone.', "She greeted people.", "entailment"),
    ],
    "de": [
        ("Die Katze schläft auf der Matte.", "Eine Katze schläft.", "entailment"),
        ("Die Katze schläft auf der Matte.", "Die Katze rennt draußen.", "contradiction"),
        ("Er kaufte ein rotes Auto.", "Er mag rote Dinge.", "neutral"),
    ],
    "fr": [
        ("Le chat dort sur le tapis.", "Un chat dort.", "entailment"),
        ("Le chat dort sur le tapis.", "Le chat court dehors.", "contradiction"),
    ],
}


def write_xnli(root: Path) -> Dict[str, Path]:
    """XNLI-1.0/xnli.{dev,test}.tsv and XNLI-MT-1.0/multinli/multinli.train.{en,de}.tsv."""
    xnli, mt = root / "XNLI-1.0", root / "XNLI-MT-1.0" / "multinli"
    xnli.mkdir(parents=True)
    mt.mkdir(parents=True)
    for split in ("dev", "test"):
        lines = ["\t".join(XNLI_HEADER)]
        for lang, pairs in PAIRS.items():
            for i, (p, h, label) in enumerate(pairs):
                parse = f"( ( {p} ) )"
                fields = [
                    lang,
                    label,
                    parse,
                    f"( {h} )",
                    f"(ROOT (S {p}))",
                    f"(ROOT (S {h}))",
                    p,
                    h,
                    str(100 + i),
                    f"{split}{i}",
                    "fiction",
                    label,
                    label,
                    "neutral",
                    label,
                    label,
                    p.replace(".", " ."),
                    h.replace(".", " ."),
                    "True",
                ]
                assert len(fields) == 19
                lines.append("\t".join(fields))
        lines.append(
            "\t".join(
                ["sw", "neutral"]
                + ["x"] * 4
                + ["Paka analala.", "Paka yupo.", "1", "sw0", "fiction"]
                + ["neutral"] * 5
                + ["x", "x", "True"]
            )
        )
        (xnli / f"xnli.{split}.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    for lang in ("en", "de"):
        lines = ["premise\thypo\tlabel"]
        for p, h, label in PAIRS[lang] * 3:
            lines.append(f"{p}\t{h}\t{'contradictory' if label == 'contradiction' else label}")
        (mt / f"multinli.train.{lang}.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {"xnli": xnli, "mt": mt}


QA = [
    (
        "english-1001-0",
        "The Eiffel Tower stands in Paris. It was finished in 1889 and is 330 metres tall.",
        "Where does the Eiffel Tower stand?",
        ["Paris"],
    ),
    (
        "english-1002-0",
        "The Eiffel Tower stands in Paris. It was finished in 1889 and is 330 metres tall.",
        "When was the tower finished?",
        ["1889", "in 1889"],
    ),
    (
        "finnish-2001-0",
        "Helsinki on Suomen pääkaupunki. Se sijaitsee Suomenlahden rannalla.",
        "Mikä on Suomen pääkaupunki?",
        ["Helsinki"],
    ),
    (
        "finnish-2002-0",
        "Helsinki on Suomen pääkaupunki. Se sijaitsee Suomenlahden rannalla.",
        "Missä Helsinki sijaitsee?",
        ["Suomenlahden rannalla"],
    ),
]


def tydiqa_json(items: List[tuple]) -> str:
    """SQuAD-1.1 layout: one article per context, answer_start into the context."""
    articles: Dict[str, List] = {}
    for qid, context, question, answers in items:
        qas = articles.setdefault(context, [])
        qas.append(
            {
                "id": qid,
                "question": question,
                "answers": [{"answer_start": context.index(a), "text": a} for a in answers],
            }
        )
    data = [
        {"title": f"t{i}", "paragraphs": [{"context": c, "qas": q}]}
        for i, (c, q) in enumerate(articles.items())
    ]
    return json.dumps(
        {"version": "TyDiQA-GoldP-1.1-for-SQuAD-1.1", "data": data}, ensure_ascii=False, indent=1
    )


def write_tydiqa(root: Path) -> Dict[str, Path]:
    root.mkdir(parents=True, exist_ok=True)
    train, dev = root / "tydiqa-goldp-v1.1-train.json", root / "tydiqa-goldp-v1.1-dev.json"
    repeats = [(f"{qid[:-1]}{k}", c, q, a) for k in range(1, 4) for qid, c, q, a in QA]
    train.write_text(tydiqa_json(repeats), encoding="utf-8")
    dev.write_text(tydiqa_json(QA), encoding="utf-8")
    return {"train": train, "dev": dev}
