"""Scaling: how a training step's time grows with utterance length and batch size, and
what that predicts for the paper's batch on one GPU.

The grid times fine-tuning AST updates (forward and backward) on real utterances cut or
repeated to L frames, with targets of the data's own tokens-per-frame ratio, B per batch,
all cells interleaved. A fit t = c0 + c1 * positions + c2 * attention pairs (B * steps^2)
says what the growth is made of.

The paper's pre-training batch (per device: speech 4, text 8, AST 1, ASR 1, MT 1) on
mu2slam_base is counted, not timed: FlopCounterMode over one update of base-width models
with one and two encoder (and decoder) layers, on real utterances of the default corpus,
gives the FLOPs of the fixed parts and of each layer, hence of the 24 + 6 layer model.
Its time on one GPU is those FLOPs at a stated peak and utilisation (options); its time
here, at this machine's measured fp32 matmul ceiling, is a lower bound.
"""

import argparse
import math
from dataclasses import replace
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch

from . import _common as C
from ..grid import grid_length


def stretched(item: Dict, frames: int, tokens_per_frame: float, pad: int) -> Dict:
    """A fine-tuning AST item whose speech is cut or repeated to ``frames`` frames and whose
    target to the matching number of tokens."""
    from ..data.pipeline.views import Source, ViewItem

    view = item["views"]["ast_s2t"]
    feats = view.source.speech
    feats = feats.repeat(math.ceil(frames / len(feats)), 1)[:frames]
    steps = int(grid_length(frames))
    target = view.targets[0]
    n_tokens = max(1, round(frames * tokens_per_frame))
    tokens = target.tokens.repeat(math.ceil(n_tokens / len(target.tokens)))[:n_tokens]
    source = Source(
        view.source.speech_lang,
        view.source.text_lang,
        speech=feats,
        speech_units=torch.full((steps,), pad, dtype=torch.long),
        speech_mask=torch.zeros(steps, dtype=torch.bool),
    )
    return dict(
        item, views={"ast_s2t": ViewItem(view.index, source, [replace(target, tokens=tokens)])}
    )


def grid_batches(t: C.Trainee, lengths: List[int], sizes: List[int]) -> Dict[Tuple[int, int], Dict]:
    t.task.load_dataset("train")
    ds = t.task.datasets["train"]
    examples = ds.datasets[0].examples
    ratio = sum(len(ex.tgt) for ex in examples) / sum(ex.n_frames for ex in examples)
    items = [ds[i] for i in range(max(sizes))]
    pad = t.task.dictionary.pad()
    return {
        (b, n): ds.collater([stretched(items[i], n, ratio, pad) for i in range(b)])
        for b in sizes
        for n in lengths
    }


def fit(cells: Dict[Tuple[int, int], float]) -> Tuple[np.ndarray, float]:
    """Least-squares (c0, c1, c2) of t = c0 + c1 * positions + c2 * pairs, and the largest relative error."""
    keys = list(cells)
    x = np.array([[1.0, b * int(grid_length(n)), b * int(grid_length(n)) ** 2] for b, n in keys])
    y = np.array([cells[k] for k in keys])
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    return coef, float(np.max(np.abs(x @ coef - y) / y))


def layer_flops(ws, arch: str) -> Dict[str, float]:
    """FLOPs of one pre-training update: fixed part, per encoder layer, per decoder layer (width of ``arch``)."""

    def count(enc: int, dec: int) -> Tuple[int, C.Workload]:
        t = C.mu2slam(
            ws,
            task="mu2slam_pretrain",
            arch=arch,
            config="pretrain.yaml",
            extra=["--encoder-layers", str(enc), "--decoder-layers", str(dec)],
        )
        batch = C.pretrain_batch(t)
        return C.flops_of(lambda: C.train_step(t, batch)), C.mu2slam_workload(batch)

    counts = {}
    for enc, dec in ((1, 1), (2, 1), (1, 2)):
        counts[(enc, dec)], work = count(enc, dec)
    per_enc, per_dec = counts[(2, 1)] - counts[(1, 1)], counts[(1, 2)] - counts[(1, 1)]
    return {
        "fixed": counts[(1, 1)] - per_enc - per_dec,
        "enc": per_enc,
        "dec": per_dec,
        "enc_positions": work.enc_positions,
        "dec_tokens": work.dec_tokens,
    }


