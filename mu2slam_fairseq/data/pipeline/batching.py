"""Every update holds a sub-batch of every data type present, in configured shares.

The batches are lists of indices of a ``MultiTypeDataset`` (``multitype.py``).
``MultiTypeBatchSampler`` is the ``batch_sampler`` callable that ``EpochBatchIterator``
calls once per epoch with ``(dataset, epoch)``; it returns that epoch's list of batches,
a deterministic function of (seed, epoch), so all data-parallel ranks agree and a resumed
run rebuilds the same epoch. For training, per data type:

1. a ``LanguageSampler`` (``sampling.py``) draws one *round* of as many examples as the
   type has (eligible ones: those that fit the type's token budget; rounded up to whole
   sub-batches under a sentence cap), with temperature over languages;
2. the round is sorted by size (random tie-break) and cut into sub-batches by fairseq's
   ``batch_by_size`` under the type's own budget (``TypeBudget``), and the sub-batches
   are shuffled.

An epoch has U updates: ``updates_per_epoch`` if set, else the largest number of
sub-batches any type's first round gives (the longest type is seen once), rounded up to
a multiple of the number of data-parallel ranks so that no rank receives an empty batch.
Update u concatenates the u-th sub-batch of every type; a type that runs out of
sub-batches draws another round (cycling its corpus), so an exhausted corpus never ends
the epoch for the others, and a type without corpora is simply absent from every batch.

For validation (``train=False``) every eligible example is used exactly once, without
temperature or repetition, in length-sorted sub-batches zipped across types; once a
type is exhausted, later batches lack it. With ``one_type_per_batch`` the sub-batches
follow each other instead (all of one type, then the next): every batch then holds one
view, which is also a standard fairseq sample (``views.fairseq_sample``), as generation
and sequence-level validation metrics need.

A task plugs this into fairseq in ``load_dataset`` (``multitype.build_dataset``) and in its own
``get_batch_iterator``, which ignores fairseq's sentence-level arguments in favour of the
per-type budgets::

    sampler = build_batch_sampler(cfg, dataset, seed, train=split == "train", max_tokens=max_tokens)
    return epoch_batch_iterator(dataset, sampler, seed, num_shards, shard_id, num_workers, epoch, data_buffer_size)
"""

import logging
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
from fairseq.data import FairseqDataset, data_utils, iterators

from ...objectives import DATA_TYPES
from .data_config import BatchingConfig, DataConfig
from .heap import release_freed_memory
from .multitype import MultiTypeDataset
from .sampling import LanguageSampler

logger = logging.getLogger(__name__)

_SAMPLER_SALT = 104729  # keeps the sampler's seeds apart from the masks' (seed, epoch, index)
MaxSize = Union[
    None, int, Tuple[Optional[int], Optional[int]]
]  # encoder, or (encoder, decoder) positions


@dataclass
class TypeBudget:
    """The limits of one type's sub-batch (fairseq's max_tokens / max_sentences)."""

    max_tokens: Optional[int] = None
    max_sentences: Optional[int] = None


def type_budgets(
    batching: BatchingConfig,
    types: Sequence[str],
    max_tokens: Optional[int] = None,
    max_sentences: Optional[int] = None,
) -> Dict[str, TypeBudget]:
    """Each present type's budget from the config.

    Tokens: ``max_tokens_per_type[t]``, else the shared budget (``max_tokens`` argument,
    e.g. fairseq's ``--max-tokens``, else ``batching.max_tokens``) times t's share of the
    present types' shares. Sentences: ``max_sentences_per_type[t]``, else the shared
    sentence budget ``max_sentences`` (fairseq's ``--batch-size``: examples per update)
    times t's share, else ``shares[t] * sentences_per_share``; when a type would have no
    limit at all, its sentence cap is its share (the paper's per-device batch sizes).
    """
    total_share = sum(batching.shares.get(t, 1.0) for t in types)
    shared = max_tokens if max_tokens is not None else batching.max_tokens
    out = {}
    for t in types:
        share = batching.shares.get(t, 1.0)
        tokens = batching.max_tokens_per_type.get(t)
        if tokens is None and shared is not None:
            tokens = max(1, int(shared * share / total_share))
        sentences = batching.max_sentences_per_type.get(t)
        if sentences is None and max_sentences is not None:
            sentences = max(1, int(round(max_sentences * share / total_share)))
        if sentences is None and batching.sentences_per_share is not None:
            sentences = max(1, int(round(share * batching.sentences_per_share)))
        if tokens is None and sentences is None:
            sentences = max(1, int(round(share)))
        out[t] = TypeBudget(tokens, sentences)
    return out


