"""Task ``mu2slam_finetune``: direct, gradual and noisy fine-tuning (paper §2.4), and
``fairseq-generate`` on our manifests.

    fairseq-train DATA --user-dir mu2slam_fairseq --task mu2slam_finetune \\
        --criterion mu2slam_seq2seq --arch mu2slam_tiny --finetune-from-model pretrain.pt \\
        --synonym-noise 0.06 --eval-bleu --best-checkpoint-metric bleu --maximize-best-checkpoint-metric ...
    fairseq-generate DATA --user-dir mu2slam_fairseq --task mu2slam_finetune \\
        --gen-subset test_st_nl_en --path checkpoint_best.pt --scoring sacrebleu

DATA holds a data config in the pre-training format with corpora of type ast, asr, mt
(sequence-to-sequence) or t2t (text understanding as text -> text). One corpus type gives
direct fine-tuning; several give multi-task fine-tuning with the data config's batch
shares (paper: ``shares: {ast: 4, asr: 2, mt: 2}``), the first stage of gradual
fine-tuning, whose second stage is a run on one type from the first stage's checkpoint.
Only the forward views (speech -> text, source -> target, input -> output) are built and
nothing is masked, whatever the config's ``masking`` and ``views`` say otherwise, so no
``<mask>`` ever reaches the model and no speech tokenizer is needed.

Noisy fine-tuning: ``specaugment`` in the data config (training splits only) and
``--synonym-noise P``: every non-special decoder input token of a training batch is, with
probability P, replaced by one of its ``--synonym-noise-k`` nearest neighbours (cosine) in
the current decoder embedding matrix, the table refreshed every
``--synonym-noise-refresh`` updates; targets are never touched.

Evaluation splits are batched one data type at a time, so each batch is also a standard
fairseq sample. A generation subset (``--gen-subset``) is a split of the data config, or
a manifest (``subsets.py``); generation's additions to fairseq are in ``decoding.py``.
"""

import json
import logging
import os
from argparse import Namespace
from dataclasses import dataclass, field, replace
from typing import Dict, List, Optional, Tuple

import torch
from fairseq.tasks import register_task
from omegaconf import II

from ..data.pipeline.data_config import DataConfig
from ..data.io.detok import PieceCodec
from ..data.pipeline.masking import MaskConfig
from ..data.pipeline.synonym_noise import SynonymNoise
from ..data.pipeline.views import fairseq_sample
from ..objectives import finetune_types, finetune_view, objective
from ..symbols import is_special
from .base import Mu2slamTaskBase, Mu2slamTaskConfig
from .compat import check_checkpoint
from .decoding import asr_generator, detokenized, speech_length_budget
from .subsets import resolve_subset, split_names
from .validation import empty_stats, reduce_sequence_metrics, sequence_stats

logger = logging.getLogger(__name__)


@dataclass
class Mu2slamFinetuneConfig(Mu2slamTaskConfig):
    synonym_noise: float = field(
        default=0.0,
        metadata={
            "help": "probability of replacing a decoder input token by a synonym (paper: 0.06)"
        },
    )
    synonym_noise_k: int = field(
        default=8, metadata={"help": "synonyms: the k nearest neighbours by cosine"}
    )
    synonym_noise_refresh: int = field(
        default=100, metadata={"help": "recompute the neighbour table every N updates"}
    )
    eval_bleu: bool = field(
        default=False, metadata={"help": "validation BLEU (sacreBLEU) on AST and MT data"}
    )
    eval_wer: bool = field(default=False, metadata={"help": "validation WER on ASR data"})
    eval_accuracy: bool = field(
        default=False, metadata={"help": "validation exact-match accuracy on t2t data"}
    )
    eval_gen_args: str = field(
        default='{"beam": 1}',
        metadata={
            "help": 'generation settings of validation metrics as JSON, e.g. \'{"beam": 4, "max_len_b": 100}\''
        },
    )
    ctc_decoding_weight: float = field(
        default=0.0,
        metadata={
            "help": "ASR generation: weight λ of the CTC head's prefix score beside the decoder in beam search "
            "(joint CTC/attention decoding, e.g. 0.3); 0: the decoder alone"
        },
    )
    ctc_greedy: bool = field(
        default=False,
        metadata={"help": "ASR generation: the CTC head's best path, without the decoder"},
    )
    eval_print_samples: bool = field(
        default=False, metadata={"help": "log a hypothesis and its reference per batch"}
    )
    finetune_from_model: Optional[str] = II("checkpoint.finetune_from_model")


