"""Named architectures of the mu2slam model (``--arch``).

- ``mu2slam_base``: the paper's model (§3.2): 24 Conformer layers, width 1024, FFN 4096,
  kernel 5, 8 heads; 6 Transformer decoder layers of the same width. About 0.6B
  parameters in the encoder, 0.7B in all with a 4k character vocabulary
  (``python -m mu2slam_fairseq.models.describe mu2slam_base``).
- ``mu2slam_small``: width 512, 12 Conformer + 4 decoder layers (about 0.1B), for one GPU.
- ``mu2slam_tiny``: width 192, 4 Conformer + 2 decoder layers (a few million parameters),
  for CPU demos and tests.

Each function only fills what the user has not set (fairseq's convention), then falls
back to the base values. Boolean options are not set here: they always come from the
config's defaults or the command line.
"""
from typing import Any

from fairseq.models import register_model_architecture

from . import mu2slam  # noqa: F401  (registers the "mu2slam" model the architectures belong to)


def _default(args: Any, **values: Any) -> None:
    for name, value in values.items():
        if getattr(args, name, None) is None:
            setattr(args, name, value)


@register_model_architecture("mu2slam", "mu2slam_base")
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


@register_model_architecture("mu2slam", "mu2slam_small")
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


@register_model_architecture("mu2slam", "mu2slam_tiny")
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
