"""Corpus scores of one generation run, from its hypothesis and reference lines.

ASR: WER and CER with bootstrap 95% intervals; translation: sacreBLEU; both with the share
of distinct hypotheses. ``compare`` adds the paired bootstrap of one run against another
on the same test set (BLEU: sacreBLEU's; WER, CER: the same resampling of utterances).
"""

from typing import Dict, Sequence

import sacrebleu

from .generate_output import Generated
from .metrics import (
    bootstrap_interval,
    char_errors,
    distinct_share,
    paired_bootstrap_bleu,
    paired_bootstrap_error_rate,
    word_errors,
)


def _errors(examples: Sequence[Generated], unit: str):
    count = word_errors if unit == "wer" else char_errors
    pairs = [count(e.hypothesis, e.reference) for e in examples]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def asr_scores(examples: Sequence[Generated]) -> Dict[str, object]:
    """{"wer", "wer_ci", "cer", "cer_ci", "distinct", "n"}; rates and shares in percent."""
    out: Dict[str, object] = {}
    for unit in ("wer", "cer"):
        errors, lengths = _errors(examples, unit)
        out[unit] = 100.0 * sum(errors) / max(sum(lengths), 1)
        out[f"{unit}_ci"] = list(bootstrap_interval(errors, lengths))
    out["distinct"] = distinct_share([e.hypothesis for e in examples])
    out["n"] = len(examples)
    return out


def bleu_scores(examples: Sequence[Generated]) -> Dict[str, object]:
    """{"bleu", "distinct", "n"}: sacreBLEU's corpus BLEU with its default settings."""
    hyps, refs = [e.hypothesis for e in examples], [e.reference for e in examples]
    return {
        "bleu": sacrebleu.corpus_bleu(hyps, [refs]).score,
        "distinct": distinct_share(hyps),
        "n": len(examples),
    }


def compare(
    system: Sequence[Generated], baseline: Sequence[Generated], metric: str
) -> Dict[str, float]:
    """Paired bootstrap of ``system`` against ``baseline`` on the same test set: {"p_value", ...}."""
    if [e.reference for e in system] != [e.reference for e in baseline]:
        raise ValueError(
            "paired comparison needs the same test set, in the same order, on both sides"
        )
    if metric == "bleu":
        return paired_bootstrap_bleu(
            [e.hypothesis for e in system],
            [e.hypothesis for e in baseline],
            [e.reference for e in system],
        )
    errors, lengths = _errors(system, metric)
    base, _ = _errors(baseline, metric)
    return {"p_value": paired_bootstrap_error_rate(errors, base, lengths)}


def format_score(results: Dict[str, object], key: str) -> str:
    """A result of ``results`` (keys "CORPUS METRIC[ (DECODING)]") for a table: "-" when
    missing, p-values to 3 places, rates with their interval ("41.20 [38.9, 43.6]")."""
    value = results.get(key)
    if value is None:
        return "-"
    metric, _, label = key.partition(" (")
    ci = results.get(f"{metric}_ci" + (f" ({label}" if label else ""))
    text = f"{value:.3f}" if metric.endswith(" p") else f"{value:.2f}"
    return text + (f" [{ci[0]:.1f}, {ci[1]:.1f}]" if ci else "")