@register_task("mu2slam_finetune", dataclass=Mu2slamFinetuneConfig)
class Mu2slamFinetuneTask(Mu2slamTaskBase):
    cfg: Mu2slamFinetuneConfig
    data_types = finetune_types()
    one_type_eval_batches = True

    def __init__(self, cfg: Mu2slamFinetuneConfig, data_cfg: DataConfig, dictionary):
        super().__init__(cfg, data_cfg, dictionary)
        self.synonym_noise: Optional[SynonymNoise] = None
        if cfg.synonym_noise > 0:
            special = torch.tensor([is_special(dictionary, i) for i in range(len(dictionary))])
            self.synonym_noise = SynonymNoise(
                special, cfg.synonym_noise, cfg.synonym_noise_k, cfg.synonym_noise_refresh
            )
        self.sequence_generator = None
        self.bpe = PieceCodec(data_cfg.vocab.spm, dictionary) if data_cfg.vocab.spm else None
        self.metric_names = self._metric_names()

    # ---- data ----------------------------------------------------------------------
    @classmethod
    def prepare_data_config(cls, data_cfg: DataConfig) -> DataConfig:
        """Forward views only and no masks (see the module doc)."""
        data_cfg = super().prepare_data_config(data_cfg)
        corpora = []
        for c in data_cfg.corpora:
            forward = finetune_view(c.type).name
            if c.views is not None and c.views != [forward]:
                raise ValueError(
                    f"{data_cfg.path}: corpus {c.name}: fine-tuning trains the forward view {forward} only, "
                    f"not {c.views}; drop the views key"
                )
            corpora.append(replace(c, views=[forward]))
        masking = MaskConfig(
            speech_ratio=0.0, speech_span=data_cfg.masking.speech_span, text_ratio=0.0, mt_ratio=0.0
        )
        return replace(data_cfg, corpora=corpora, masking=masking)

    def load_dataset(self, split: str, epoch: int = 1, combine: bool = False, **kwargs) -> None:
        if split in split_names(self.data_cfg):
            return super().load_dataset(split, epoch, combine, **kwargs)
        corpus, path = resolve_subset(self.data_cfg, self.cfg.data, split)
        data_cfg = replace(self.data_cfg, corpora=[replace(corpus, splits={split: (path,)})])
        self.datasets[split] = self.build_split(data_cfg, split, train=False)

    # ---- model ---------------------------------------------------------------------
    def build_model(self, cfg, from_checkpoint: bool = False):
        """Refuse a ``--finetune-from-model`` checkpoint of another vocabulary or architecture."""
        model = super().build_model(cfg, from_checkpoint)
        path = self.cfg.finetune_from_model
        if path and not from_checkpoint and os.path.exists(path):
            # the built model's config holds the architecture's values, whatever the caller set
            check_checkpoint(path, self.dictionary.symbols, getattr(model, "cfg", cfg))
        if self.metric_names:
            self.sequence_generator = self.build_generator(
                [model], Namespace(**json.loads(self.cfg.eval_gen_args))
            )
        return model

    def build_generator(self, models, args, seq_gen_cls=None, extra_gen_cls_kwargs=None, **kwargs):
        """fairseq's generator; with ``--ctc-greedy`` or ``--ctc-decoding-weight`` it also
        carries the one that ``inference_step`` uses on ASR batches (``asr_generator``)."""
        build = super().build_generator
        generator = build(models, args, seq_gen_cls, extra_gen_cls_kwargs, **kwargs)
        asr = asr_generator(
            models,
            args,
            self.target_dictionary,
            self.cfg.ctc_greedy,
            self.cfg.ctc_decoding_weight,
            lambda ensemble: build(ensemble, args, seq_gen_cls, extra_gen_cls_kwargs, **kwargs),
        )
        if asr is not None:
            generator.asr_generator = asr
        return generator

    def build_bpe(self, args=None) -> Optional[PieceCodec]:
        """fairseq-generate's detokenizer: symbols -> SentencePiece pieces -> text."""
        return self.bpe

    # ---- training ------------------------------------------------------------------
    def train_step(self, sample, model, criterion, optimizer, update_num, ignore_grad=False):
        if self.synonym_noise is not None and sample and "views" in sample:
            sample = self.add_synonym_noise(sample, model, update_num)
        return super().train_step(sample, model, criterion, optimizer, update_num, ignore_grad)

    def add_synonym_noise(self, sample: Dict, model, update_num: int) -> Dict:
        """A copy of ``sample`` whose decoder inputs carry synonym noise; targets are shared, unchanged."""
        weight = model.decoder.embed_tokens.weight
        rank = torch.distributed.get_rank() if torch.distributed.is_initialized() else 0
        generator = torch.Generator().manual_seed(
            hash((self.cfg.seed, update_num, rank)) & 0x7FFFFFFFFFFFFFFF
        )
        views = []
        for view in sample["views"]:
            decoders = [
                dict(
                    dec,
                    prev_output_tokens=self.synonym_noise(
                        dec["prev_output_tokens"], weight, update_num, generator
                    ),
                )
                for dec in view["decoders"]
            ]
            views.append(dict(view, decoders=decoders))
        noisy = dict(sample, views=views)
        if "net_input" in sample:
            noisy.update(fairseq_sample(views[0]))
        return noisy

    # ---- validation and generation -------------------------------------------------
    def _metric_names(self) -> List[str]:
        """Derived validation metrics: pooled per metric, and per type when types share one."""
        enabled = {
            "bleu": self.cfg.eval_bleu,
            "wer": self.cfg.eval_wer,
            "accuracy": self.cfg.eval_accuracy,
        }
        types = {
            c.type
            for c in self.data_cfg.corpora
            if any(not self.is_train_name(s) for s in c.splits)
        }
        names = []
        for metric, on in enabled.items():
            sharing = sorted(t for t in types if finetune_view(t).finetune_metric == metric)
            if on:
                names.append(metric)
                if len(sharing) > 1:
                    names += [f"{t}_{metric}" for t in sharing]
        return names

    def valid_step(self, sample, model, criterion):
        loss, sample_size, log = super().valid_step(sample, model, criterion)
        if self.sequence_generator is not None and sample and "views" in sample:
            log.update(empty_stats(self.metric_names))
            for view in sample["views"]:
                metric = objective(view["name"]).finetune_metric
                if metric not in self.metric_names:
                    continue
                hyps, refs = self.generate_view(model, view)
                prefixes = [""] + (
                    [f"{view['type']}_"] if f"{view['type']}_{metric}" in self.metric_names else []
                )
                log.update(sequence_stats(metric, hyps, refs, prefixes))
                if self.cfg.eval_print_samples and hyps:
                    logger.info(f"{view['name']} hypothesis: {hyps[0]}")
                    logger.info(f"{view['name']} reference:  {refs[0]}")
        return loss, sample_size, log

    def generate_view(self, model, view: Dict) -> Tuple[List[str], List[str]]:
        """Detokenized (hypotheses, references) of one view, as fairseq-generate prints them."""
        if self.bpe is None:
            raise ValueError(
                f"{self.data_cfg.path}: vocab.spm is needed to detokenize generated text"
            )
        gen = self.sequence_generator
        sample = fairseq_sample(view)
        hypos = self.inference_step(gen, [model], sample)
        strip = getattr(gen, "symbols_to_strip_from_output", {self.dictionary.eos()})
        return detokenized(hypos, sample["target"], self.dictionary, self.bpe, strip)

    def inference_step(self, generator, models, sample, prefix_tokens=None, constraints=None):
        """Generation where ``max_len_a`` counts the 40 ms speech steps as source length
        (``speech_length_budget``), with the ASR generator on ASR batches (``build_generator``)."""
        if sample.get("type") == "asr" and hasattr(generator, "asr_generator"):
            if prefix_tokens is not None:
                raise ValueError(
                    "--prefix-size forces decoder tokens that the CTC head never scored: "
                    "drop it with --ctc-decoding-weight or --ctc-greedy"
                )
            generator = generator.asr_generator
        with speech_length_budget(generator, sample):
            return super().inference_step(generator, models, sample, prefix_tokens, constraints)

    def reduce_metrics(self, logging_outputs, criterion) -> None:
        super().reduce_metrics(logging_outputs, criterion)
        reduce_sequence_metrics(logging_outputs, self.metric_names)
