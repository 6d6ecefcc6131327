"""BLEU, WER and accuracy during validation, from generated text (like fairseq's
translation task ``--eval-bleu``).

Each validation batch holds one data type; its hypotheses are generated and scored by
the metric that its view declares (``finetune_metric`` in ``objectives/paper.py``; AST
and MT: BLEU; ASR: WER, with CER beside it; t2t: accuracy). Batches log additive
statistics (hidden ``_``-prefixed keys, summed across batches and workers); the scores
are derived from the sums over the whole validation set, so ``--best-checkpoint-metric
bleu --maximize-best-checkpoint-metric`` or ``--best-checkpoint-metric wer`` select on
corpus-level scores. When two types share a metric (AST and MT), each also gets its own
(``ast_bleu``, ``mt_bleu``) next to the pooled one. Every batch logs every key of the
enabled metrics (``empty_stats``), so that data-parallel ranks sum like with like.
"""

from typing import Dict, Iterable, List, Sequence

from fairseq import metrics

from ..scoring.metrics import (
    BLEU_ORDER,
    accuracy,
    bleu_from_stats,
    bleu_stats,
    char_errors,
    word_errors,
)

_BLEU_STATS = ["sys_len", "ref_len"] + [
    f"{k}_{i}" for i in range(BLEU_ORDER) for k in ("counts", "totals")
]
_WER_STATS = ["errors", "words", "char_errors", "chars"]


def empty_stats(names: Iterable[str]) -> Dict[str, float]:
    """Every hidden key of the metrics ``names``, at 0, in a fixed order: each validation
    batch logs them all, whatever its type, as data-parallel summing needs."""
    keys = {"bleu": _BLEU_STATS, "wer": _WER_STATS, "accuracy": ["correct", "n"]}
    return {f"_{name}_{k}": 0 for name in names for k in keys[name.rsplit("_", 1)[-1]]}


def sequence_stats(
    metric: str, hyps: Sequence[str], refs: Sequence[str], prefixes: Iterable[str]
) -> Dict[str, float]:
    """Hidden logging keys of one batch's statistics, once per prefix ("" pooled, "ast_" ...)."""
    if metric == "bleu":
        stats = bleu_stats(hyps, refs)
    elif metric == "wer":
        words = [word_errors(h, r) for h, r in zip(hyps, refs)]
        chars = [char_errors(h, r) for h, r in zip(hyps, refs)]
        stats = {
            "errors": sum(e for e, _ in words),
            "words": sum(n for _, n in words),
            "char_errors": sum(e for e, _ in chars),
            "chars": sum(n for _, n in chars),
        }
    elif metric == "accuracy":
        r = accuracy(hyps, refs)
        stats = {"correct": r["correct"], "n": r["n"]}
    else:
        raise ValueError(f"unknown metric {metric!r}")
    return {f"_{p}{metric}_{k}": v for p in prefixes for k, v in stats.items()}


def _sum(logging_outputs: List[Dict], key: str) -> float:
    return sum(float(log.get(key, 0)) for log in logging_outputs)


def reduce_sequence_metrics(logging_outputs: List[Dict], names: Iterable[str]) -> None:
    """Log the batch sums and the derived scores ``names`` (e.g. "bleu", "ast_bleu", "wer");
    a WER name also logs its CER ("wer" -> "cer", "asr_wer" -> "asr_cer")."""
    for name in names:
        metric = name.rsplit("_", 1)[-1]
        if metric == "bleu":
            keys = _BLEU_STATS
            present = _sum(logging_outputs, f"_{name}_ref_len") > 0
        elif metric == "wer":
            keys, present = _WER_STATS, _sum(logging_outputs, f"_{name}_words") > 0
        else:
            keys, present = ["correct", "n"], _sum(logging_outputs, f"_{name}_n") > 0
        if not present:
            continue
        for k in keys:
            metrics.log_scalar(f"_{name}_{k}", _sum(logging_outputs, f"_{name}_{k}"))
        metrics.log_derived(name, _derived(name, metric))
        if metric == "wer":
            metrics.log_derived(name[: -len("wer")] + "cer", _derived(name, "cer"))


def _derived(name: str, metric: str):
    def compute(meters) -> float:
        get = lambda k: meters[f"_{name}_{k}"].sum  # noqa: E731
        if metric == "bleu":
            return round(bleu_from_stats({k: get(k) for k in _BLEU_STATS}), 2)
        if metric == "wer":
            return round(100.0 * get("errors") / max(get("words"), 1), 2)
        if metric == "cer":
            return round(100.0 * get("char_errors") / max(get("chars"), 1), 2)
        return round(100.0 * get("correct") / max(get("n"), 1), 2)

    return compute
