"""The main job's closing report: the results table (Markdown and JSON) and its PNG plots."""

import json
import platform
import time
from pathlib import Path
from typing import Dict, List, Optional

from mu2slam_fairseq.data.io.manifest import atomic_write_text
from mu2slam_fairseq.scoring.corpus_scores import format_score
from mu2slam_fairseq.train_log import plot, read_log_file

# the test sets of compare.py's result keys, in table order, and how the table names them
TEST_SETS = [
    ("st_nl_en", "nl→en", "AST"),
    ("st_cs_en", "cs→en", "AST"),
    ("asr_nl", "nl", "ASR"),
    ("asr_cs", "cs", "ASR"),
    ("test_mt_fillets", "MT 13 languages→en (Fish Fillets test levels)", "MT"),
]
METRICS = {
    "AST": ("bleu", "distinct", "bleu p"),
    "MT": ("bleu",),
    "ASR": ("cer", "wer", "distinct", "cer p", "wer p"),
}
NAMES = {
    "bleu": "BLEU",
    "cer": "CER %",
    "wer": "WER %",
    "distinct": "distinct hypotheses %",
    "bleu p": "BLEU p (paired bootstrap, against scratch)",
    "cer p": "CER p (paired bootstrap)",
    "wer p": "WER p (paired bootstrap)",
}
DECODING_LABELS = ("", " (attention beam)", " (CTC greedy)")
COLUMNS = {
    "pretrained": "Mu2SLAM pre-trained",
    "scratch": "from scratch, equal time",
    "mslam": "mSLAM-CTC pre-trained",
    "s2t_conformer": "fairseq s2t_conformer",
}
# keys of the noise-ratio study and their labels
ROWS = [
    ("st_nl_en bleu", "nl→en BLEU (real speech)"),
    ("st_cs_en bleu", "cs→en BLEU (real speech)"),
]


def _cell(value: Optional[float]) -> str:
    return "-" if value is None else f"{value:.2f}"


def table(results: Dict[str, Dict[str, Optional[float]]]) -> str:
    """Rows: test set, metric and decoding (ASR: joint CTC/attention first); columns: models."""
    runs = [r for r in COLUMNS if r in results]
    lines = [
        "| test set | metric | " + " | ".join(COLUMNS[r] for r in runs) + " |",
        "|---" * (len(runs) + 2) + "|",
    ]
    for corpus, name, kind in TEST_SETS:
        for label in DECODING_LABELS if kind == "ASR" else ("",):
            for metric in METRICS[kind]:
                key = f"{corpus} {metric}{label}"
                if any(key in results[r] for r in runs):
                    how = (
                        (" " + (label.strip() or "(joint CTC/attention)")) if kind == "ASR" else ""
                    )
                    lines.append(
                        f"| {name} | {NAMES[metric]}{how} | "
                        + " | ".join(format_score(results[r], key) for r in runs)
                        + " |"
                    )
    if any("training minutes" in results[r] for r in runs):
        lines.append(
            "| all | training minutes (pre-training included) | "
            + " | ".join(format_score(results[r], "training minutes") for r in runs)
            + " |"
        )
    return "\n".join(lines) + "\n"


def _validation_panels(finetune: Path) -> Dict[str, Dict[str, List]]:
    """Validation loss / BLEU / WER / CER over updates, one curve per initialisation.

    Gradual fine-tuning restarts fairseq's update count at stage 2, so stage 2's points are
    shifted by stage 1's last update: each curve then reads as one continuous run.
    """
    panels: Dict[str, Dict[str, List]] = {}
    for run in sorted(p for p in finetune.iterdir() if (p / "stage1" / "train.log").exists()):
        offset = 0
        for stage in [run / "stage1"] + sorted(run.glob("stage2_*")):
            log = stage / "train.log"
            if not log.exists():
                continue
            phases = read_log_file(log)
            label = run.name if stage.name == "stage1" else f"{run.name} {stage.name}"
            for phase, series in phases.items():
                if not phase.startswith("valid"):
                    continue
                for metric, title in (
                    ("loss", "validation loss"),
                    ("bleu", "validation BLEU (AST)"),
                    ("wer", "validation WER % (ASR)"),
                    ("cer", "validation CER % (ASR)"),
                ):
                    if metric in series:
                        points = [(u + offset, v) for u, v in series[metric]]
                        panels.setdefault(title, {})[label] = points
            if stage.name == "stage1":
                offset = max((u for s in phases.get("train", {}).values() for u, _ in s), default=0)
    return panels


