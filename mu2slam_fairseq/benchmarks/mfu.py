"""Model FLOP utilisation of a training step against this machine's matmul ceiling.

FLOPs are what torch's FlopCounterMode counts in one forward and backward pass (matmuls,
convolutions, attention). The ceiling is a (2048 x 2048) @ (2048 x 8192) matmul in fp32
and in bf16 (AMX), timed in every round beside the steps: a step's MFU in a round is its
FLOP rate over that round's ceiling of the same precision (fp32 steps against fp32,
bf16-autocast steps against bf16), and the median over rounds is reported, so the
machine's drift cancels. For mu2slam_tiny and mu2slam_small (d=512: 12 Conformer + 4
decoder layers), each beside fairseq's s2t_conformer of the same sizes on the same AST
utterances.
"""

from typing import Callable, Dict, List, Optional, Tuple

import torch

from . import _common as C

CONFIGS = {"tiny": "mu2slam_tiny", "d512": "mu2slam_small"}
PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16}
Key = Tuple[str, str]  # (step, precision)


def steps_of(
    ws, arch: str, utterances: int, with_pretraining: bool
) -> Dict[Key, Callable[[], object]]:
    """The training steps of one configuration, in both precisions."""
    ft = C.mu2slam(ws, arch=arch)
    s2t = C.s2t_conformer(ws, ft.model.cfg)
    ids = C.pick_utterances(ws, utterances)
    b_s2t, b_ft = C.s2t_batch(s2t, ids), C.mu2slam_ast_batch(ft, ids)
    steps: Dict[Key, Callable[[], object]] = {}
    for precision in PRECISIONS:
        bf16 = precision == "bf16"
        steps[("s2t_conformer AST", precision)] = lambda x=bf16: C.train_step(s2t, b_s2t, x)
        steps[("mu2slam fine-tuning AST", precision)] = lambda x=bf16: C.train_step(ft, b_ft, x)
    if with_pretraining:
        pt = C.mu2slam(ws, task="mu2slam_pretrain", arch=arch, config="pretrain.yaml")
        b_pt = C.pretrain_batch(pt)
        for precision in PRECISIONS:
            steps[("mu2slam pre-training", precision)] = lambda x=precision == "bf16": C.train_step(
                pt, b_pt, x
            )
    return steps


def main(argv: Optional[List[str]] = None) -> None:
    p = C.parser("mfu", __doc__)
    p.add_argument(
        "--configs", default="tiny,d512", help=f"comma-separated subset of {','.join(CONFIGS)}"
    )
    p.add_argument(
        "--utterances", type=int, default=8, help="AST utterances per fine-tuning / s2t batch"
    )
    p.add_argument(
        "--pretraining",
        default="tiny",
        help="configurations that also time a pre-training update (the slowest step; d512 adds minutes)",
    )
    a = p.parse_args(argv)
    C.start(a, "model FLOP utilisation", repeats=4, quick_repeats=1)
    configs = ["tiny"] if a.quick else [c for c in a.configs.split(",") if c]
    pretraining = set() if a.quick else set(a.pretraining.split(","))
    n = 1024 if a.quick else 2048
    ceiling_flops = 2.0 * 2048 * n * 4 * n
    with C.workspace(a) as ws:
        candidates: Dict[Tuple[str, Key], Callable[[], object]] = {}
        flops: Dict[Tuple[str, Key], int] = {}
        for c in configs:
            for key, fn in steps_of(
                ws, CONFIGS[c], 2 if a.quick else a.utterances, c in pretraining
            ).items():
                candidates[(c, key)] = fn
                flops[(c, key)] = C.flops_of(fn)  # also the warm-up
        for precision, dtype in PRECISIONS.items():
            x, y = C.matmul_inputs(n, dtype)
            candidates[("ceiling", ("matmul", precision))] = lambda x=x, y=y: torch.matmul(x, y)
        times = C.paired_times(candidates, a.repeats, warmup=0)
    ceiling = {
        pr: [ceiling_flops / t / 1e9 for t in times[("ceiling", ("matmul", pr))]]
        for pr in PRECISIONS
    }
    print(
        "matmul ceiling, median (best) of the rounds: "
        + ", ".join(f"{pr} {C.median(v):.0f} ({max(v):.0f}) GFLOP/s" for pr, v in ceiling.items())
    )
    mfu: Dict[Tuple[str, Key], List[float]] = {}
    rows = []
    for (c, key), f in flops.items():
        step, precision = key
        seconds = times[(c, key)]
        mfu[(c, key)] = [f / s / 1e9 / g for s, g in zip(seconds, ceiling[precision])]
        rows.append(
            [
                f"{CONFIGS[c]} ({c})",
                step,
                precision,
                f"{f / 1e9:.1f}",
                f"{C.median(seconds):.3f}",
                f"{f / C.median(seconds) / 1e9:.1f}",
                f"{100 * C.median(mfu[(c, key)]):.1f}%",
            ]
        )
    print(
        C.table(
            [
                "configuration",
                "step (forward+backward)",
                "precision",
                "GFLOP",
                "step s",
                "GFLOP/s",
                "MFU vs ceiling of its round",
            ],
            rows,
        )
    )
    for c in configs:
        for precision in PRECISIONS:
            ours, ref = (
                mfu[(c, ("mu2slam fine-tuning AST", precision))],
                mfu[(c, ("s2t_conformer AST", precision))],
            )
            line = (
                f"comparison: {c} {precision}: mu2slam fine-tuning MFU {100 * C.median(ours):.1f}% vs "
                f"s2t_conformer {100 * C.median(ref):.1f}% ({C.median([x / y for x, y in zip(ours, ref)]):.2f}x "
                "round by round)"
            )
            if (c, ("mu2slam pre-training", precision)) in mfu:
                line += f"; pre-training {100 * C.median(mfu[(c, ('mu2slam pre-training', precision))]):.1f}%"
            print(line)


if __name__ == "__main__":
    main()
