"""Mask samplers for the Mu2SLAM objectives (paper §2.3, §3.2).

Every sampler is a pure function of a length, a ratio and a ``numpy.random.Generator``;
the generator of an example comes from ``item_rng(seed, epoch, index)``, so masks are
reproducible from the training seed, differ from epoch to epoch and from example to
example, and never touch NumPy's global random state (data loader workers stay
independent of each other and of the model's own randomness).

How many positions are masked (both samplers)::

    k = clip(floor(ratio * n + 0.5), 1, n)   if ratio > 0 and n > 0,   else 0

so the realised ratio of a sequence is the configured one up to rounding, and every
non-empty sequence under a non-zero ratio has at least one prediction target.

Speech (``span_mask``): the k masked steps are cut into spans of ``max_span`` steps
(the last one shorter when ``max_span`` does not divide k), in random order. The spans are
laid out on a circle of the n steps, each in its own gap between two of the n - k
unmasked steps (the gaps chosen uniformly without replacement), and the circle is cut at
a uniformly random step. Consequences: exactly k steps are masked; every masked run has
at most ``max_span`` steps (a span the cut falls into becomes two shorter runs at the two
ends) and runs never touch; and, the layout being invariant under rotation, every step is
masked with the same probability k / n, the first and last steps included (placing spans
on a line instead under-masks both ends). When the spans outnumber the gaps, which needs a
ratio close to 1 on a short sequence, gaps are chosen with replacement; runs may then
merge, k is still exact.

Text (``contiguous_mask``): one span of k tokens starting uniformly in [0, n - k].
"""

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch


@dataclass
class MaskConfig:
    """Mask ratios of every objective; the paper's values are the defaults."""

    speech_ratio: float = 0.5  # speech inputs of every objective (about 50%, paper §3.2)
    speech_span: int = 10  # longest masked run of 40 ms steps
    text_ratio: float = 0.5  # text-only data and the text side of speech-text pairs
    mt_ratio: float = 0.25  # both sides of MT pairs
    # ℓ_p's targets: 0 predicts the whole target y (Eq. 4); r > 0 masks a share r of y,
    # feeds the decoder y^¬m and predicts the masked positions (Eq. 6's t^¬m, z^¬m, v^¬m)
    paired_target_ratio: float = 0.0

    def __post_init__(self) -> None:
        for name in ("speech_ratio", "text_ratio", "mt_ratio", "paired_target_ratio"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"masking {name} must be in [0, 1], got {value}")
        if self.speech_span < 1:
            raise ValueError(f"masking speech_span must be >= 1, got {self.speech_span}")


def item_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    """The generator of one example in one epoch: fairseq's (seed, epoch, index) convention."""
    return np.random.default_rng((int(seed), int(epoch), int(index)))


def mask_count(n: int, ratio: float) -> int:
    """Number of masked positions of a length-n sequence (see the module docstring)."""
    if n <= 0 or ratio <= 0:
        return 0
    return int(min(n, max(1, np.floor(ratio * n + 0.5))))


def span_mask(n: int, ratio: float, max_span: int, rng: np.random.Generator) -> np.ndarray:
    """Speech mask: exactly ``mask_count(n, ratio)`` steps in separated runs of <= max_span."""
    k = mask_count(n, ratio)
    if k == 0 or k == n:
        return np.full(n, k == n, dtype=bool)
    spans = [max_span] * (k // max_span) + ([k % max_span] if k % max_span else [])
    spans = [spans[i] for i in rng.permutation(len(spans))]
    gaps = n - k  # on a circle: one gap after each unmasked step
    slots = np.sort(rng.choice(gaps, size=len(spans), replace=len(spans) > gaps))
    circle = np.zeros(n, dtype=bool)
    before = 0  # masked steps laid out so far
    for slot, length in zip(slots, spans):
        start = int(slot) + 1 + before  # after the slot-th unmasked step
        circle[start : start + length] = True
        before += length
    return np.roll(circle, int(rng.integers(n)))


def contiguous_mask(n: int, ratio: float, rng: np.random.Generator) -> np.ndarray:
    """Text mask: one contiguous span of ``mask_count(n, ratio)`` tokens."""
    mask = np.zeros(n, dtype=bool)
    k = mask_count(n, ratio)
    if k:
        start = int(rng.integers(0, n - k + 1))
        mask[start : start + k] = True
    return mask


def apply_mask(tokens: torch.Tensor, mask: torch.Tensor, mask_index: int) -> torch.Tensor:
    """x^m: masked positions replaced by ``<mask>``."""
    return torch.where(mask, torch.full_like(tokens, mask_index), tokens)


def apply_complement(tokens: torch.Tensor, mask: torch.Tensor, mask_index: int) -> torch.Tensor:
    """x^¬m: the *unmasked* positions replaced by ``<mask>`` (the complementary mask)."""
    return torch.where(mask, tokens, torch.full_like(tokens, mask_index))


def measured_ratio(masks: Sequence[np.ndarray]) -> float:
    """Masked positions over all positions of a batch of masks."""
    total = sum(len(m) for m in masks)
    return float(sum(int(np.sum(m)) for m in masks)) / total if total else 0.0
