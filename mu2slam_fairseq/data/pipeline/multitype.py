"""All corpora of a split, of every data type, as one fairseq dataset.

fairseq's ``EpochBatchIterator`` wants one dataset and batches of integer indices, so
``MultiTypeDataset`` puts the corpora side by side in one index space; its collater
groups a batch's examples by type and builds each type's views. Which indices form a
batch is the sampler's business (``batching.py``).
"""

from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
from fairseq.data import Dictionary

from ...objectives import DATA_TYPES
from ..io.cmvn import GlobalCmvn
from .data_config import CorpusConfig, DataConfig
from .datasets import (
    DATASET_CLASSES,
    Augment,
    ExampleDataset,
    SizedDataset,
    TextEncodeFn,
    UnitsFn,
    make_sample,
)
from .heap import release_freed_memory
from .sampling import Group
from .views import fairseq_sample


class MultiTypeDataset(SizedDataset):
    """The corpora of every data type in one index space.

    Position p belongs to the corpus whose offset range holds it; an index may also be
    virtual, ``draw * len(self) + p`` (see ``sampling.py``), and seeds that draw's masks.
    """

    def __init__(
        self,
        datasets: Sequence[ExampleDataset],
        temperatures: Optional[Dict[str, float]] = None,
        shard_counts: Optional[Dict[str, int]] = None,
    ):
        """``temperatures`` and ``shard_counts`` (how many shards the corpus has, of which
        ``datasets`` hold one) by corpus name; see ``sampling.group_probabilities``."""
        if not datasets:
            raise ValueError("no corpora")
        names = [d.name for d in datasets]
        if len(set(names)) != len(names):
            raise ValueError(f"corpus names must be unique, got {names}")
        self.datasets = list(datasets)
        self.temperatures = dict(temperatures or {})
        self.shard_counts = dict(shard_counts or {})
        for t in {d.data_type for d in datasets}:
            views = {tuple(d.views) for d in datasets if d.data_type == t}
            if len(views) > 1:
                raise ValueError(f"the {t} corpora must build the same views, got {sorted(views)}")
        self.offsets = np.cumsum([0] + [len(d) for d in datasets])
        self.sizes = np.concatenate([d.sizes for d in datasets])
        self.target_sizes = np.concatenate([d.target_sizes for d in datasets])
        for k, d in enumerate(self.datasets):  # views, so each size is held once
            lo, hi = self.offsets[k], self.offsets[k + 1]
            d.sizes, d.target_sizes = self.sizes[lo:hi], self.target_sizes[lo:hi]
        self.types = [t for t in DATA_TYPES if any(d.data_type == t for d in datasets)]

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def locate(self, index: int) -> Tuple[ExampleDataset, int]:
        """(corpus, row) of a (virtual) index."""
        pos = int(index) % len(self)
        k = int(np.searchsorted(self.offsets, pos, side="right")) - 1
        return self.datasets[k], pos - int(self.offsets[k])

    def type_of(self, index: int) -> str:
        return self.locate(index)[0].data_type

    def positions(self, data_type: str) -> np.ndarray:
        return np.concatenate(
            [
                np.arange(self.offsets[k], self.offsets[k + 1], dtype=np.int64)
                for k, d in enumerate(self.datasets)
                if d.data_type == data_type
            ]
        )

    def groups(self, data_type: str, positions: np.ndarray) -> List[Group]:
        """(corpus, language) groups of some positions of one type, for temperature
        sampling; each group's positions ascending, groups ordered by (corpus, language)."""
        out = []
        for k, d in enumerate(self.datasets):
            if d.data_type != data_type:
                continue
            lo, hi = self.offsets[k], self.offsets[k + 1]
            mine = np.sort(positions[(positions >= lo) & (positions < hi)])
            codes = d.lang_codes[mine - lo]
            order = np.argsort(codes, kind="stable")
            used, starts = np.unique(codes[order], return_index=True)
            for code, part in zip(used, np.split(mine[order], starts[1:])):
                out.append(Group(d.name, d.lang_names[int(code)], part.astype(np.int64)))
        return sorted(out, key=lambda g: (g.corpus, g.lang))

    def __getitem__(self, index: int) -> Optional[Dict]:
        d, row = self.locate(index)
        return d.item(row, int(index))

    def describe(self, index: int) -> str:
        """``manifest:line id 'x'`` of a (virtual) index, for messages."""
        d, row = self.locate(index)
        ex = d.examples[row]
        return f"{d.manifest}:{ex.line} id {ex.id!r}"

    def collater(self, samples: List[Dict]) -> Dict:
        """One batch: the views of every type present, plus counts (``make_sample``).

        A batch of one sequence-to-sequence view also carries that view as a standard
        fairseq sample (``id``, ``net_input``, ``target``).
        """
        samples = [s for s in samples if s is not None]  # examples that could not be loaded
        if not samples:
            return {}
        by_type: Dict[str, List[Dict]] = {}
        for s in samples:
            by_type.setdefault(s["type"], []).append(s)
        views: List[Dict] = []
        counts = {}
        for t in DATA_TYPES:
            if t in by_type:
                d = next(d for d in self.datasets if d.data_type == t)
                views.extend(d.collate_views(by_type[t]))
                counts[t] = len(by_type[t])
        batch = make_sample(views, counts)
        if len(views) == 1 and views[0]["seq2seq"]:
            batch.update(fairseq_sample(views[0]))
        return batch

    def set_epoch(self, epoch: int) -> None:
        super().set_epoch(epoch)
        for d in self.datasets:
            d.set_epoch(epoch)


