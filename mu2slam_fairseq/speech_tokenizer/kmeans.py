"""Seeded k-means in torch: k-means++ initialisation and Lloyd iterations.

Initialisation runs on a random subset (at most ``max(init_points, 8 k)`` vectors): k-means++
is sequential in k, and a few dozen candidates per entry are enough to spread the
seeds. Clusters that end up empty are re-seeded with the vectors farthest from their
centroid, so a fitted codebook has no dead entries on its own training sample.
"""

from dataclasses import dataclass
from typing import Optional

import torch
from tqdm import tqdm

from .search import DEFAULT_CHUNK, nearest


@dataclass
class KMeansResult:
    centroids: torch.Tensor  # (k, dim) float32
    inertia: float  # mean squared distance of the vectors to their centroid, last iteration
    iterations: int
    used: int  # entries with at least one vector, last assignment


def kmeans_plus_plus(
    x: torch.Tensor, k: int, generator: torch.Generator, init_points: int = 32768
) -> torch.Tensor:
    """k seeds drawn with probability proportional to the squared distance to the nearest seed so far."""
    init_points = max(init_points, 8 * k)
    if len(x) > init_points:
        x = x[torch.randperm(len(x), generator=generator)[:init_points]]
    x = x.float()
    x_sq = (x * x).sum(dim=1)
    chosen = torch.empty(k, dtype=torch.long)
    chosen[0] = torch.randint(len(x), (1,), generator=generator)
    c = x[chosen[0]]
    d2 = (x_sq - 2.0 * (x @ c) + x_sq[chosen[0]]).clamp_(min=0)
    for i in range(1, k):
        weights = d2.double()
        if float(weights.sum()) <= 0.0:  # every vector coincides with a seed: pick uniformly
            weights = torch.ones_like(weights)
        chosen[i] = torch.multinomial(weights, 1, generator=generator)
        c = x[chosen[i]]
        torch.minimum(d2, (x_sq - 2.0 * (x @ c) + x_sq[chosen[i]]).clamp_(min=0), out=d2)
    return x[chosen].clone()


def _centroid_sums(x: torch.Tensor, ids: torch.Tensor, k: int, chunk_size: int) -> torch.Tensor:
    sums = torch.zeros(k, x.shape[1], dtype=torch.float64)
    for start in range(0, len(x), chunk_size):
        sums.index_add_(0, ids[start : start + chunk_size], x[start : start + chunk_size].double())
    return sums


@torch.inference_mode()
def lloyd(
    x: torch.Tensor,
    centroids: torch.Tensor,
    iterations: int = 20,
    tolerance: float = 1e-4,
    chunk_size: int = DEFAULT_CHUNK,
    progress: bool = True,
) -> KMeansResult:
    """Lloyd iterations until ``iterations`` or a relative inertia improvement below ``tolerance``."""
    x = x.float().contiguous()
    centroids = centroids.float().clone()
    k = len(centroids)
    prev = None
    inertia, used, it = float("nan"), 0, 0
    bar = tqdm(
        range(1, iterations + 1), desc="k-means", unit="it", disable=not progress, leave=False
    )
    for it in bar:
        ids, dist = nearest(x, centroids, chunk_size=chunk_size, return_distance=True)
        inertia = float(dist.double().mean())
        counts = torch.bincount(ids, minlength=k)
        used = int((counts > 0).sum())
        sums = _centroid_sums(x, ids, k, chunk_size)
        new = centroids.double()
        filled = counts > 0
        new[filled] = sums[filled] / counts[filled].unsqueeze(1).double()
        empty = (~filled).nonzero().squeeze(1)
        if len(empty):
            far = torch.topk(dist, min(len(empty), len(x))).indices
            new[empty[: len(far)]] = x[far].double()
        centroids = new.float()
        bar.set_postfix(inertia=f"{inertia:.4g}", used=used)
        if prev is not None and len(empty) == 0 and (prev - inertia) <= tolerance * abs(prev):
            break
        prev = inertia
    bar.close()
    return KMeansResult(centroids=centroids, inertia=inertia, iterations=it, used=used)


def fit_kmeans(
    x: torch.Tensor,
    k: int,
    seed: int = 1,
    iterations: int = 20,
    tolerance: float = 1e-4,
    init: str = "k-means++",
    chunk_size: int = DEFAULT_CHUNK,
    progress: bool = True,
    generator: Optional[torch.Generator] = None,
) -> KMeansResult:
    """A k-entry codebook for the rows of ``x``; the same seed and data give the same codebook."""
    if len(x) < k:
        raise ValueError(
            f"{len(x)} vectors cannot fit {k} codebook entries; use a smaller codebook or more data"
        )
    g = generator if generator is not None else torch.Generator().manual_seed(seed)
    if init == "k-means++":
        seeds = kmeans_plus_plus(x, k, g)
    elif init == "random":
        seeds = x[torch.randperm(len(x), generator=g)[:k]].float().clone()
    else:
        raise ValueError(f"unknown k-means initialisation {init!r} (k-means++ or random)")
    return lloyd(
        x,
        seeds,
        iterations=iterations,
        tolerance=tolerance,
        chunk_size=chunk_size,
        progress=progress,
    )
