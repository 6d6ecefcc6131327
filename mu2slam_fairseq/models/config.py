"""Configuration of the mu2slam model.

Plain scalar fields only, so the config round-trips through fairseq's argparse layer,
OmegaConf and checkpoints unchanged. Boolean fields default to False (fairseq turns each
into a flag that flips its default), hence the ``no_share_*`` names: the token embedding
is shared everywhere unless a flag says otherwise. The defaults are the paper's base
model (§3.2); the named architectures in ``architectures.py`` override them.
"""

from dataclasses import dataclass, field

from fairseq.dataclass import ChoiceEnum, FairseqDataclass
from fairseq.utils import get_available_activation_fns

ACTIVATIONS = ChoiceEnum(get_available_activation_fns())


@dataclass
class Mu2SlamConfig(FairseqDataclass):
    # width shared by the speech front end, the text embedding, encoder, decoder and heads
    embed_dim: int = field(
        default=1024, metadata={"help": "model width (encoder, decoder, all embeddings)"}
    )
    # speech front end
    input_feat_per_channel: int = field(
        default=80, metadata={"help": "log-Mel bins per input frame"}
    )
    conv_channels: int = field(
        default=128, metadata={"help": "channels of the two Conv2d layers of the speech front end"}
    )
    # encoder
    encoder_layers: int = field(default=24, metadata={"help": "Conformer layers"})
    encoder_ffn_embed_dim: int = field(
        default=4096, metadata={"help": "Conformer feed-forward hidden size"}
    )
    encoder_attention_heads: int = field(default=8, metadata={"help": "Conformer attention heads"})
    encoder_conv_kernel_size: int = field(
        default=5, metadata={"help": "Conformer depthwise convolution kernel size (odd)"}
    )
    encoder_conv_norm_groups: int = field(
        default=1, metadata={"help": "groups of the group norm in the Conformer convolution module"}
    )
    encoder_dropout: float = field(
        default=0.0, metadata={"help": "dropout inside the Conformer layers"}
    )
    encoder_input_dropout: float = field(
        default=0.0, metadata={"help": "dropout on the encoder input embeddings"}
    )
    # decoder
    decoder_layers: int = field(default=6, metadata={"help": "Transformer decoder layers"})
    decoder_ffn_embed_dim: int = field(
        default=4096, metadata={"help": "decoder feed-forward hidden size"}
    )
    decoder_attention_heads: int = field(default=8, metadata={"help": "decoder attention heads"})
    decoder_dropout: float = field(default=0.1, metadata={"help": "decoder residual dropout"})
    decoder_attention_dropout: float = field(
        default=0.0, metadata={"help": "decoder attention-weight dropout"}
    )
    decoder_activation_dropout: float = field(
        default=0.0, metadata={"help": "decoder feed-forward activation dropout"}
    )
    decoder_activation_fn: ACTIVATIONS = field(
        default="relu", metadata={"help": "decoder feed-forward activation"}
    )
    # embeddings and heads
    no_scale_embedding: bool = field(
        default=False,
        metadata={"help": "do not scale token/language/modality embeddings by sqrt(embed_dim)"},
    )
    no_share_encoder_decoder_embed: bool = field(
        default=False, metadata={"help": "separate token embeddings for encoder and decoder input"}
    )
    no_share_decoder_input_output_embed: bool = field(
        default=False,
        metadata={"help": "decoder output projection separate from the decoder token embedding"},
    )
    no_share_mlm_head_embed: bool = field(
        default=False,
        metadata={"help": "MLM head projection separate from the encoder token embedding"},
    )
    no_share_ctc_head_embed: bool = field(
        default=False,
        metadata={"help": "CTC head projection separate from the encoder token embedding"},
    )
    mlm_activation_fn: ACTIVATIONS = field(
        default="gelu", metadata={"help": "activation of the MLM head's dense layer"}
    )
    max_source_positions: int = field(
        default=6000, metadata={"help": "longest encoder input (40 ms speech steps + text tokens)"}
    )
    max_target_positions: int = field(default=2048, metadata={"help": "longest decoder input"})
    checkpoint_activations: bool = field(
        default=False, metadata={"help": "recompute layer activations in backward to save memory"}
    )
