"""Named architectures of the mu2slam model (``--arch``).

- ``mu2slam_base``: the paper's model (§3.2): 24 Conformer layers, width 1024, FFN 4096,
  kernel 5, 8 heads; 6 Transformer decoder layers of the same width. About 0.6B
  parameters in the encoder, 0.7B in all with a 4k character vocabulary
  (``python -m mu2slam_fairseq.models.describe mu2slam_base``).
- ``mu2slam_small``: width 512, 12 Conformer + 4 decoder layers (about 0.1B), for one GPU.
- ``mu2slam_tiny``: width 192, 4 Conformer + 2 decoder layers (a few million parameters),
  for CPU demos and tests.
- ``mu2slam_w2vbert_base`` (model ``mu2slam_w2vbert``): the speech-only w2v-BERT model of
  SLAM's speech branch: width 1024, FFN 4096, kernel 5, 8 heads, 8 contrastive-module and
  16 MLM-module Conformer layers (SLAM's N=8 speech-specific and M=16 shared layers), one
  codebook of 1024 entries (w2v-BERT's), 100 distractors.
- ``mu2slam_w2vbert_tiny``: width 96, 2 + 2 layers, 2 groups of 16 entries (256 ids), for
  CPU tests.
- ``mu2slam_slam_base`` (model ``mu2slam_slam``): mSLAM's 0.6B encoder (SLAM's sizes):
  N=8 speech and M=16 shared Conformer layers of width 1024, FFN 4096, kernel 5, 8 heads,
  w2v-BERT's quantizer (one codebook of 1024) and 100 distractors.
- ``mu2slam_slam_tiny``: ``mu2slam_tiny``'s encoder sizes (width 192, FFN 768, kernel 15)
  as 2 speech + 2 shared layers, 2 groups of 16 entries, for CPU runs and tests.
- ``mu2slam_slam_seq2seq_base`` (model ``mu2slam_slam_seq2seq``): ``mu2slam_slam_base``'s
  encoder with mSLAM's fine-tuning decoder: 6 Transformer layers of width 512, FFN 2048,
  8 heads, dropout 0.3.
- ``mu2slam_slam_seq2seq_tiny``: ``mu2slam_slam_tiny``'s encoder with ``mu2slam_tiny``'s
  decoder (2 layers of width 192, FFN 768), for CPU runs and tests.

Each function only fills what the user has not set (fairseq's convention), then falls
back to the base values. Boolean options are not set here: they always come from the
config's defaults or the command line.

fairseq applies these functions on the ``--arch`` path only. ``fairseq-hydra-train`` with
``model._name: mu2slam_tiny`` fills every missing model field from the dataclass that
``ARCH_MODEL_NAME_REGISTRY`` names for the architecture, by default the base model's
``Mu2SlamConfig``, and the function then finds nothing left to fill. So each architecture
also gets its own dataclass, ``Mu2SlamConfig`` with the function's values as defaults,
registered under the architecture's name (as fairseq registers a dataclass model): both
paths then give the architecture's sizes, and values the config sets still win.
"""

from argparse import Namespace
from dataclasses import field, fields, make_dataclass
from typing import Any, Callable

from fairseq.models import (
    ARCH_MODEL_NAME_REGISTRY,
    MODEL_DATACLASS_REGISTRY,
    register_model_architecture,
)
from hydra.core.config_store import ConfigStore

from . import mu2slam  # noqa: F401  (registers the "mu2slam" model the architectures belong to)
from . import slam  # noqa: F401  (registers the "mu2slam_slam" model)
from . import slam_seq2seq  # noqa: F401  (registers the "mu2slam_slam_seq2seq" model)
from . import w2vbert  # noqa: F401  (registers the "mu2slam_w2vbert" model)
from .config import Mu2SlamConfig
from .slam import SlamConfig
from .slam_seq2seq import SlamSeq2SeqConfig
from .w2vbert import W2vBertConfig


