"""Mixed precision on this CPU: bf16 autocast (the tasks' ``--autocast-bf16``) against fp32.

Speed: fine-tuning AST and pre-training updates (forward and backward) of one mu2slam
model in fp32 and in bf16, beside fairseq's s2t_conformer of the same widths on the same
utterances in fp32 (and in bf16 autocast, wrapped from outside, for reference), all
interleaved. Goal: mu2slam's bf16 update rate >= 1.5x s2t_conformer's fp32 rate.

Quality: two copies of one initialisation pre-train on the same batches with Adam and
the same dropout draws, one in fp32 and one under bf16 autocast (fp32 master weights,
fp32 loss); both loss curves are printed with their largest relative gap.
"""

import copy
from typing import List, Optional

import torch

from . import _common as C

GOAL = 1.5


def loss_curves(pt: C.Trainee, updates: int, lr: float, seed: int) -> List[List[float]]:
    """Per-update losses of an fp32 and a bf16 copy of ``pt``'s model on the same batches."""
    batches = C.pretrain_batches(pt, updates)
    twin = C.Trainee(pt.name, pt.task, copy.deepcopy(pt.model), pt.criterion, pt.args)
    runs = [(pt, False), (twin, True)]
    opts = [torch.optim.Adam(t.model.parameters(), lr=lr, betas=(0.9, 0.98)) for t, _ in runs]
    curves: List[List[float]] = [[], []]
    for step, batch in enumerate(batches):
        for k, ((t, bf16), opt) in enumerate(zip(runs, opts)):
            torch.manual_seed(seed + step)  # the same dropout masks in both runs
            curves[k].append(C.train_step(t, batch, bf16))
            opt.step()
    return curves


def main(argv: Optional[List[str]] = None) -> None:
    p = C.parser("mixed_precision", __doc__)
    p.add_argument("--arch", default="mu2slam_tiny")
    p.add_argument(
        "--utterances", type=int, default=8, help="AST utterances per fine-tuning / s2t batch"
    )
    p.add_argument(
        "--updates", type=int, default=20, help="pre-training updates of each loss curve"
    )
    p.add_argument("--lr", type=float, default=5e-4)
    a = p.parse_args(argv)
    C.start(a, "mixed precision", repeats=7)
    n = 2 if a.quick else a.utterances
    updates = 2 if a.quick else a.updates
    with C.workspace(a) as ws:
        models, batches = C.side_by_side(ws, a.arch, n)
        steps = {}
        for precision, bf16 in (("fp32", False), ("bf16", True)):
            for key, label in (
                ("s2t", "s2t_conformer, AST"),
                ("ft", "mu2slam fine-tuning, AST"),
                ("pt", "mu2slam pre-training"),
            ):
                steps[(label, precision)] = lambda x=bf16, k=key: C.train_step(
                    models[k], batches[k], x
                )
        rounds = C.paired_times(steps, a.repeats)
        curves = loss_curves(models["pt"], updates, a.lr, a.seed)
    times = {k: C.median(v) for k, v in rounds.items()}
    ratio = lambda num, den: C.paired_ratio(rounds, num, den)  # noqa: E731
    print(
        f"{a.arch} and s2t_conformer of the same sizes; {n} AST utterances; updates are forward+backward; "
        "ratios are medians of round-by-round ratios"
    )
    ref = ("s2t_conformer, AST", "fp32")
    rows = []
    for (name, precision), t in times.items():
        vs_s2t = f"{ratio(ref, (name, precision)):.2f}x" if name != "mu2slam pre-training" else ""
        rows.append(
            [
                name,
                precision,
                f"{t:.3f}",
                f"{1 / t:.2f}",
                f"{ratio((name, 'fp32'), (name, precision)):.2f}x",
                vs_s2t,
            ]
        )
    print(
        C.table(
            ["update", "precision", "step s", "updates/s", "vs its fp32", "vs s2t_conformer fp32"],
            rows,
        )
    )
    print(
        f"comparison: mu2slam fine-tuning bf16 update rate vs s2t_conformer fp32: "
        f"{C.verdict(ratio(ref, ('mu2slam fine-tuning, AST', 'bf16')), GOAL)}"
    )
    print(
        f"comparison: pre-training update, bf16 vs fp32: "
        f"{ratio(('mu2slam pre-training', 'fp32'), ('mu2slam pre-training', 'bf16')):.2f}x"
    )
    gaps = [abs(b - f) / abs(f) for f, b in zip(*curves)]
    print(
        C.table(
            ["pre-training update", "loss fp32", "loss bf16", "relative gap"],
            [
                [str(i + 1), f"{f:.4f}", f"{b:.4f}", f"{100 * g:.2f}%"]
                for i, (f, b, g) in enumerate(zip(*curves, gaps))
            ],
        )
    )
    print(
        f"comparison: loss curves over {updates} updates: largest relative gap {100 * max(gaps):.2f}%, "
        f"final loss fp32 {curves[0][-1]:.4f} vs bf16 {curves[1][-1]:.4f}"
    )


if __name__ == "__main__":
    main()
