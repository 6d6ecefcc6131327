"""What the pre-training and fine-tuning tasks share: vocabulary, data config, batching,
SpecAugment on training splits, the dictionary in the checkpoint, and bf16 autocast.

The joint dictionary's symbols go into every checkpoint's task state, so that loading a
checkpoint with another vocabulary (fine-tuning, ``fairseq-generate``) fails with a
message that says which symbols differ (``compat.py``).

fairseq's ``--bf16`` means TPU and ``--amp``/``--fp16`` are CUDA-only, so mixed precision
on CPU comes from the task itself: ``--autocast-bf16`` wraps the forward pass and the
loss (never the backward or the optimizer, which stay in fp32 master weights) in
``torch.autocast`` on whatever device the model lives on.

A batch whose loss is not finite would put NaN into every weight at the next optimizer
step. ``train_step`` backpropagates an exact zero instead (so every parameter still gets
its gradient and data-parallel ranks stay in step), ``optimizer_step`` asks all ranks
whether any had such a batch and, if so, skips the step on all of them: the weights and
the optimizer state stay as they were, the update counter moves on. Each such batch is
logged as a warning and counted in the ``nonfinite_skipped`` metric; after
``--nonfinite-patience`` skipped updates in a row training stops with
``NonFiniteLossError``, since the model itself has then diverged.
"""

import contextlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import torch
from fairseq import metrics
from fairseq.data import Dictionary
from fairseq.distributed import utils as distributed_utils
from fairseq.dataclass import FairseqDataclass
from fairseq.optim.amp_optimizer import AMPOptimizer
from fairseq.tasks import FairseqTask
from omegaconf import II

from ..checkpoint_safety import install_checkpoint_safety
from ..criterions.terms import zero_loss
from ..data.pipeline.augment import SpecAugment
from ..data.pipeline.batching import build_batch_sampler, epoch_batch_iterator
from ..data.pipeline.data_config import DataConfig, load_data_config
from ..data.pipeline.multitype import MultiTypeDataset, build_dataset
from ..data.io.vocab import TextEncoder
from ..hardware import cpu_has_native_bf16
from ..objectives import DATA_TYPES
from .compat import DICTIONARY_KEY, CheckpointMismatchError, dictionary_difference

logger = logging.getLogger(__name__)
NONFINITE_KEY = "nonfinite_skipped"

install_checkpoint_safety()  # every use of the plugin imports the tasks: guard fairseq's checkpoint I/O from here on


@dataclass
class Mu2slamTaskConfig(FairseqDataclass):
    data: str = field(default="", metadata={"help": "the data folder (holds the data config)"})
    data_config: str = field(
        default="data.yaml",
        metadata={
            "help": "the data config YAML (corpora, vocabulary, tokenizer, batching), relative to DATA"
        },
    )
    max_source_positions: int = field(
        default=6000, metadata={"help": "longest encoder input (40 ms speech steps + text tokens)"}
    )
    max_target_positions: int = field(default=1024, metadata={"help": "longest decoder sequence"})
    autocast_bf16: bool = field(
        default=False,
        metadata={"help": "run forward and loss under bf16 autocast (CPU or GPU; fp32 weights)"},
    )
    nonfinite_patience: int = field(
        default=10,
        metadata={
            "help": "stop after this many updates in a row skipped for a non-finite loss (0: never stop)"
        },
    )
    seed: int = II("common.seed")


class NonFiniteLossError(ArithmeticError):
    """Too many updates in a row had a non-finite loss. Not a ``FloatingPointError``: on
    that, fairseq's trainer re-runs the batch under its NaN detector, which cannot hook
    this model's dict-valued outputs, and the message would be lost."""


class SplitEncoder:
    """``encode(text, lang)`` for the datasets; picklable, so data workers can use it."""

    def __init__(self, spm_model: Path, dictionary: Dictionary):
        self.spm_model, self.dictionary = spm_model, dictionary
        self._enc: Optional[TextEncoder] = None

    def __call__(self, text: str, lang: str) -> List[int]:
        if self._enc is None:
            self._enc = TextEncoder(self.spm_model, self.dictionary)
        return self._enc.encode(text)

    def __getstate__(self):
        return {"spm_model": self.spm_model, "dictionary": self.dictionary, "_enc": None}


