"""Curves from fairseq's training logs: every logged term over updates, as data and as PNG.

fairseq's ``--log-format simple`` writes one training line per ``--log-interval``
(``epoch 001:     10 / 500 key=value, ...``) and one line per validation (``epoch 001 |
valid on 'valid' subset | key value | ...``); both carry ``num_updates``. ``--log-file``
keeps them (as does the console output), which is what this reads.

    mu2slam-train-curves pretrain/train.log --out curves.png --check-falls
    mu2slam-train-curves run_a/train.log run_b/train.log --compare cer --out cer.png

``--compare METRIC`` puts several runs side by side: the validation METRIC of each log over
updates and over minutes of training (the time in training steps, summed from fairseq's
``train_wall``; validation not counted), one line per run, named by the log's folder.
"""

import argparse
import bisect
import logging
import math
import re
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

from .atomic import write_bytes

Series = Dict[str, List[Tuple[int, float]]]
COMMAND = "mu2slam-train-curves"
_INNER = re.compile(r"epoch \d+:\s+\d+ / \d+ (.*)$")
_VALID = re.compile(r"valid on '([^']+)' subset \| (.*)$")
_PAIR = re.compile(r"([\w/.-]+)=(-?[\d.]+(?:e[-+]?\d+)?|nan|inf)")
# bookkeeping keys that are not curves
_SKIP = {
    "num_updates",
    "epoch",
    "lr",
    "gnorm",
    "clip",
    "loss_scale",
    "train_wall",
    "gb_free",
    "wall",
    "ups",
    "wpb",
    "bsz",
    "wps",
    "ntokens",
    "nsentences",
    "sample_size",
}


def _number(text: str) -> Optional[float]:
    try:
        return float(text)
    except ValueError:
        return None


def read_log(lines: Iterable[str]) -> Dict[str, Series]:
    """{"train": {key: [(update, value)]}, "valid:<subset>": {...}} of a fairseq simple log.

    One update can be logged twice (fairseq repeats the last validation line at the end of
    training, and a resumed run logs some updates again): the last value logged wins.
    """
    found: Dict[str, Dict[str, Dict[int, float]]] = {}
    for line in lines:
        m = _INNER.search(line)
        if m:
            values = {k: float(v) for k, v in _PAIR.findall(m.group(1))}
            phase = "train"
        else:
            m = _VALID.search(line)
            if not m:
                continue
            values = {}
            for part in m.group(2).split(" | "):
                key, _, value = part.strip().partition(" ")
                number = _number(value)
                if number is not None:
                    values[key] = number
            phase = f"valid:{m.group(1)}"
        update = values.get("num_updates")
        if update is None:
            continue
        for key, value in values.items():
            if key not in _SKIP and not key.endswith("nsentences"):
                found.setdefault(phase, {}).setdefault(key, {})[int(update)] = value
    return {
        phase: {key: sorted(points.items()) for key, points in series.items()}
        for phase, series in found.items()
    }


def read_log_file(path: Path) -> Dict[str, Series]:
    with open(path, encoding="utf-8", errors="replace") as f:
        return read_log(f)


def training_clock(lines: Iterable[str]) -> List[Tuple[int, float]]:
    """(update, seconds spent in training steps up to it) of every training line.

    fairseq's ``train_wall`` is the time of the steps since the previous training line, so
    its running sum is the training time, validation and checkpoints left out; unlike its
    ``wall`` (which a resumed run logs as 0), it stays right across a resume. An update
    logged twice (a resumed run repeating one) counts once, the last line winning."""
    interval: Dict[int, float] = {}
    for line in lines:
        m = _INNER.search(line)
        if m:
            values = dict(_PAIR.findall(m.group(1)))
            if "num_updates" in values and "train_wall" in values:
                interval[int(float(values["num_updates"]))] = float(values["train_wall"])
    clock, total = [], 0.0
    for update, seconds in sorted(interval.items()):
        total += seconds
        clock.append((update, total))
    return clock


