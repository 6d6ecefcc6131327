"""The Transformer decoder, with target-language and target-modality embeddings.

fairseq's ``TransformerDecoderBase`` is used unchanged (layers, incremental decoding,
output projection). It adds ``embed_positions(tokens)`` to the scaled token embeddings;
we wrap that module so the sum also carries the per-sequence target language and
modality vectors. The target language travels in ``encoder_out`` (and is reordered with
it during beam search), so ``fairseq-generate`` needs no prefix tokens; an explicit
``tgt_lang``/``tgt_modality`` argument overrides it (the alignment loss decodes one
encoder output twice, towards two different targets).
"""

from typing import Any, Dict, List, Optional, Tuple

import torch
from fairseq.data import Dictionary
from fairseq.models.transformer import TransformerConfig, TransformerDecoderBase
from fairseq.models.transformer.transformer_config import DecoderConfig, EncDecBaseConfig
from torch import nn

from .config import Mu2SlamConfig
from .embeddings import InputEmbeddings

IncrementalState = Dict[str, Dict[str, Optional[torch.Tensor]]]


class PositionsWithTarget(nn.Module):
    """Decoder positions plus one vector per sequence (target language + modality).

    ``target`` (B, C) is set by the decoder for the duration of one forward call.
    """

    def __init__(self, positions: nn.Module):
        super().__init__()
        self.positions = positions
        self.max_positions = positions.max_positions
        self.target: Optional[torch.Tensor] = None

    def forward(
        self, tokens: torch.Tensor, incremental_state: Optional[IncrementalState] = None
    ) -> torch.Tensor:
        pos = self.positions(tokens, incremental_state=incremental_state)
        if self.target is None:
            return pos
        return pos + self.target[:, None, :].to(pos.dtype)


def transformer_config(cfg: Mu2SlamConfig, encoder_dim: Optional[int] = None) -> TransformerConfig:
    """fairseq's decoder configuration for a pre-norm decoder of the model's width, whose
    cross-attention reads an encoder of width ``encoder_dim`` (default: the same)."""
    tc = TransformerConfig()
    tc.dropout = cfg.decoder_dropout
    tc.attention_dropout = cfg.decoder_attention_dropout
    tc.activation_dropout = cfg.decoder_activation_dropout
    tc.activation_fn = cfg.decoder_activation_fn
    tc.encoder = EncDecBaseConfig(embed_dim=encoder_dim or cfg.embed_dim)
    tc.decoder = DecoderConfig(
        embed_dim=cfg.embed_dim,
        ffn_embed_dim=cfg.decoder_ffn_embed_dim,
        layers=cfg.decoder_layers,
        attention_heads=cfg.decoder_attention_heads,
        normalize_before=True,
        learned_pos=False,
    )
    tc.decoder.input_dim = tc.decoder.output_dim = cfg.embed_dim
    tc.max_target_positions = cfg.max_target_positions
    tc.no_scale_embedding = cfg.no_scale_embedding
    tc.share_decoder_input_output_embed = not cfg.no_share_decoder_input_output_embed
    tc.checkpoint_activations = cfg.checkpoint_activations
    return tc


class Mu2SlamDecoder(TransformerDecoderBase):
    def __init__(
        self,
        cfg: Mu2SlamConfig,
        dictionary: Dictionary,
        embed_tokens: nn.Embedding,
        input_embeddings: InputEmbeddings,
        encoder_dim: Optional[int] = None,
    ):
        tc = transformer_config(cfg, encoder_dim)
        super().__init__(tc, dictionary, embed_tokens, no_encoder_attn=False)
        self.embed_positions = PositionsWithTarget(self.embed_positions)
        self.input_embeddings = input_embeddings

    def forward(  # type: ignore[override]
        self,
        prev_output_tokens: torch.Tensor,
        encoder_out: Optional[Dict[str, List[torch.Tensor]]] = None,
        incremental_state: Optional[IncrementalState] = None,
        features_only: bool = False,
        src_lengths: Optional[Any] = None,  # unused, as in fairseq
        return_all_hiddens: bool = False,  # unused, as in fairseq
        **options: Any,
    ) -> Tuple[torch.Tensor, Dict[str, Any]]:
        """(B, T_out, V) logits (or (B, T_out, C) features) and fairseq's extra dict;
        ``options`` are ``extract_features``'s."""
        x, extra = self.extract_features(
            prev_output_tokens, encoder_out, incremental_state, **options
        )
        if not features_only:
            x = self.output_layer(x)
        return x, extra

    def extract_features(  # type: ignore[override]
        self,
        prev_output_tokens: torch.Tensor,
        encoder_out: Optional[Dict[str, List[torch.Tensor]]],
        incremental_state: Optional[IncrementalState] = None,
        tgt_lang: Optional[torch.Tensor] = None,
        tgt_modality: Optional[torch.Tensor] = None,
        **alignment: Any,
    ) -> Tuple[torch.Tensor, Dict[str, Any]]:
        """fairseq's features with the target vectors added to the positions.

        ``tgt_lang`` (B,) ``<lang_xx>`` indices and ``tgt_modality`` (B,) (0 speech units,
        1 text) override the ones in ``encoder_out``; ``alignment`` holds fairseq's
        full_context_alignment, alignment_layer and alignment_heads.
        """
        tgt_lang = _from_encoder_out(tgt_lang, encoder_out, "tgt_lang")
        tgt_modality = _from_encoder_out(tgt_modality, encoder_out, "tgt_modality")
        self.embed_positions.target = self.input_embeddings(tgt_lang, tgt_modality)
        try:
            return super().extract_features(
                prev_output_tokens, encoder_out, incremental_state=incremental_state, **alignment
            )
        finally:
            self.embed_positions.target = None


def _from_encoder_out(
    value: Optional[torch.Tensor], encoder_out: Optional[Dict[str, List[torch.Tensor]]], key: str
) -> Optional[torch.Tensor]:
    if value is not None:
        return value
    if encoder_out is not None and len(encoder_out.get(key, [])) > 0:
        return encoder_out[key][0]
    return None