class Mu2slamTaskBase(FairseqTask):
    cfg: Mu2slamTaskConfig
    data_types: Sequence[str] = DATA_TYPES  # the corpus types this task trains on
    # evaluation batches hold one type each, under the whole budget and encoder limit
    one_type_eval_batches = False

    def __init__(self, cfg: Mu2slamTaskConfig, data_cfg: DataConfig, dictionary: Dictionary):
        super().__init__(cfg)
        self.data_cfg, self.dictionary = data_cfg, dictionary
        self.encode = SplitEncoder(data_cfg.vocab.spm, dictionary) if data_cfg.vocab.spm else None
        self._tokenizer = None
        self._nonfinite_batches = (
            0  # this rank's batches with a non-finite loss in the current update
        )
        self.nonfinite_updates = 0  # updates skipped so far
        self._nonfinite_in_a_row = 0
        self._bf16_checked = False  # the CPU's bf16 support, checked once on the first autocast

    @classmethod
    def setup_task(cls, cfg: Mu2slamTaskConfig, **kwargs):
        if not cfg.data:
            raise ValueError("give the data folder as the first argument (DATA) of fairseq-train")
        data_cfg = cls.prepare_data_config(load_data_config(Path(cfg.data) / cfg.data_config))
        dictionary = Dictionary.load(str(data_cfg.vocab.dict))
        logger.info(f"joint dictionary: {len(dictionary)} symbols from {data_cfg.vocab.dict}")
        return cls(cfg, data_cfg, dictionary)

    @classmethod
    def prepare_data_config(cls, data_cfg: DataConfig) -> DataConfig:
        """Check (and, in subclasses, adapt) the data config for this task."""
        wrong = [f"{c.name} ({c.type})" for c in data_cfg.corpora if c.type not in cls.data_types]
        if wrong:
            raise ValueError(
                f"{data_cfg.path}: {cls.__name__} trains on {', '.join(cls.data_types)} corpora, not on {', '.join(wrong)}"
            )
        return data_cfg

    def state_dict(self) -> Dict[str, Any]:
        return {**super().state_dict(), DICTIONARY_KEY: list(self.dictionary.symbols)}

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        """Checkpoint task state: refuse a checkpoint trained over another dictionary."""
        state_dict = dict(state_dict)
        saved = state_dict.pop(DICTIONARY_KEY, None)
        if saved is not None:
            diff = dictionary_difference(saved, self.dictionary.symbols)
            if diff:
                raise CheckpointMismatchError(
                    f"the checkpoint does not fit the vocabulary of {self.data_cfg.path}: {diff}"
                )
        super().load_state_dict(state_dict)

    @property
    def source_dictionary(self) -> Dictionary:
        return self.dictionary

    @property
    def target_dictionary(self) -> Dictionary:
        return self.dictionary

    def max_positions(self):
        return self.cfg.max_source_positions, self.cfg.max_target_positions

    def units_for_features(self):
        """The speech tokenizer's on-the-fly function, loaded once, or None when not configured."""
        if self.data_cfg.speech_tokenizer is None:
            return None
        if self._tokenizer is None:
            from ..speech_tokenizer import load_tokenizer

            self._tokenizer = load_tokenizer(self.data_cfg.speech_tokenizer)
        return self._tokenizer.units_for_features

    def is_train_name(self, split: str) -> bool:
        return split.startswith("train")

    def augmentation(self) -> Optional[SpecAugment]:
        """SpecAugment of the data config (applied to training splits), or None."""
        return SpecAugment(self.data_cfg.specaugment) if self.data_cfg.specaugment else None

    def has_sharded_data(self, split: str) -> bool:
        """Sharded splits are loaded again every epoch (fairseq's trainer asks this)."""
        return self.data_cfg.sharded(split)

    def load_dataset(self, split: str, epoch: int = 1, combine: bool = False, **kwargs) -> None:
        self.datasets[split] = self.build_split(
            self.data_cfg, split, self.is_train_name(split), epoch
        )

    def build_split(
        self, data_cfg: DataConfig, split: str, train: bool, epoch: int = 1
    ) -> MultiTypeDataset:
        """The dataset of ``split`` of ``data_cfg`` (the shards of ``epoch``); training splits
        get the augmentation."""
        if self.encode is None:
            raise ValueError(f"{data_cfg.path}: vocab.spm is needed to encode texts")
        augment = self.augmentation() if train else None
        dataset = build_dataset(
            data_cfg,
            split,
            self.dictionary,
            self.encode,
            self.cfg.seed,
            self.units_for_features(),
            augment,
            epoch,
        )
        dataset.split, dataset.training = split, train
        logger.info(
            f"{split}: {len(dataset)} examples of types {dataset.types}"
            + (f", augmented with {augment}" if augment else "")
            + (f", shards of epoch {epoch}" if data_cfg.sharded(split) else "")
        )
        return dataset

    def is_train_split(self, dataset: MultiTypeDataset) -> bool:
        return bool(getattr(dataset, "training", False))

    def get_batch_iterator(
        self,
        dataset,
        max_tokens=None,
        max_sentences=None,
        max_positions=None,
        ignore_invalid_inputs=False,
        required_batch_size_multiple=1,
        seed=1,
        num_shards=1,
        shard_id=0,
        num_workers=0,
        epoch=1,
        data_buffer_size=0,
        disable_iterator_cache=False,
        skip_remainder_batch=False,
        grouped_shuffling=False,
        update_epoch_batch_itr=False,
    ):
        """One update holds a sub-batch of every data type, each under its own budget
        (``--max-tokens`` and ``--batch-size`` split over the types by share); with
        ``one_type_eval_batches``, an evaluation batch holds one type (``--batch-size``
        honoured)."""
        train = self.is_train_split(dataset)
        key = (id(dataset), num_shards, shard_id)
        if train and key in self.dataset_to_epoch_iter and not disable_iterator_cache:
            return self.dataset_to_epoch_iter[key]
        one_type = self.one_type_eval_batches and not train
        if one_type and isinstance(max_positions, tuple):
            max_positions = max_positions[0]
        sampler = build_batch_sampler(
            self.data_cfg,
            dataset,
            seed,
            train,
            max_tokens,
            num_shards,
            max_positions,
            one_type_per_batch=one_type,
            max_sentences=max_sentences,
        )
        itr = epoch_batch_iterator(
            dataset, sampler, seed, num_shards, shard_id, num_workers, epoch, data_buffer_size
        )
        if train:
            self.dataset_to_epoch_iter[key] = itr
        return itr

    def autocast(self, model, optimizer=None) -> contextlib.AbstractContextManager:
        if isinstance(optimizer, AMPOptimizer):  # fairseq's --amp (CUDA fp16)
            return torch.autocast(device_type="cuda", dtype=torch.float16)
        if not self.cfg.autocast_bf16:
            return contextlib.nullcontext()
        device = next(model.parameters()).device.type
        if device == "cpu" and not self._bf16_checked:
            self._bf16_checked = True
            if not cpu_has_native_bf16():
                logger.warning(
                    "--autocast-bf16: this CPU has no bf16 instructions (AVX-512 BF16 or AMX), so bf16 "
                    "matrix products run on a slow fallback, several times slower than fp32; drop the flag"
                )
        return torch.autocast(device_type=device, dtype=torch.bfloat16)

    def train_step(self, sample, model, criterion, optimizer, update_num, ignore_grad=False):
        model.train()
        model.set_num_updates(update_num)
        with self.autocast(model, optimizer):
            loss, sample_size, logging_output = criterion(model, sample)
        logging_output = dict(logging_output)
        skipped = 0
        if not torch.isfinite(loss).all():
            loss = zero_loss(model.parameters())  # not loss * 0: 0 * NaN is NaN
            if not ignore_grad:  # a dummy batch (fairseq's filler on an idle rank) is not counted
                skipped = 1
                self._nonfinite_batches += 1
                logger.warning(
                    f"update {update_num + 1}: non-finite loss on a batch of {sample.get('types', {})}: "
                    "its update is skipped (weights unchanged)"
                )
                logging_output, sample_size = {k: 0 for k in logging_output}, 0
        elif ignore_grad:
            loss *= 0
        logging_output[NONFINITE_KEY] = (
            skipped  # on every batch: ranks sum logging outputs key by key
        )
        optimizer.backward(loss)
        return loss, sample_size, logging_output

    def optimizer_step(self, optimizer, model, update_num) -> None:
        """The optimizer step, unless a rank had a batch with a non-finite loss (module doc)."""
        bad = self._nonfinite_batches
        self._nonfinite_batches = 0
        if distributed_utils.get_data_parallel_world_size() > 1:
            flag = torch.tensor([float(bad)], device=next(model.parameters()).device)
            bad = int(
                distributed_utils.all_reduce(
                    flag, group=distributed_utils.get_data_parallel_group()
                ).item()
            )
        if not bad:
            self._nonfinite_in_a_row = 0
            return super().optimizer_step(optimizer, model, update_num)
        self.nonfinite_updates += 1
        self._nonfinite_in_a_row += 1
        logger.warning(
            f"update {update_num + 1} skipped: {bad} batch(es) with a non-finite loss "
            f"({self.nonfinite_updates} update(s) skipped so far)"
        )
        patience = self.cfg.nonfinite_patience
        if patience and self._nonfinite_in_a_row >= patience:
            raise NonFiniteLossError(
                f"{self._nonfinite_in_a_row} updates in a row had a non-finite loss: the model has diverged "
                "(lower the learning rate, clip gradients, or resume from an earlier checkpoint)"
            )

    def reduce_metrics(self, logging_outputs, criterion) -> None:
        super().reduce_metrics(logging_outputs, criterion)
        skipped = sum(log.get(NONFINITE_KEY, 0) for log in logging_outputs)
        if skipped:
            metrics.log_scalar_sum(NONFINITE_KEY, skipped, priority=50, round=0)

    def valid_step(self, sample, model, criterion):
        model.eval()
        with torch.no_grad(), self.autocast(model):
            return criterion(model, sample)