class MultiTypeBatchSampler:
    """``batch_sampler(dataset, epoch) -> [batch, ...]`` for ``EpochBatchIterator`` (see module doc)."""

    def __init__(
        self,
        dataset: MultiTypeDataset,
        budgets: Dict[str, TypeBudget],
        seed: int = 1,
        train: bool = True,
        updates_per_epoch: Optional[int] = None,
        num_shards: int = 1,
        max_size: MaxSize = None,
        one_type_per_batch: bool = False,
    ):
        """``max_size`` (the model's maximum positions: encoder, or (encoder, decoder) as
        fairseq passes them) drops longer examples, as the type budgets do; the skipped
        examples are counted in a warning that names the first. ``one_type_per_batch``
        (evaluation only) puts the types' sub-batches one after the other instead of
        zipping them."""
        if one_type_per_batch and train:
            raise ValueError(
                "one_type_per_batch is for evaluation: every training update holds every type"
            )
        self.dataset = dataset
        self.seed = seed
        self.train = train
        self.one_type_per_batch = one_type_per_batch
        self.updates_per_epoch = updates_per_epoch
        self.num_shards = num_shards
        missing = [t for t in dataset.types if t not in budgets]
        if missing:
            raise ValueError(f"no batch budget for data type(s) {missing}")
        self.budgets = {t: budgets[t] for t in dataset.types}
        source_limit, target_limit = max_size if isinstance(max_size, tuple) else (max_size, None)
        self.eligible: Dict[str, np.ndarray] = {}
        for t in dataset.types:
            pos = dataset.positions(t)
            limits = [x for x in (self.budgets[t].max_tokens, source_limit) if x is not None]
            limit = min(limits) if limits else None
            fits = np.ones(len(pos), dtype=bool)
            if limit is not None:
                fits &= dataset.sizes[pos] <= limit
            if target_limit is not None:
                fits &= dataset.target_sizes[pos] <= target_limit
            keep = pos[fits]
            what = f"{limit} encoder positions" + (
                f" or {target_limit} decoder positions" if target_limit is not None else ""
            )
            if len(keep) == 0:
                raise ValueError(f"no {t} example fits in {what} (e.g. {dataset.describe(pos[0])})")
            if len(keep) < len(pos):
                logger.warning(
                    f"{t}: skipped {len(pos) - len(keep)} of {len(pos)} examples longer than {what} "
                    f"(first: {dataset.describe(pos[~fits][0])})"
                )
            self.eligible[t] = keep
        self.groups = {t: dataset.groups(t, self.eligible[t]) for t in dataset.types}

    def round_size(self, t: str) -> int:
        """Draws per round: the type's size, rounded up to whole sub-batches when they are
        capped in sentences, so that cycling a small corpus never yields short sub-batches."""
        n, cap = len(self.eligible[t]), self.budgets[t].max_sentences
        return -(-n // cap) * cap if cap else n

    def _rng(self, epoch: int, t: str) -> np.random.Generator:
        return np.random.default_rng((self.seed, epoch, _SAMPLER_SALT, DATA_TYPES.index(t) + 1))

    def sub_batches(
        self, t: str, indices: np.ndarray, rng: Optional[np.random.Generator]
    ) -> List[np.ndarray]:
        """Length-bucketed sub-batches of (virtual) indices under type t's budget."""
        sizes = self.dataset.num_tokens_vec(indices)
        tie = rng.random(len(indices)) if rng is not None else np.arange(len(indices))
        order = np.lexsort((tie, sizes))
        budget = self.budgets[t]
        batches = data_utils.batch_by_size(
            indices[order],
            None,
            num_tokens_vec=sizes[order],
            max_tokens=budget.max_tokens,
            max_sentences=budget.max_sentences,
        )
        if rng is not None:
            batches = [batches[i] for i in rng.permutation(len(batches))]
        return batches

    def epoch_sub_batches(self, epoch: int) -> Dict[str, List[np.ndarray]]:
        """{type: its sub-batches of the epoch, one per update}."""
        if not self.train:
            return {t: self.sub_batches(t, self.eligible[t], None) for t in self.dataset.types}
        per_type, samplers = {}, {}
        for t in self.dataset.types:
            rng = self._rng(epoch, t)
            samplers[t] = (
                LanguageSampler(
                    self.groups[t],
                    self.dataset.temperatures,
                    len(self.dataset),
                    rng,
                    self.dataset.shard_counts,
                ),
                rng,
            )
            per_type[t] = self.sub_batches(t, samplers[t][0].draw(self.round_size(t)), rng)
        updates = self.updates_per_epoch or max(len(b) for b in per_type.values())
        updates = -(-updates // self.num_shards) * self.num_shards
        for t, batches in per_type.items():
            sampler, rng = samplers[t]
            while len(batches) < updates:
                batches.extend(self.sub_batches(t, sampler.draw(self.round_size(t)), rng))
            del batches[updates:]
        return per_type

    def __call__(
        self, dataset: Optional[FairseqDataset] = None, epoch: int = 1
    ) -> List[np.ndarray]:
        per_type = self.epoch_sub_batches(epoch)
        if self.one_type_per_batch:
            return [np.asarray(b, dtype=np.int64) for batches in per_type.values() for b in batches]
        n = max(len(b) for b in per_type.values())
        batches = [
            np.concatenate([b[u] for b in per_type.values() if u < len(b)]).astype(np.int64)
            for u in range(n)
        ]
        del per_type
        release_freed_memory()  # the epoch's temporary arrays
        return batches


def build_batch_sampler(
    cfg: DataConfig,
    dataset: MultiTypeDataset,
    seed: int = 1,
    train: bool = True,
    max_tokens: Optional[int] = None,
    num_shards: int = 1,
    max_size: MaxSize = None,
    one_type_per_batch: bool = False,
    max_sentences: Optional[int] = None,
) -> MultiTypeBatchSampler:
    """The sampler of a split; ``max_tokens`` and ``max_sentences`` (fairseq's ``--max-tokens``
    and ``--batch-size``) are shared budgets that override the config's.

    Training splits them over the types by share (``type_budgets``). With
    ``one_type_per_batch`` (evaluation) a batch holds one type only, so each type may use
    the whole of ``max_tokens`` and ``max_sentences``.
    """
    if one_type_per_batch and (max_tokens is not None or max_sentences is not None):
        budgets = {t: TypeBudget(max_tokens, max_sentences) for t in dataset.types}
    else:
        budgets = type_budgets(cfg.batching, dataset.types, max_tokens, max_sentences)
    return MultiTypeBatchSampler(
        dataset,
        budgets,
        seed,
        train,
        cfg.batching.updates_per_epoch,
        num_shards,
        max_size,
        one_type_per_batch,
    )


def epoch_batch_iterator(
    dataset: MultiTypeDataset,
    sampler: MultiTypeBatchSampler,
    seed: int = 1,
    num_shards: int = 1,
    shard_id: int = 0,
    num_workers: int = 0,
    epoch: int = 1,
    buffer_size: int = 0,
) -> iterators.EpochBatchIterator:
    """fairseq's iterator over the sampler's batches, sharded across data-parallel ranks."""
    sampler.num_shards = num_shards
    return iterators.EpochBatchIterator(
        dataset=dataset,
        collate_fn=dataset.collater,
        batch_sampler=sampler,
        seed=seed,
        num_shards=num_shards,
        shard_id=shard_id,
        num_workers=num_workers,
        epoch=epoch,
        buffer_size=buffer_size,
        disable_shuffling=not sampler.train,
    )
