"""Deterministic splits by group (level, campaign) and the held-out sentence check.

The same dialogue line is recorded in two languages and translated into a dozen, and the
same English line can occur in several levels; so splits are made per group, and every
training row whose text (after normalisation) occurs anywhere in dev or test is dropped.
"""

import hashlib
import unicodedata
from typing import Dict, Iterable, List, Sequence, Set

SPLITS = ("train", "dev", "test")


def normalize(text: str) -> str:
    """The comparison key of a sentence: NFKC, case-folded, whitespace collapsed."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def stable_hash(*parts: str) -> int:
    """A hash that does not change between runs or machines (unlike ``hash()``)."""
    return int.from_bytes(hashlib.sha256("\x1f".join(parts).encode("utf-8")).digest()[:8], "big")


def split_groups(
    names: Iterable[str], seed: int, dev_share: float = 0.1, test_share: float = 0.1
) -> Dict[str, List[str]]:
    """Assign each group name to train/dev/test: sorted names, ordered by a seeded hash.

    At least one group goes to dev and one to test when there are three or more groups.
    """
    names = sorted(set(names))
    order = sorted(names, key=lambda n: (stable_hash(str(seed), n), n))
    n = len(order)
    n_test = max(1, round(n * test_share)) if n >= 3 else 0
    n_dev = max(1, round(n * dev_share)) if n >= 3 else 0
    test, dev = order[:n_test], order[n_test : n_test + n_dev]
    train = order[n_test + n_dev :]
    return {"train": sorted(train), "dev": sorted(dev), "test": sorted(test)}


def group_split(splits: Dict[str, Sequence[str]]) -> Dict[str, str]:
    """``{group: split}`` from ``{split: [groups]}``."""
    return {g: s for s, groups in splits.items() for g in groups}


class HeldOut:
    """Normalised sentences of the dev and test material; training rows must avoid them."""

    def __init__(self) -> None:
        self._keys: Set[str] = set()

    def add(self, *texts: str) -> None:
        for t in texts:
            if t and t.strip():
                self._keys.add(normalize(t))

    def hits(self, *texts: str) -> bool:
        """True if any of ``texts`` is a held-out sentence."""
        return any(t and normalize(t) in self._keys for t in texts)

    def __len__(self) -> int:
        return len(self._keys)
