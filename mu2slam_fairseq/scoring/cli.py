"""``mu2slam-score asr|bleu|accuracy|qa GENERATE_OUTPUT``: scores of a ``fairseq-generate`` run.

    fairseq-generate DATA --user-dir mu2slam_fairseq --task mu2slam_finetune \\
        --data-config xnli.yaml --gen-subset xnli:test_xnli_de --path checkpoint_best.pt > gen.out
    mu2slam-score accuracy gen.out          # accuracy: 71.20 (1784/2505)
    mu2slam-score qa gen.out --manifest DATA/dev_tydiqa.tsv   # F1: .. EM: ..

    mu2slam-score asr gen.out               # WER 41.20 [38.9, 43.6] CER 19.83 [...] distinct 97.5% (n=118)
    mu2slam-score bleu gen.out --baseline scratch.out   # BLEU, and the paired bootstrap against scratch

References are the ``T-`` lines; hypotheses the first ``D-`` line of each sample id. For
QA, ``--manifest`` (the manifest that was generated from, one example per row in row
order, as the prep scripts write them) adds every answer of its ``answers``
column (a JSON list, as ``mu2slam-prep-tydiqa`` writes it), and each prediction counts
with its best answer, as SQuAD's evaluation does.
"""

import argparse
import json
import sys
from pathlib import Path
from typing import List, Optional, Sequence

from ..data.io.manifest import read_manifest
from .corpus_scores import asr_scores, bleu_scores, compare
from .generate_output import Generated, read_generate_output
from .metrics import accuracy, answers_list, normalize_answer, qa_scores


def manifest_answers(path: Path, examples: List[Generated]) -> List[List[str]]:
    """Every answer of each generated example, by sample id = row index of the manifest.

    The ``T-`` lines must agree with the rows' ``tgt_text`` (up to SQuAD normalisation and
    the odd character outside the vocabulary), or the manifest is not the one generated.
    """
    rows = read_manifest(path, required=("id", "tgt_text"))
    if examples and examples[-1].id >= len(rows):
        raise ValueError(
            f"{path} has {len(rows)} rows but the output has sample id {examples[-1].id}"
        )
    out, agree = [], 0
    for ex in examples:
        row = rows[ex.id]
        answers = json.loads(row["answers"]) if row.get("answers") else [row["tgt_text"]]
        if not isinstance(answers, list):
            raise ValueError(f"{path}: line {ex.id + 2}: answers must be a JSON list")
        agree += normalize_answer(row["tgt_text"]) == normalize_answer(ex.reference)
        out.append(answers_list([str(a) for a in answers]))
    if examples and agree < 0.9 * len(examples):
        raise ValueError(
            f"only {agree} of {len(examples)} references equal the tgt_text of their row in {path}: "
            "give the manifest that was generated from"
        )
    return out


def corpus_line(r: dict) -> str:
    """One line of ``asr`` / ``bleu`` scores."""
    parts = []
    for key in ("wer", "cer", "bleu"):
        if key in r:
            ci = f" [{r[key + '_ci'][0]:.1f}, {r[key + '_ci'][1]:.1f}]" if key + "_ci" in r else ""
            p = (
                f" (p={r[key + '_p_value']:.4f} against the baseline)"
                if key + "_p_value" in r
                else ""
            )
            parts.append(f"{key.upper()} {r[key]:.2f}{ci}{p}")
    return " ".join(parts) + f" distinct {r['distinct']:.1f}% (n={r['n']})"


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "metric",
        choices=["asr", "bleu", "accuracy", "qa"],
        help="asr (WER and CER with bootstrap 95%% intervals), bleu (sacreBLEU), accuracy "
        "(classification) or qa (F1/EM); asr and bleu also give the share of distinct hypotheses",
    )
    p.add_argument(
        "output", type=Path, help="fairseq-generate output (stdout or --results-path file)"
    )
    p.add_argument(
        "--manifest", type=Path, default=None, help="qa: the generated manifest, for all answers"
    )
    p.add_argument(
        "--baseline",
        type=Path,
        default=None,
        help="asr, bleu: another run's output on the same test set, for the paired bootstrap p-value "
        "that this run is not better",
    )
    p.add_argument("--json", action="store_true", help="print the scores as one JSON object")
    a = p.parse_args(argv)
    try:
        examples = read_generate_output(a.output)
        hyps = [e.hypothesis for e in examples]
        if a.metric in ("asr", "bleu"):
            result = (asr_scores if a.metric == "asr" else bleu_scores)(examples)
            if a.baseline:
                base = read_generate_output(a.baseline)
                for key in ("wer", "cer") if a.metric == "asr" else ("bleu",):
                    result[f"{key}_p_value"] = compare(examples, base, key)["p_value"]
            text = corpus_line(result)
        elif a.metric == "accuracy":
            result = accuracy(hyps, [e.reference for e in examples])
            text = f"accuracy: {result['accuracy']:.2f} ({result['correct']}/{result['n']})"
        else:
            answers = (
                manifest_answers(a.manifest, examples)
                if a.manifest
                else [answers_list([e.reference]) for e in examples]
            )
            result = qa_scores(hyps, answers)
            text = f"F1: {result['f1']:.2f} EM: {result['exact_match']:.2f} (n={result['n']})"
    except (OSError, ValueError) as e:
        print(f"mu2slam-score: {e}", file=sys.stderr)
        return 1
    print(json.dumps(result) if a.json else text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
