"""Nearest codebook entry (paper Eq. 1), batched and exact.

Distances use ||x||^2 - 2 x.c + ||c||^2 so the work is one float32 matrix product per
chunk of rows (chunks bound the memory of the (rows, entries) distance matrix). A
float32 product is rounded differently depending on how the BLAS library splits it
(thread count, matrix shape), which could flip the answer for a vector almost
equidistant from two entries. So when the two smallest float32 distances of a vector
lie within a rigorous rounding-error bound of each other, every entry within that
bound of the minimum is re-scored exactly in float64 and the lowest index among the
exact minima wins: the ids are the same in every process,
thread count and batch composition, at the cost of a top-2 instead of a minimum.
"""

from typing import Optional, Tuple

import numpy as np
import torch

DEFAULT_CHUNK = 4096
_EPS32 = torch.finfo(torch.float32).eps


def error_bound(dim: int) -> float:
    """Relative bound (times ||x||^2 + ||c||^2) on the float32 error of a distance in ``dim`` dims."""
    # |fl(x.c) - x.c| <= dim * eps * |x||c| for any summation order; 2|x||c| <= |x|^2 + |c|^2.
    # A factor 4 covers the rounding of the norms and of the final sums.
    return 4.0 * (dim + 2) * _EPS32


def _refine(
    x: torch.Tensor, codebook: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor
) -> torch.Tensor:
    """Exact float64 winner among candidate (row, entry) pairs; rows sorted, one group per row."""
    diff = x[rows].double() - codebook[cols].double()
    dist = (diff * diff).sum(dim=1)
    # Sort by (row, distance, entry): the first pair of each row is its exact, lowest-index winner.
    order = torch.from_numpy(np.lexsort((cols.numpy(), dist.numpy(), rows.numpy())))
    rows_s, cols_s = rows[order], cols[order]
    first = torch.ones_like(rows_s, dtype=torch.bool)
    first[1:] = rows_s[1:] != rows_s[:-1]
    return cols_s[first]


@torch.inference_mode()
def nearest(
    x: torch.Tensor,
    codebook: torch.Tensor,
    codebook_sq: Optional[torch.Tensor] = None,
    chunk_size: int = DEFAULT_CHUNK,
    return_distance: bool = False,
) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
    """Index of the nearest codebook row for each row of ``x`` (and optionally its squared distance)."""
    if x.dim() != 2 or codebook.dim() != 2 or x.shape[1] != codebook.shape[1]:
        raise ValueError(
            f"vectors {tuple(x.shape)} and codebook {tuple(codebook.shape)} do not match"
        )
    x = x.float().contiguous()
    codebook = codebook.float().contiguous()
    if codebook_sq is None:
        codebook_sq = (codebook * codebook).sum(dim=1)
    c_sq_max = float(codebook_sq.max()) if len(codebook_sq) else 0.0
    rel = error_bound(x.shape[1])
    ids = torch.empty(x.shape[0], dtype=torch.long)
    dists = torch.empty(x.shape[0], dtype=torch.float32) if return_distance else None
    for start in range(0, x.shape[0], chunk_size):
        xs = x[start : start + chunk_size]
        x_sq = (xs * xs).sum(dim=1)
        d = torch.addmm(codebook_sq.unsqueeze(0), xs, codebook.t(), alpha=-2.0)
        if d.shape[1] > 1:
            top, top_idx = d.topk(2, dim=1, largest=False)
            best, arg = top[:, 0], top_idx[:, 0]
            tol = (x_sq + c_sq_max) * rel
            ambiguous = (top[:, 1] - best) <= tol
            if bool(ambiguous.any()):
                rows_local = ambiguous.nonzero().squeeze(1)
                near = d[rows_local] <= (best[rows_local] + tol[rows_local]).unsqueeze(1)
                r, c = near.nonzero(as_tuple=True)
                arg[rows_local] = _refine(xs, codebook, rows_local[r], c)
        else:
            best, arg = d[:, 0], torch.zeros(len(xs), dtype=torch.long)
        ids[start : start + len(xs)] = arg
        if dists is not None:
            dists[start : start + len(xs)] = (
                x_sq + d.gather(1, arg.unsqueeze(1)).squeeze(1)
            ).clamp_(min=0)
    return ids, dists