def validation_curve(lines: Sequence[str], metric: str) -> List[Tuple[int, float, Optional[float]]]:
    """(update, value, minutes of training) of every validation of ``metric`` (the first
    validation subset that logs it); the minutes are the training time of the last training
    line at or before that update (None before the first)."""
    phases = read_log(lines)
    curve = next(
        (
            s[metric]
            for phase, s in sorted(phases.items())
            if phase.startswith("valid:") and metric in s
        ),
        [],
    )
    clock = training_clock(lines)
    logged = [u for u, _ in clock]
    points = []
    for update, value in curve:
        i = bisect.bisect_right(logged, update)  # training lines at or before this update
        points.append((update, value, clock[i - 1][1] / 60 if i else None))
    return points


def compare(logs: Sequence[Path], metric: str, out: Optional[Path] = None) -> Dict[str, list]:
    """Each log's validation curve of ``metric`` by run name (the log's folder), printed as a
    table and, with ``out``, drawn over updates and over minutes of training."""
    runs = {}
    for log in logs:
        name = log.parent.name or log.name
        with open(log, encoding="utf-8", errors="replace") as f:
            runs[str(log) if name in runs else name] = validation_curve(f.readlines(), metric)
    for name, points in runs.items():
        at = [f"{u} ({'-' if m is None else f'{m:.1f} min'}) {v:g}" for u, v, m in points]
        print(f"{name}: {metric} at {', '.join(at) or 'no validation'}")
    if out:
        by_update = {name: [(u, v) for u, v, _ in points] for name, points in runs.items()}
        by_time = {
            name: [(m, v) for _, v, m in points if m is not None] for name, points in runs.items()
        }
        panels = {
            f"{metric} over updates": by_update,
            f"{metric} over minutes of training": by_time,
        }
        plot(panels, out, title=f"validation {metric}", xlabel=["updates", "minutes of training"])
        print(f"wrote {out}")
    return runs


def training_seconds(path: Path) -> Optional[float]:
    """The wall time fairseq-train reports at its end ("done training in X seconds"), the
    last one in the log; None while no run logged to it has ended."""
    text = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
    found = re.findall(r"done training in ([\d.]+) seconds", text)
    return float(found[-1]) if found else None


def loss_terms(series: Series) -> Series:
    """The loss curves (``loss`` and every ``*_loss`` term) of one phase; not fairseq's ``best_loss``."""
    return {
        k: v
        for k, v in series.items()
        if k == "loss" or (k.endswith("_loss") and not k.startswith("best_"))
    }


def falls(points: Sequence[Tuple[int, float]], window: int = 5) -> Tuple[float, float, bool]:
    """(mean of the first ``window`` values, mean of the last ``window``, whether it fell).

    Means over a window, because single logged values of a sub-batch of a few sentences
    are noisy; a curve with fewer than two windows of points cannot show a fall.
    """
    values = [v for _, v in points]
    if len(values) < 2 * window:
        window = len(values) // 2
    if window == 0:
        return math.nan, math.nan, False
    first, last = sum(values[:window]) / window, sum(values[-window:]) / window
    return first, last, last < first


def curve_colours(panels: Dict[str, Series], cycle: Sequence[str]) -> Dict[str, str]:
    """One colour per curve name across every chart, so a run keeps its colour from chart to chart."""
    labels = dict.fromkeys(label for curves in panels.values() for label in curves)
    return {label: cycle[i % len(cycle)] for i, label in enumerate(labels)}


