"""Metrics of generated against reference text, as pure functions.

- BLEU: sacreBLEU's corpus statistics with its default 13a tokenization, the same as
  ``fairseq-generate --scoring sacrebleu`` with default settings; statistics add up over
  batches and workers, and ``bleu_from_stats`` turns the sums into the corpus score.
- WER: word-level edit distance over whitespace-split words, case and punctuation kept,
  as ``fairseq-generate --scoring wer`` with default settings (and jiwer) compute it.
- Accuracy (classification): exact match of the stripped strings.
- F1 / exact match (extractive QA): the SQuAD v1.1 evaluation's answer normalisation
  (lower case, no punctuation, no English articles, single spaces), token-level F1, the
  maximum over the reference answers; what XTREME reports for TyDiQA-GoldP.
"""

import collections
import re
import string
from typing import Dict, List, Sequence, Tuple

import editdistance
import sacrebleu

BLEU_ORDER = 4


def bleu_stats(hyps: Sequence[str], refs: Sequence[str]) -> Dict[str, float]:
    """Additive sacreBLEU statistics of a batch (one reference per hypothesis)."""
    b = sacrebleu.corpus_bleu(list(hyps), [list(refs)])
    stats = {"sys_len": b.sys_len, "ref_len": b.ref_len}
    for i in range(BLEU_ORDER):
        stats[f"counts_{i}"] = b.counts[i]
        stats[f"totals_{i}"] = b.totals[i]
    return stats


def bleu_from_stats(stats: Dict[str, float]) -> float:
    """Corpus BLEU from summed ``bleu_stats`` (sacreBLEU's exp smoothing, its default)."""
    from sacrebleu.metrics import BLEU

    return BLEU.compute_bleu(
        correct=[int(stats[f"counts_{i}"]) for i in range(BLEU_ORDER)],
        total=[int(stats[f"totals_{i}"]) for i in range(BLEU_ORDER)],
        sys_len=int(stats["sys_len"]),
        ref_len=int(stats["ref_len"]),
        smooth_method="exp",
    ).score


def word_errors(hyp: str, ref: str) -> Tuple[int, int]:
    """(word edit distance, reference words)."""
    ref_words = ref.split()
    return int(editdistance.eval(ref_words, hyp.split())), len(ref_words)


def normalize_answer(text: str) -> str:
    """SQuAD v1.1: lower case, drop punctuation and the articles a/an/the, single spaces."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def qa_f1(prediction: str, answer: str) -> float:
    pred, gold = normalize_answer(prediction).split(), normalize_answer(answer).split()
    common = collections.Counter(pred) & collections.Counter(gold)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(gold)
    return 2 * precision * recall / (precision + recall)


def qa_exact(prediction: str, answer: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(answer))


def qa_scores(predictions: Sequence[str], answers: Sequence[Sequence[str]]) -> Dict[str, float]:
    """Mean F1 and EM in percent, each the maximum over an example's answers."""
    if len(predictions) != len(answers):
        raise ValueError(f"{len(predictions)} predictions for {len(answers)} examples")
    f1 = [max(qa_f1(p, a) for a in golds) for p, golds in zip(predictions, answers)]
    em = [max(qa_exact(p, a) for a in golds) for p, golds in zip(predictions, answers)]
    n = max(len(predictions), 1)
    return {"f1": 100.0 * sum(f1) / n, "exact_match": 100.0 * sum(em) / n, "n": len(predictions)}


def accuracy(predictions: Sequence[str], labels: Sequence[str]) -> Dict[str, float]:
    """Exact-match accuracy in percent of stripped strings."""
    if len(predictions) != len(labels):
        raise ValueError(f"{len(predictions)} predictions for {len(labels)} labels")
    correct = sum(p.strip() == g.strip() for p, g in zip(predictions, labels))
    return {"accuracy": 100.0 * correct / max(len(labels), 1), "correct": correct, "n": len(labels)}


def answers_list(values: List[str]) -> List[str]:
    """Non-empty answers, or one empty answer (which only an empty prediction matches)."""
    kept = [v for v in values if v.strip()]
    return kept or [""]


def char_errors(hyp: str, ref: str) -> Tuple[int, int]:
    """(character edit distance, reference characters) of the stripped strings, spaces
    included, as jiwer's CER counts them."""
    ref = ref.strip()
    return int(editdistance.eval(ref, hyp.strip())), len(ref)


def distinct_share(hyps: Sequence[str]) -> float:
    """Percent of hypotheses that are distinct strings: an output that ignores its input
    repeats a handful of lines, one that listens is nearly all distinct."""
    return 100.0 * len({h.strip() for h in hyps}) / max(len(hyps), 1)


def bootstrap_interval(
    errors: Sequence[int],
    lengths: Sequence[int],
    samples: int = 1000,
    seed: int = 1,
    level: float = 0.95,
) -> Tuple[float, float]:
    """Percentile bootstrap interval (percent) of the corpus error rate sum(errors)/sum(lengths),
    resampling utterances with replacement."""
    import numpy as np

    e, n = np.asarray(errors, dtype=float), np.asarray(lengths, dtype=float)
    idx = np.random.default_rng(seed).integers(0, len(e), (samples, len(e)))
    rates = 100.0 * e[idx].sum(1) / np.maximum(n[idx].sum(1), 1)
    tail = 100 * (1 - level) / 2
    return float(np.percentile(rates, tail)), float(np.percentile(rates, 100 - tail))


def paired_bootstrap_error_rate(
    errors: Sequence[int],
    baseline_errors: Sequence[int],
    lengths: Sequence[int],
    samples: int = 1000,
    seed: int = 1,
) -> float:
    """p-value that a system's corpus error rate is not lower than a baseline's on the same
    utterances: the share of paired resamples where it is not (Koehn 2004)."""
    import numpy as np

    a, b = np.asarray(errors, dtype=float), np.asarray(baseline_errors, dtype=float)
    idx = np.random.default_rng(seed).integers(0, len(a), (samples, len(a)))
    not_better = (a[idx].sum(1) >= b[idx].sum(1)).sum()
    return float((not_better + 1) / (samples + 1))


def paired_bootstrap_bleu(
    hyps: Sequence[str], baseline_hyps: Sequence[str], refs: Sequence[str], samples: int = 1000
) -> Dict[str, float]:
    """sacreBLEU's paired bootstrap resampling of a system against a baseline: both BLEUs,
    the system's 95% interval half-width and the p-value that it is not better (1 when its
    BLEU is not above the baseline's)."""
    from sacrebleu.metrics import BLEU
    from sacrebleu.significance import PairedTest

    test = PairedTest(
        [("baseline", list(baseline_hyps)), ("system", list(hyps))],
        {"BLEU": BLEU()},
        [list(refs)],
        test_type="bs",
        n_samples=samples,
    )
    _, scores = test()
    base, system = scores["BLEU"]
    # sacreBLEU's p-value asks whether the two differ; a system that is not ahead is not better
    p = float(system.p_value) if system.score > base.score else 1.0
    return {"bleu": system.score, "baseline_bleu": base.score, "ci": float(system.ci), "p_value": p}
