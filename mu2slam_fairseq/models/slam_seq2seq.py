"""``mu2slam_slam_seq2seq``: a SLAM / mSLAM encoder fine-tuned with a new Transformer
decoder for AST, ASR and MT (mSLAM §3: 6 decoder layers of width 512, dropout 0.3 on
embeddings and residuals), trained by ``mu2slam_finetune`` and run by ``fairseq-generate``
like the Mu2SLAM models.

    fairseq-train DATA --user-dir mu2slam_fairseq --task mu2slam_finetune \\
        --arch mu2slam_slam_seq2seq_base --load-pretrained-encoder-from mslam/checkpoint_last.pt ...

The encoder is ``SlamEncoder`` (speech: speech stack, then shared stack; text: shared
stack), its weights read from a ``mu2slam_slam`` checkpoint by
``--load-pretrained-encoder-from`` (fairseq's name for it in its speech_to_text models),
and with them the CTC head that mSLAM-CTC trained; the encoder sizes must be the
checkpoint's. The decoder is the plugin's (``Mu2SlamDecoder``), of its own width, its
cross-attention reading the encoder's width, with target-language vectors of its own.
"""

import logging
import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

import torch
from fairseq.models import FairseqEncoderDecoderModel, register_model
from torch import nn

from ..checkpoint_safety import load_checkpoint_file
from .config import Mu2SlamConfig
from .decoder import Mu2SlamDecoder
from .embeddings import InputEmbeddings, embed_scale, token_embedding
from .slam import SlamEncoder, SlamEncoderConfig

logger = logging.getLogger(__name__)

_ENCODER_FIELDS = [
    f for f in SlamEncoderConfig.__dataclass_fields__ if "dropout" not in f and f != "_name"
]


@dataclass
class SlamSeq2SeqConfig(SlamEncoderConfig):
    """The SLAM encoder's sizes and the new decoder's; defaults: mSLAM's fine-tuning model."""

    decoder_embed_dim: int = field(default=512, metadata={"help": "decoder width"})
    decoder_layers: int = field(default=6, metadata={"help": "Transformer decoder layers"})
    decoder_ffn_embed_dim: int = field(
        default=2048, metadata={"help": "decoder feed-forward hidden size"}
    )
    decoder_attention_heads: int = field(default=8, metadata={"help": "decoder attention heads"})
    decoder_dropout: float = field(
        default=0.3, metadata={"help": "decoder dropout on embeddings and residuals"}
    )
    max_target_positions: int = field(default=2048, metadata={"help": "longest decoder input"})
    load_pretrained_encoder_from: Optional[str] = field(
        default=None,
        metadata={"help": "a mu2slam_slam checkpoint whose encoder (and CTC head) to start from"},
    )


class SlamEncoderMismatchError(ValueError):
    """The checkpoint's encoder sizes differ from the model's."""


@register_model("mu2slam_slam_seq2seq", dataclass=SlamSeq2SeqConfig)
class SlamSeq2SeqModel(FairseqEncoderDecoderModel):
    def __init__(self, cfg: SlamSeq2SeqConfig, encoder: SlamEncoder, decoder: Mu2SlamDecoder):
        super().__init__(encoder, decoder)
        self.cfg = cfg
        self.ctc_head = nn.Linear(cfg.embed_dim, len(decoder.dictionary))
        self.ctc_blank = decoder.dictionary.bos()  # SLAM's CTC blank too

    @classmethod
    def build_model(cls, cfg: SlamSeq2SeqConfig, task: Any) -> "SlamSeq2SeqModel":
        d = task.source_dictionary
        encoder = SlamEncoder(cfg, len(d), d.pad())
        dec = Mu2SlamConfig(
            embed_dim=cfg.decoder_embed_dim,
            decoder_layers=cfg.decoder_layers,
            decoder_ffn_embed_dim=cfg.decoder_ffn_embed_dim,
            decoder_attention_heads=cfg.decoder_attention_heads,
            decoder_dropout=cfg.decoder_dropout,
            max_target_positions=cfg.max_target_positions,
        )
        width = cfg.decoder_embed_dim
        tokens = token_embedding(len(d), width, d.pad())
        inputs = InputEmbeddings(d, width, embed_scale(width, False))
        model = cls(cfg, encoder, Mu2SlamDecoder(dec, d, tokens, inputs, cfg.embed_dim))
        path = cfg.load_pretrained_encoder_from
        if path:
            if os.path.exists(path):
                model.load_slam_encoder(path)
            else:  # as fairseq's speech_to_text models: generation rebuilds without it
                logger.warning(f"{path} does not exist: the encoder starts from random weights")
        return model

    def load_slam_encoder(self, path: str) -> None:
        """The encoder's and CTC head's weights from a ``mu2slam_slam`` checkpoint."""
        state = load_checkpoint_file(path)
        saved = ((state.get("cfg") or {}).get("model")) or {}
        differ = [
            f"{k}: checkpoint {saved[k]}, this model {getattr(self.cfg, k)}"
            for k in _ENCODER_FIELDS
            if k in saved and str(saved[k]) != str(getattr(self.cfg, k))
        ]
        weights = state["model"]
        if "encoder.embed_tokens.weight" not in weights:
            differ.append(f"it holds no SLAM encoder (model {saved.get('_name')!r})")
        if differ:
            raise SlamEncoderMismatchError(
                f"{path} does not fit this model:\n  - " + "\n  - ".join(differ)
            )
        encoder = {k[len("encoder.") :]: v for k, v in weights.items() if k.startswith("encoder.")}
        self.encoder.load_state_dict(encoder, strict=True)
        if "ctc_head.weight" in weights:
            self.ctc_head.load_state_dict(
                {"weight": weights["ctc_head.weight"], "bias": weights["ctc_head.bias"]}
            )
        logger.info(f"encoder{' and CTC head' if 'ctc_head.weight' in weights else ''} from {path}")

    def ctc_logits(self, encoder_out: Dict[str, List[torch.Tensor]]) -> torch.Tensor:
        """CTC logits (T, B, V), time-major; blank = ``self.ctc_blank``."""
        return self.ctc_head(encoder_out["encoder_out"][0])
