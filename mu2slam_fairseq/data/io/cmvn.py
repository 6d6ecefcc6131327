"""Global CMVN statistics over a manifest's features.

Written as an ``.npz`` with ``mean`` and ``std`` (fairseq's ``global_cmvn`` format), so
the same file works in a fairseq speech_to_text config.yaml; ``GlobalCmvn`` applies it
to the model's input.
"""

import argparse
import os
import random
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import numpy as np
from tqdm import tqdm

from ...atomic import atomic_write
from .features import load_features
from .manifest import read_manifest


def global_cmvn(
    manifests: Sequence[Path], max_utterances: int = 5000, seed: int = 1
) -> Tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation per feature dimension over (a seeded sample of) utterances."""
    rows = [
        (r, Path(m).parent)
        for m in manifests
        for r in read_manifest(m, required=("id", "audio"))
        if r["audio"]
    ]
    if not rows:
        raise ValueError(f"no audio rows in {', '.join(map(str, manifests))}")
    if len(rows) > max_utterances:
        rows = random.Random(seed).sample(rows, max_utterances)
    total = sq = None
    n = 0
    for row, root in tqdm(rows, desc="cmvn", unit="utt", mininterval=2):
        feats = load_features(row["audio"], root).astype(np.float64)
        total = feats.sum(0) if total is None else total + feats.sum(0)
        sq = (feats**2).sum(0) if sq is None else sq + (feats**2).sum(0)
        n += len(feats)
    mean = total / n
    std = np.sqrt(np.maximum(sq / n - mean**2, 1e-10))
    return mean.astype(np.float32), std.astype(np.float32)


class GlobalCmvn:
    """(x - mean) / std with the statistics of a ``.npz`` that ``save_cmvn`` or fairseq wrote;
    picklable, so data-loading workers can apply it."""

    def __init__(self, stats_npz: os.PathLike):
        stats = np.load(stats_npz)
        self.mean = stats["mean"].astype(np.float32)
        self.std = np.maximum(stats["std"].astype(np.float32), 1e-5)

    def __call__(self, feats: np.ndarray) -> np.ndarray:
        return (feats - self.mean) / self.std


def save_cmvn(path: Path, mean: np.ndarray, std: np.ndarray) -> None:
    with atomic_write(path) as f:
        np.savez(f, mean=mean, std=std)


def main(argv: Optional[List[str]] = None) -> None:
    p = argparse.ArgumentParser(
        description="Compute global CMVN statistics (mean/std npz) over speech manifests."
    )
    p.add_argument("manifests", nargs="+", type=Path)
    p.add_argument("--out", type=Path, required=True, help="output .npz (keys mean, std)")
    p.add_argument("--max-utterances", type=int, default=5000, help="seeded sample size")
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args(argv)
    mean, std = global_cmvn(a.manifests, a.max_utterances, a.seed)
    save_cmvn(a.out, mean, std)
    print(f"wrote {a.out} ({len(mean)} dims)")


if __name__ == "__main__":
    main()