def _default(args: Any, **values: Any) -> None:
    for name, value in values.items():
        if getattr(args, name, None) is None:
            setattr(args, name, value)


def arch_config_class(arch: str, fill: Callable[[Any], None], config: type = Mu2SlamConfig) -> type:
    """``config`` (a model dataclass) whose defaults are what ``fill`` sets on an empty namespace."""
    values = Namespace()
    fill(values)
    changed = [
        (f.name, f.type, field(default=getattr(values, f.name), metadata=f.metadata))
        for f in fields(config)
        if hasattr(values, f.name)
    ]
    dc = make_dataclass(f"{config.__name__}_{arch}", changed, bases=(config,))
    dc.__module__ = __name__  # findable by name, as pickle looks classes up
    globals()[dc.__name__] = dc
    return dc


def mu2slam_architecture(
    arch: str, model: str = "mu2slam", config: type = Mu2SlamConfig
) -> Callable:
    """``register_model_architecture(model, arch)``, plus the hydra path (module doc)."""

    def register(fill: Callable[[Any], None]) -> Callable[[Any], None]:
        register_model_architecture(model, arch)(fill)
        dc = arch_config_class(arch, fill, config)
        MODEL_DATACLASS_REGISTRY[arch] = dc
        ARCH_MODEL_NAME_REGISTRY[arch] = (
            arch  # fairseq's add_defaults looks the dataclass up by this name
        )
        node = dc()
        node._name = arch
        ConfigStore.instance().store(
            name=arch, group="model", node=node, provider="mu2slam_fairseq"
        )
        return fill

    return register


@mu2slam_architecture("mu2slam_base")
def mu2slam_base(args: Any) -> None:
    _default(
        args,
        embed_dim=1024,
        input_feat_per_channel=80,
        conv_channels=128,
        encoder_layers=24,
        encoder_ffn_embed_dim=4096,
        encoder_attention_heads=8,
        encoder_conv_kernel_size=5,
        encoder_conv_norm_groups=1,
        encoder_dropout=0.0,
        encoder_input_dropout=0.0,
        decoder_layers=6,
        decoder_ffn_embed_dim=4096,
        decoder_attention_heads=8,
        decoder_dropout=0.1,
        decoder_attention_dropout=0.0,
        decoder_activation_dropout=0.0,
        decoder_activation_fn="relu",
        mlm_activation_fn="gelu",
        max_source_positions=6000,
        max_target_positions=2048,
    )


@mu2slam_architecture("mu2slam_small")
def mu2slam_small(args: Any) -> None:
    _default(
        args,
        embed_dim=512,
        encoder_layers=12,
        encoder_ffn_embed_dim=2048,
        encoder_attention_heads=8,
        encoder_conv_kernel_size=15,
        decoder_layers=4,
        decoder_ffn_embed_dim=2048,
        decoder_attention_heads=8,
    )
    mu2slam_base(args)


@mu2slam_architecture("mu2slam_tiny")
def mu2slam_tiny(args: Any) -> None:
    _default(
        args,
        embed_dim=192,
        conv_channels=64,
        encoder_layers=4,
        encoder_ffn_embed_dim=768,
        encoder_attention_heads=4,
        encoder_conv_kernel_size=15,
        decoder_layers=2,
        decoder_ffn_embed_dim=768,
        decoder_attention_heads=4,
    )
    mu2slam_base(args)


def w2vbert_architecture(arch: str) -> Callable:
    return mu2slam_architecture(arch, model="mu2slam_w2vbert", config=W2vBertConfig)


@w2vbert_architecture("mu2slam_w2vbert_base")
def mu2slam_w2vbert_base(args: Any) -> None:
    _default(
        args,
        embed_dim=1024,
        input_feat_per_channel=80,
        conv_channels=128,
        contrastive_layers=8,
        mlm_layers=16,
        ffn_embed_dim=4096,
        attention_heads=8,
        conv_kernel_size=5,
        conv_norm_groups=1,
        dropout=0.1,
        input_dropout=0.1,
        latent_vars=1024,
        latent_groups=1,
        latent_dim=768,
        latent_temp="(2.0, 0.5, 0.999995)",
        final_dim=768,
        num_negatives=100,
        max_positions=6000,
    )