def plot(
    panels: Dict[str, Series],
    out: Path,
    title: str = "",
    xlabel: Union[str, Sequence[str]] = "updates",
) -> Path:
    """One small chart per curve, written atomically as PNG; ``panels`` groups curves by chart,
    ``xlabel`` is every chart's x axis, or one per chart."""
    import io

    logging.getLogger("matplotlib").setLevel(logging.WARNING)  # it logs its font search at DEBUG
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(panels)
    cols = min(4, max(1, n))
    rows = max(1, math.ceil(n / cols))
    fig, axes = plt.subplots(
        rows, cols, figsize=(4 * cols, 2.8 * rows), squeeze=False, layout="constrained"
    )  # leaves room for the title
    color = curve_colours(panels, plt.rcParams["axes.prop_cycle"].by_key()["color"])
    xlabels = [xlabel] * n if isinstance(xlabel, str) else list(xlabel)
    for ax, x_name, (name, curves) in zip(axes.flat, xlabels, panels.items()):
        for label, points in curves.items():
            ax.plot(
                [u for u, _ in points],
                [v for _, v in points],
                label=label,
                color=color[label],
                marker="." if len(points) < 30 else None,
            )
        ax.set_title(name, fontsize=9)
        ax.set_xlabel(x_name, fontsize=8)
        ax.tick_params(labelsize=7)
        if len(curves) > 1:
            ax.legend(fontsize=7)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    if title:
        fig.suptitle(title)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    plt.close(fig)
    write_bytes(out, buffer.getvalue())
    return out


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(
        prog=COMMAND, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "log",
        type=Path,
        nargs="+",
        help="a fairseq --log-file written with --log-format simple (several with --compare)",
    )
    p.add_argument(
        "--out",
        type=Path,
        help="PNG of every loss term over updates (training and validation); with --compare, "
        "of the compared metric",
    )
    p.add_argument(
        "--compare",
        metavar="METRIC",
        help="the validation METRIC (e.g. cer, bleu, loss) of every log, side by side",
    )
    p.add_argument(
        "--check-falls",
        action="store_true",
        help="exit 1 unless every training loss term's last logged values are below its first",
    )
    p.add_argument(
        "--window", type=int, default=5, help="logged values averaged at each end (default 5)"
    )
    a = p.parse_args(argv)
    logging.getLogger().setLevel(logging.INFO)  # importing fairseq sets the root logger to DEBUG
    for log in a.log:
        if not log.exists():
            p.error(f"{log}: no such log file")
    if a.compare:
        if a.check_falls:
            p.error("--check-falls reads one log; --compare puts several side by side")
        runs = compare(a.log, a.compare, a.out)
        if not any(runs.values()):
            print(f"{COMMAND}: no validation line logs {a.compare!r}")
            return 1
        return 0
    if len(a.log) > 1:
        p.error("several logs need --compare METRIC")
    (log,) = a.log
    phases = read_log_file(log)
    train = loss_terms(phases.get("train", {}))
    if not train:
        print(
            f"{COMMAND}: {log}: no train_inner line with a loss (was it written with --log-format simple?)"
        )
        return 1
    failed = []
    print(f"{'term':<28} {'first':>8} {'last':>8}")
    for key, points in sorted(train.items()):
        first, last, fell = falls(points, a.window)
        print(f"{key:<28} {first:8.3f} {last:8.3f}  {'falls' if fell else 'DOES NOT FALL'}")
        if not fell:
            failed.append(key)
    if a.out:
        panels = {k: {"train": v} for k, v in sorted(train.items())}
        for phase, series in phases.items():
            for key, points in loss_terms(series).items():
                # the total is summed over the views a batch holds, so it is comparable across
                # phases only when their data is: validation's total gets its own chart
                panels.setdefault(
                    key if key != "loss" or phase == "train" else f"loss ({phase})", {}
                )[phase] = points
        plot(
            panels,
            a.out,
            title=f"{log.parent.name or log.name}: loss terms over updates (bits per token)",
        )
        print(f"wrote {a.out}")
    if a.check_falls:
        print(
            f"{len(train) - len(failed)} of {len(train)} terms fell"
            + (f"; not: {', '.join(failed)}" if failed else "")
        )
        return 1 if failed else 0
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