def _noise_panels(study: Dict[str, Dict[str, Optional[float]]]) -> Dict[str, Dict[str, List]]:
    curves: Dict[str, List] = {}
    for ratio, scores in sorted(study.items(), key=lambda kv: float(kv[0])):
        for key, value in scores.items():
            if value is not None:
                curves.setdefault(dict(ROWS).get(key, key), []).append((float(ratio), value))
    return {"test BLEU after stage-2 AST": curves}


def report(work: Path, budget, seconds: float) -> str:
    """Write results.md / results.json and the plots under WORK; return the Markdown."""
    finetune = work / "finetune"
    results = json.loads((finetune / "results.json").read_text(encoding="utf-8"))
    plots = work / "plots"
    written = [plots / "pretrain_losses.png"]
    panels = _validation_panels(finetune)
    if panels:
        written.append(
            plot(panels, plots / "finetune_validation.png", title="fine-tuning validation")
        )
    study_file = finetune / "noise_study.json"
    study = json.loads(study_file.read_text(encoding="utf-8")) if study_file.exists() else None
    if study:
        written.append(
            plot(
                _noise_panels(study),
                plots / "noise_study.png",
                title="noisy fine-tuning (paper Fig. 2)",
                xlabel="synonym-noise ratio",
            )
        )
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    header = (
        f"Run of {when} on {platform.machine()} ({platform.processor() or 'cpu'}), "
        f"{seconds / 60:.0f} min in this invocation. mu2slam_tiny; pre-training {budget.pretrain_updates} "
        f"updates; gradual fine-tuning {budget.stage1_updates} multi-task updates of {budget.batch_size} "
        f"examples + {budget.stage2_ast_updates} AST and {budget.stage2_asr_updates} ASR updates of "
        f"{budget.stage2_batch_size} (MT from the multi-task model); scratch's multi-task stage as "
        "long as pre-training and the pre-trained model's multi-task stage together; beam 5; whole test "
        "sets unless said; CER and WER with bootstrap 95% intervals"
        + (
            f"; about 1/{budget.test_shards} of each test set scored"
            if budget.test_shards > 1
            else ""
        )
        + ".\n\n"
    )
    md = header + table(results)
    if study:
        keys = [k for k, _ in ROWS if any(k in s for s in study.values())]
        md += (
            "\nNoise-ratio study (test BLEU after stage-2 AST, by synonym-noise ratio):\n\n| ratio | "
            + " | ".join(dict(ROWS)[k] for k in keys)
            + " |\n"
        )
        md += "|---" * (len(keys) + 1) + "|\n"
        for ratio, scores in sorted(study.items(), key=lambda kv: float(kv[0])):
            md += f"| {ratio} | " + " | ".join(_cell(scores.get(k)) for k in keys) + " |\n"
    md += "\nPlots: " + ", ".join(str(p.relative_to(work)) for p in written) + "\n"
    atomic_write_text(work / "results.md", md)
    atomic_write_text(
        work / "results.json",
        json.dumps(
            {
                "when": when,
                "machine": platform.machine(),
                "budget": vars(budget),
                "results": results,
                "noise_study": study,
                "plots": [str(p.relative_to(work)) for p in written],
            },
            indent=1,
        ),
    )
    return md
