"""Bounded-memory statistics and samples over a stream of vectors.

Fitting must not hold a corpus in memory: feature statistics are running sums, and the
k-means training set is a uniform reservoir sample (Algorithm R) of at most
``capacity`` vectors, drawn with a seeded generator so that the same manifest and seed
give the same sample.
"""

from typing import Tuple

import numpy as np


class RunningStats:
    """Per-dimension mean and standard deviation, merged batch by batch (Chan et al.) in float64."""

    def __init__(self, dim: int):
        self.count = 0
        self.mean = np.zeros(dim, dtype=np.float64)
        self.m2 = np.zeros(dim, dtype=np.float64)

    def add(self, batch: np.ndarray) -> None:
        batch = np.asarray(batch, dtype=np.float64)
        n = len(batch)
        if n == 0:
            return
        b_mean = batch.mean(axis=0)
        b_m2 = ((batch - b_mean) ** 2).sum(axis=0)
        total = self.count + n
        delta = b_mean - self.mean
        self.mean = self.mean + delta * (n / total)
        self.m2 = self.m2 + b_m2 + delta**2 * (self.count * n / total)
        self.count = total

    def result(self, min_std: float = 1e-3) -> Tuple[np.ndarray, np.ndarray]:
        """(mean, std) as float32; std is floored so that constant dimensions do not explode."""
        if self.count == 0:
            raise ValueError("no vectors seen")
        std = np.sqrt(self.m2 / self.count)
        return self.mean.astype(np.float32), np.maximum(std, min_std).astype(np.float32)


class Reservoir:
    """A uniform random sample of at most ``capacity`` rows from a stream of row batches."""

    def __init__(self, capacity: int, seed: int):
        if capacity < 1:
            raise ValueError("the sample needs room for at least one vector")
        self.capacity = capacity
        self.seen = 0
        self.rng = np.random.default_rng(seed)
        self.store = None

    def add(self, batch: np.ndarray) -> None:
        batch = np.asarray(batch, dtype=np.float32)
        if len(batch) == 0:
            return
        if self.store is None:
            self.store = np.empty((self.capacity, batch.shape[1]), dtype=np.float32)
        fill = min(max(self.capacity - self.seen, 0), len(batch))
        self.store[self.seen : self.seen + fill] = batch[:fill]
        rest = batch[fill:]
        if len(rest):
            position = self.seen + fill + np.arange(len(rest))  # 0-based stream index of each row
            slot = self.rng.integers(0, position + 1)
            keep = np.nonzero(slot < self.capacity)[0]
            # Several rows of one batch may draw the same slot: the last one wins, as in a sequential pass.
            slots_rev = slot[keep][::-1]
            _, first_rev = np.unique(slots_rev, return_index=True)
            winners = keep[::-1][first_rev]
            self.store[slot[winners]] = rest[winners]
        self.seen += len(batch)

    def sample(self) -> np.ndarray:
        """The rows kept so far (a view; in stream order until the reservoir is full)."""
        if self.store is None:
            return np.empty((0, 0), dtype=np.float32)
        return self.store[: min(self.seen, self.capacity)]