def main(argv: Optional[List[str]] = None) -> None:
    p = C.parser("scaling", __doc__)
    p.add_argument("--arch", default="mu2slam_tiny", help="architecture of the timed grid")
    p.add_argument(
        "--lengths", default="250,500,1000,2000", help="utterance lengths in 10 ms frames"
    )
    p.add_argument("--batch-sizes", default="1,2,4,8")
    p.add_argument(
        "--gpu-tflops",
        type=float,
        default=312.0,
        help="the GPU's dense bf16 peak in TFLOP/s (default: an A100's 312)",
    )
    p.add_argument("--gpu-mfu", type=float, default=0.4, help="utilisation assumed on the GPU")
    a = p.parse_args(argv)
    C.start(a, "scaling", repeats=3, quick_repeats=1)
    lengths = [100, 200] if a.quick else [int(x) for x in a.lengths.split(",")]
    sizes = [1, 2] if a.quick else [int(x) for x in a.batch_sizes.split(",")]
    with C.workspace(a, n_speech=24, n_text=100) as ws:
        ft = C.mu2slam(ws, arch=a.arch)
        batches = grid_batches(ft, lengths, sizes)
        times = C.paired_times(
            {k: (lambda b=b: C.train_step(ft, b)) for k, b in batches.items()}, a.repeats
        )
        ceiling = C.matmul_ceilings(1024 if a.quick else 2048, 2 if a.quick else 3)["fp32"]
        base = "mu2slam_tiny" if a.quick else "mu2slam_base"
        per_layer = layer_flops(ws, base)
    cells = {k: C.median(v) for k, v in times.items()}
    print(
        f"{a.arch} fine-tuning AST update (forward+backward), seconds; real utterances cut or repeated to L frames"
    )
    header = ["batch \\ frames"] + [f"{n} ({n * C.FRAME_SECONDS:g} s)" for n in lengths]
    print(C.table(header, [[f"B={b}"] + [f"{cells[(b, n)]:.3f}" for n in lengths] for b in sizes]))
    print(
        C.table(
            ["batch \\ frames"] + [str(n) for n in lengths],
            [
                [f"B={b} positions/s"]
                + [f"{b * int(grid_length(n)) / cells[(b, n)]:.0f}" for n in lengths]
                for b in sizes
            ],
        )
    )
    coef, err = fit(cells)
    print(
        f"fit: t = {coef[0] * 1e3:.1f} ms + {coef[1] * 1e6:.1f} us x positions + {coef[2] * 1e9:.2f} ns x "
        f"B x steps^2 (largest relative error {100 * err:.0f}%)"
    )
    b, n = sizes[-1], lengths[-1]
    print(
        f"comparison: {lengths[-2]} -> {n} frames at B={b}: {cells[(b, n)] / cells[(b, lengths[-2])]:.2f}x "
        f"the time for {n / lengths[-2]:.1f}x the length; B={sizes[-2]} -> B={b} at {n} frames: "
        f"{cells[(b, n)] / cells[(sizes[-2], n)]:.2f}x for {b / sizes[-2]:.1f}x the batch"
    )

    from fairseq.models import ARCH_CONFIG_REGISTRY

    cfg = argparse.Namespace()
    ARCH_CONFIG_REGISTRY[base](cfg)
    total = (
        per_layer["fixed"]
        + cfg.encoder_layers * per_layer["enc"]
        + cfg.decoder_layers * per_layer["dec"]
    )
    gpu_s = total / (a.gpu_tflops * 1e12 * a.gpu_mfu)
    print(
        f"paper's per-device pre-training batch (speech 4, text 8, AST 1, ASR 1, MT 1; default-corpus utterances: "
        f"{per_layer['enc_positions']} encoder positions, {per_layer['dec_tokens']} decoder tokens) on {base}: "
        f"{total / 1e12:.2f} TFLOP per update ({per_layer['enc'] / 1e9:.1f} GFLOP per encoder layer, "
        f"{per_layer['dec'] / 1e9:.1f} per decoder layer, {per_layer['fixed'] / 1e9:.1f} fixed)"
    )
    print(
        f"comparison: predicted update time on one GPU ({a.gpu_tflops:g} TFLOP/s at {100 * a.gpu_mfu:.0f}% "
        f"utilisation): {1e3 * gpu_s:.3g} ms; on this CPU at its fp32 matmul ceiling ({ceiling:.0f} GFLOP/s): "
        f"at least {total / ceiling / 1e9:.0f} s"
    )


if __name__ == "__main__":
    main()
