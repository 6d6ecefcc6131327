"""Temperature sampling of examples across the languages of one data type.

Inside one corpus, language l is drawn with probability q(l) ∝ (n_l / n)^(1/T) (paper
§3.1: T = 3 for text, T = 2 for MT; T = 1 keeps the data's own shares, T → ∞ tends to
uniform). Several corpora of the same data type are mixed in proportion to their sizes,
so with one corpus per type (the usual case) p_l is exactly the formula above; with
several, p(corpus, l) = n_corpus / N_type · q_corpus(l). A corpus read one shard per epoch
weighs its shard's rows times its number of shards (its equal shards' total).

Examples of a language are drawn without replacement, one random permutation ("pass")
after another, so an up-sampled language repeats its examples as evenly as possible and
a down-sampled one shows different examples from round to round. Each draw is returned as
a *virtual index* ``pass * period + position``: the same example drawn twice in one epoch
gets two different virtual indices, hence two different masks (masks are seeded by
index), and ``virtual % period`` recovers the example.
"""

from dataclasses import dataclass, field
from typing import Dict, Optional, Sequence

import numpy as np

from ..io.vocab import temperature_probs


@dataclass
class Group:
    """The examples of one language of one corpus, by position in the combined dataset."""

    corpus: str
    lang: str
    positions: np.ndarray


def group_probabilities(
    groups: Sequence[Group],
    temperatures: Dict[str, float],
    shard_counts: Optional[Dict[str, int]] = None,
) -> np.ndarray:
    """p(group) = n_corpus / N · q_corpus(lang), q_corpus from the corpus's temperature;
    n_corpus counts ``shard_counts[corpus]`` (default 1) shards like the one at hand."""
    sizes: Dict[str, int] = {}
    for g in groups:
        shards = (shard_counts or {}).get(g.corpus, 1)
        sizes[g.corpus] = sizes.get(g.corpus, 0) + len(g.positions) * shards
    total = sum(sizes.values())
    probs = np.zeros(len(groups))
    for corpus, n_corpus in sizes.items():
        members = [i for i, g in enumerate(groups) if g.corpus == corpus]
        q = temperature_probs(
            {i: len(groups[i].positions) for i in members}, temperatures.get(corpus, 1.0)
        )
        for i in members:
            probs[i] = n_corpus / total * q.get(i, 0.0)
    return probs / probs.sum()


@dataclass
class _Stream:
    positions: np.ndarray
    order: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    cursor: int = 0
    passes: int = -1


class LanguageSampler:
    """Draws virtual indices of one data type with temperature over its languages.

    State (the permutation and pass of each group) lives for one epoch: create one
    sampler per (epoch, data type) from a generator seeded by both.
    """

    def __init__(
        self,
        groups: Sequence[Group],
        temperatures: Dict[str, float],
        period: int,
        rng: np.random.Generator,
        shard_counts: Optional[Dict[str, int]] = None,
    ):
        if not groups:
            raise ValueError("no examples to sample from")
        self.groups = list(groups)
        self.probs = group_probabilities(self.groups, temperatures, shard_counts)
        self.period = period
        self.rng = rng
        self.streams = [_Stream(g.positions) for g in self.groups]

    def _take(self, stream: _Stream, count: int) -> np.ndarray:
        out = []
        while count > 0:
            if stream.cursor >= len(stream.order):
                stream.order = self.rng.permutation(stream.positions)
                stream.cursor = 0
                stream.passes += 1
            take = min(count, len(stream.order) - stream.cursor)
            chunk = stream.order[stream.cursor : stream.cursor + take]
            out.append(stream.passes * self.period + chunk)
            stream.cursor += take
            count -= take
        return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)

    def draw(self, count: int) -> np.ndarray:
        """``count`` virtual indices: group counts ~ Multinomial(count, p), then each group's stream."""
        counts = self.rng.multinomial(count, self.probs)
        drawn = [self._take(s, int(c)) for s, c in zip(self.streams, counts) if c]
        out = np.concatenate(drawn) if drawn else np.zeros(0, dtype=np.int64)
        return out[self.rng.permutation(len(out))]
