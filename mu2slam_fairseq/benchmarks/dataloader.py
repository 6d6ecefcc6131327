"""Data pipeline cost: building a batch (reading stored features, drawing masks, building
and collating every view) against the training step that consumes it.

Batches come from the task's own epoch iterator, in the main process (as with
``--num-workers 0``), and alternate with the training steps on them. Pre-training batches
are built from manifests with precomputed units (the ``units`` column, as a real run
would store them) and, for comparison, from the same manifests without units, which the
speech tokenizer then computes on the fly; fine-tuning AST batches need no units. The
epoch set-up (language sampling and bucketing, once per epoch) is shown apart.
Goal: under 5% of a training step with precomputed features.
"""

import time
from typing import Dict, List, Optional

from . import _common as C

GOAL = 0.05
PRETRAIN_TOKENS = (
    100_000  # the shares' sentence caps bound pre-training sub-batches (the paper's batch)
)
FINETUNE_TOKENS = (
    1_000  # about 8 AST utterances (40 ms steps + target tokens) per fine-tuning batch
)


def loader_and_steps(
    t: C.Trainee, batches: int, train: bool, max_tokens: int
) -> Dict[str, List[float]]:
    """Seconds to draw each of ``batches`` batches (and to train on it, when ``train``)."""
    if "train" not in t.task.datasets:
        t.task.load_dataset("train")
    start = time.perf_counter()
    itr = t.task.get_batch_iterator(
        t.task.datasets["train"], max_tokens=max_tokens, seed=1, disable_iterator_cache=True
    ).next_epoch_itr(shuffle=True)
    out: Dict[str, List[float]] = {"setup": [time.perf_counter() - start], "load": [], "step": []}
    for _ in range(batches):
        t0 = time.perf_counter()
        sample = next(itr)
        out["load"].append(time.perf_counter() - t0)
        if train:
            t0 = time.perf_counter()
            C.train_step(t, sample)
            out["step"].append(time.perf_counter() - t0)
    return out


def main(argv: Optional[List[str]] = None) -> None:
    p = C.parser("dataloader", __doc__)
    p.add_argument("--arch", default="mu2slam_tiny")
    p.add_argument(
        "--batches", type=int, default=6, help="batches drawn (and trained on) per pipeline"
    )
    a = p.parse_args(argv)
    C.start(a, "data pipeline", repeats=1, quick_repeats=1)
    n = 2 if a.quick else a.batches
    with C.workspace(a) as ws:
        pt = C.mu2slam(ws, task="mu2slam_pretrain", arch=a.arch, config="pretrain.yaml")
        raw = C.mu2slam(ws, task="mu2slam_pretrain", arch=a.arch, config="pretrain_raw.yaml")
        ft = C.mu2slam(ws, arch=a.arch)
        runs = {}
        for _ in range(a.repeats):  # the three pipelines in turn
            for name, t, train in (("pt", pt, True), ("raw", raw, False), ("ft", ft, True)):
                r = loader_and_steps(t, n, train, FINETUNE_TOKENS if t is ft else PRETRAIN_TOKENS)
                for k, v in r.items():
                    runs.setdefault(name, {}).setdefault(k, []).extend(v)
    med = {
        name: {k: C.median(v) if v else float("nan") for k, v in r.items()}
        for name, r in runs.items()
    }
    step = {"pt": med["pt"]["step"], "raw": med["pt"]["step"], "ft": med["ft"]["step"]}
    names = {
        "pt": "pre-training, precomputed units",
        "raw": "pre-training, units on the fly",
        "ft": "fine-tuning AST (no units)",
    }
    rows = []
    for k in ("pt", "raw", "ft"):
        rows.append(
            [
                names[k],
                f"{1000 * med[k]['load']:.1f}",
                f"{1000 * step[k]:.0f}",
                f"{100 * med[k]['load'] / step[k]:.2f}%",
                f"{med[k]['setup']:.2f}",
            ]
        )
    print(
        f"{a.arch}, stored log-Mel features (fbank80.zip), {n} batches per pipeline, main process"
    )
    print(
        C.table(
            ["pipeline", "batch ms (median)", "step ms (median)", "batch / step", "epoch set-up s"],
            rows,
        )
    )
    for k in ("pt", "ft"):
        ratio = med[k]["load"] / step[k]
        print(
            f"comparison: {names[k]}: the data loader costs {100 * ratio:.2f}% of a training step "
            f"(goal < {100 * GOAL:.0f}%: {'met' if ratio < GOAL else 'NOT met'})"
        )
    print(
        f"comparison: units on the fly cost {med['raw']['load'] / med['pt']['load']:.1f}x the batch time "
        "of precomputed units"
    )


if __name__ == "__main__":
    main()
