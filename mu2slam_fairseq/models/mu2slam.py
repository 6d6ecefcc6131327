"""The ``mu2slam`` model: one encoder-decoder for speech and text (paper §2.1).

Only the speech front end is modality-specific; text goes through the token embedding;
one Conformer encoder and one Transformer decoder serve every task. All outputs are over
the single joint Dictionary (text pieces, speech units, language tags, ``<mask>``):

- decoder output: ``model(...)[0]`` / ``model.decoder(...)[0]``, (B, T_out, V);
- encoder MLM head: ``model.mlm_logits(encoder_out)``, (B, T, V);
- CTC head: ``model.ctc_logits(encoder_out)``, time-major (T, B, V) as ``F.ctc_loss``
  expects; the blank is ``model.ctc_blank`` = ``dictionary.bos()`` (``<s>``), which the
  decoder never predicts (fairseq starts decoding from ``</s>``), as fairseq's own
  speech recognition models do. Input lengths come from ``encoder_padding_mask``.

With the default sharing, one (V, C) table is the encoder and decoder token embedding and
the projection of all three heads, so a larger vocabulary costs one table only.
"""

from argparse import Namespace
from typing import Any, Dict, Optional, Tuple, Union

import torch
from fairseq.data import Dictionary
from fairseq.models import ARCH_CONFIG_REGISTRY, FairseqEncoderDecoderModel, register_model
from fairseq.models.roberta.model import RobertaLMHead
from omegaconf import DictConfig
from torch import nn

from .config import Mu2SlamConfig
from .decoder import Mu2SlamDecoder
from .embeddings import InputEmbeddings, embed_scale, token_embedding
from .encoder import EncoderOut, Mu2SlamEncoder


@register_model("mu2slam", dataclass=Mu2SlamConfig)
class Mu2SlamModel(FairseqEncoderDecoderModel):
    def __init__(self, cfg: Mu2SlamConfig, encoder: Mu2SlamEncoder, decoder: Mu2SlamDecoder):
        super().__init__(encoder, decoder)
        self.cfg = cfg
        dictionary = encoder.dictionary
        d = cfg.embed_dim
        enc_emb = encoder.embed_tokens
        mlm_weight = None if cfg.no_share_mlm_head_embed else enc_emb.weight
        self.mlm_head = RobertaLMHead(d, len(dictionary), cfg.mlm_activation_fn, weight=mlm_weight)
        self.ctc_proj = nn.Linear(d, len(dictionary))
        nn.init.zeros_(self.ctc_proj.bias)
        if cfg.no_share_ctc_head_embed:
            nn.init.normal_(self.ctc_proj.weight, mean=0.0, std=d**-0.5)
        else:
            self.ctc_proj.weight = enc_emb.weight
        self.ctc_blank = dictionary.bos()

    @classmethod
    def build_model(
        cls, cfg: Union[Mu2SlamConfig, DictConfig, Namespace], task: Any
    ) -> "Mu2SlamModel":
        """Build from ``task.source_dictionary`` (the one joint Dictionary)."""
        if not isinstance(cfg, Mu2SlamConfig):
            cfg = Mu2SlamConfig.from_namespace(cfg)
        src, tgt = task.source_dictionary, task.target_dictionary
        if tgt is not None and tgt is not src and src.symbols != tgt.symbols:
            raise ValueError(
                "mu2slam needs one joint dictionary: source and target dictionaries differ"
            )
        d = cfg.embed_dim
        enc_tokens = token_embedding(len(src), d, src.pad())
        dec_tokens = (
            token_embedding(len(src), d, src.pad())
            if cfg.no_share_encoder_decoder_embed
            else enc_tokens
        )
        inputs = InputEmbeddings(src, d, embed_scale(d, cfg.no_scale_embedding))
        encoder = Mu2SlamEncoder(cfg, src, enc_tokens, inputs)
        decoder = Mu2SlamDecoder(cfg, src, dec_tokens, inputs)
        return cls(cfg, encoder, decoder)

    def forward(  # type: ignore[override]
        self,
        src_tokens: torch.Tensor,
        src_lengths: torch.Tensor,
        prev_output_tokens: torch.Tensor,
        *,
        features_only: bool = False,
        **encoder_inputs: Optional[torch.Tensor],
    ) -> Tuple[torch.Tensor, Dict[str, Any]]:
        """Encode (``encoder_inputs``: the encoder's other inputs, ``Mu2SlamEncoder.forward``),
        then decode ``prev_output_tokens``; the extra dict also holds "encoder_out"."""
        encoder_out = self.encoder(src_tokens, src_lengths, **encoder_inputs)
        x, extra = self.decoder(
            prev_output_tokens, encoder_out=encoder_out, features_only=features_only
        )
        extra["encoder_out"] = encoder_out
        return x, extra

    def mlm_logits(
        self, encoder_out: EncoderOut, masked_positions: Optional[torch.Tensor] = None
    ) -> torch.Tensor:
        """Encoder MLM logits over the joint vocabulary: (B, T, V).

        With ``masked_positions`` (B, T) bool, only those positions are projected and the
        result is (N, V) in row-major (batch, time) order, which saves the (B, T, V) tensor
        when only a few positions are masked.
        """
        features = encoder_out["encoder_out"][0].transpose(0, 1)
        return self.mlm_head(features, masked_positions)

    def ctc_logits(self, encoder_out: EncoderOut) -> torch.Tensor:
        """CTC logits (T, B, V), time-major; blank = ``self.ctc_blank``."""
        return self.ctc_proj(encoder_out["encoder_out"][0])


def build_for_dictionary(arch: str, dictionary: Dictionary, **overrides: Any) -> Mu2SlamModel:
    """Build architecture ``arch`` for ``dictionary`` outside a task (scripts, tests)."""
    args = Namespace(**overrides)
    ARCH_CONFIG_REGISTRY[arch](args)
    task = Namespace(source_dictionary=dictionary, target_dictionary=dictionary)
    return Mu2SlamModel.build_model(Mu2SlamConfig.from_namespace(args), task)