def combine_corpora(
    cfg: DataConfig,
    split: str,
    make: Callable[[CorpusConfig, Any, Optional[Callable]], ExampleDataset],
    epoch: int = 1,
    types: Optional[Sequence[str]] = None,
) -> MultiTypeDataset:
    """The combined dataset of one split, from the corpora (of ``types``; default: all)
    that list it: ``make(corpus, manifest, transform)`` builds each one's dataset over its
    manifest (of a sharded corpus, the shard of ``epoch``), ``transform`` being the data
    config's global CMVN; temperatures and shard counts come from the config."""
    corpora = [c for c in cfg.corpora_for(split) if types is None or c.type in types]
    if not corpora:
        kind = f"{'/'.join(types)} " if types else ""
        raise ValueError(f"{cfg.path}: no {kind}corpus has a {split!r} split")
    transform: Optional[Callable] = (
        GlobalCmvn(cfg.features.global_cmvn) if cfg.features.global_cmvn else None
    )
    dataset = MultiTypeDataset(
        [make(c, c.shard(split, epoch), transform) for c in corpora],
        {c.name: c.temperature for c in corpora},
        {c.name: len(c.splits[split]) for c in corpora},
    )
    release_freed_memory()
    return dataset


def build_dataset(
    cfg: DataConfig,
    split: str,
    dictionary: Dictionary,
    encode: TextEncodeFn,
    seed: int = 1,
    units_for_features: Optional[UnitsFn] = None,
    augment: Optional[Augment] = None,
    epoch: int = 1,
) -> MultiTypeDataset:
    """The Mu2SLAM dataset of one split (``combine_corpora``); ``augment`` (e.g.
    SpecAugment, for training splits) applies to every speech input."""

    def make(c: CorpusConfig, manifest: Any, transform: Optional[Callable]) -> ExampleDataset:
        return DATASET_CLASSES[c.type](
            manifest,
            dictionary,
            encode,
            masking=cfg.masking,
            seed=seed,
            units_for_features=units_for_features,
            feature_transform=transform,
            src_lang=c.src_lang,
            tgt_lang=c.tgt_lang,
            views=c.views,
            name=c.name,
            augment=augment,
        )

    return combine_corpora(cfg, split, make, epoch)