@w2vbert_architecture("mu2slam_w2vbert_tiny")
def mu2slam_w2vbert_tiny(args: Any) -> None:
    _default(
        args,
        embed_dim=96,
        conv_channels=32,
        contrastive_layers=2,
        mlm_layers=2,
        ffn_embed_dim=192,
        attention_heads=4,
        conv_kernel_size=15,
        dropout=0.0,
        input_dropout=0.0,
        latent_vars=16,
        latent_groups=2,
        latent_dim=32,
        latent_temp="(2.0, 0.5, 0.995)",
        final_dim=32,
        num_negatives=20,
    )
    mu2slam_w2vbert_base(args)


def slam_architecture(arch: str) -> Callable:
    return mu2slam_architecture(arch, model="mu2slam_slam", config=SlamConfig)


def slam_seq2seq_architecture(arch: str) -> Callable:
    return mu2slam_architecture(arch, model="mu2slam_slam_seq2seq", config=SlamSeq2SeqConfig)


def _slam_encoder_base(args: Any) -> None:
    _default(
        args,
        embed_dim=1024,
        input_feat_per_channel=80,
        conv_channels=128,
        speech_layers=8,
        shared_layers=16,
        ffn_embed_dim=4096,
        attention_heads=8,
        conv_kernel_size=5,
        conv_norm_groups=1,
        dropout=0.1,
        input_dropout=0.1,
        max_positions=6000,
    )


def _slam_encoder_tiny(args: Any) -> None:
    """``mu2slam_tiny``'s encoder sizes: 4 Conformer layers of width 192 (2 speech + 2 shared)."""
    _default(
        args,
        embed_dim=192,
        conv_channels=64,
        speech_layers=2,
        shared_layers=2,
        ffn_embed_dim=768,
        attention_heads=4,
        conv_kernel_size=15,
        dropout=0.0,
        input_dropout=0.0,
    )
    _slam_encoder_base(args)


@slam_architecture("mu2slam_slam_base")
def mu2slam_slam_base(args: Any) -> None:
    _default(
        args,
        latent_vars=1024,
        latent_groups=1,
        latent_dim=768,
        latent_temp="(2.0, 0.5, 0.999995)",
        final_dim=768,
        num_negatives=100,
    )
    _slam_encoder_base(args)


@slam_architecture("mu2slam_slam_tiny")
def mu2slam_slam_tiny(args: Any) -> None:
    _default(
        args,
        latent_vars=16,
        latent_groups=2,
        latent_dim=32,
        latent_temp="(2.0, 0.5, 0.995)",
        final_dim=32,
        num_negatives=20,
    )
    _slam_encoder_tiny(args)
    mu2slam_slam_base(args)


@slam_seq2seq_architecture("mu2slam_slam_seq2seq_base")
def mu2slam_slam_seq2seq_base(args: Any) -> None:
    _default(
        args,
        decoder_embed_dim=512,
        decoder_layers=6,
        decoder_ffn_embed_dim=2048,
        decoder_attention_heads=8,
        decoder_dropout=0.3,
    )
    _slam_encoder_base(args)


@slam_seq2seq_architecture("mu2slam_slam_seq2seq_tiny")
def mu2slam_slam_seq2seq_tiny(args: Any) -> None:
    _default(
        args,
        decoder_embed_dim=192,
        decoder_layers=2,
        decoder_ffn_embed_dim=768,
        decoder_attention_heads=4,
        decoder_dropout=0.1,
    )
    _slam_encoder_tiny(args)
    mu2slam_slam_seq2seq_base(args)
