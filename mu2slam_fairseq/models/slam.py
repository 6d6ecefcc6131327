"""SLAM / mSLAM: one encoder for speech and text, pre-trained encoder-only.

Speech: log-Mel -> ``W2vBertFeatures`` (the Conv2d front end with its linear projection
and a layer norm) = X; the Gumbel quantizer turns the unmasked X into code vectors and
ids (the w2v-BERT targets); masked X -> N speech Conformer layers (w2v-BERT's contrastive
module) = C, layer normalised -> the M shared Conformer layers. Text: token embedding
(scaled by sqrt(d)) plus sinusoidal positions, layer normalised -> the same M shared
layers. A speech-text pair is the concatenation [C, W] of one example (each item's speech
steps then its tokens, padding at the end) through the shared layers.

Heads on the shared output: speech MLM over the quantizer's V^G code ids, text MLM and
CTC over the joint dictionary (CTC blank: the dictionary's ``<s>``, as elsewhere in the
plugin), and the STM head over a learned [CLS] vector put before the pair: SLAM takes the
multimodal encoder's output at [CLS], and this encoder has no [CLS] token in its text, so
the vector is the model's own. The losses live in ``criterions/slam.py``; masks come with
the batch (``data/pipeline/slam.py``); nothing here imports ``data/``.
"""

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
from fairseq.dataclass import FairseqDataclass
from fairseq.models import BaseFairseqModel, FairseqEncoder, register_model
from torch import nn

from .embeddings import token_embedding
from .encoder import Mu2SlamEncoder, encoder_output
from .frontend import lengths_to_padding_mask
from .w2vbert import (
    StackInput,
    W2vBertFeatures,
    W2vBertHeads,
    build_quantizer,
    conformer_stack,
    fit_mask,
    quantize_steps,
    run_stack,
)

PAIR_TYPES = ("asr", "ast")


@dataclass
class SlamEncoderConfig(FairseqDataclass):
    """Sizes of the SLAM encoder; the defaults are ``mu2slam_slam_base``'s (mSLAM 0.6B)."""

    embed_dim: int = field(default=1024, metadata={"help": "model width"})
    input_feat_per_channel: int = field(default=80, metadata={"help": "log-Mel bins per frame"})
    conv_channels: int = field(default=128, metadata={"help": "channels of the Conv2d front end"})
    speech_layers: int = field(default=8, metadata={"help": "N: speech-only Conformer layers"})
    shared_layers: int = field(default=16, metadata={"help": "M: shared Conformer layers"})
    ffn_embed_dim: int = field(default=4096, metadata={"help": "Conformer feed-forward size"})
    attention_heads: int = field(default=8, metadata={"help": "Conformer attention heads"})
    conv_kernel_size: int = field(default=5, metadata={"help": "Conformer convolution kernel"})
    conv_norm_groups: int = field(
        default=1, metadata={"help": "groups of the group norm in the Conformer convolution"}
    )
    dropout: float = field(default=0.1, metadata={"help": "dropout inside the Conformer layers"})
    input_dropout: float = field(default=0.1, metadata={"help": "dropout on the stacks' inputs"})
    max_positions: int = field(
        default=6000, metadata={"help": "longest speech (40 ms steps) or text (tokens) input"}
    )


@dataclass
class SlamConfig(SlamEncoderConfig):
    """The encoder's sizes and the pre-training heads' (w2v-BERT's quantizer and losses)."""

    latent_vars: int = field(default=1024, metadata={"help": "quantizer entries per group (V)"})
    latent_groups: int = field(default=1, metadata={"help": "quantizer groups (G)"})
    latent_dim: int = field(default=768, metadata={"help": "code vector size"})
    latent_temp: str = field(
        default="(2.0, 0.5, 0.999995)",
        metadata={"help": "Gumbel temperature (start, end, decay per update)"},
    )
    final_dim: int = field(default=768, metadata={"help": "space in which c and q are compared"})
    num_negatives: int = field(default=100, metadata={"help": "distractors per masked step"})


def join(
    parts: Sequence[Tuple[torch.Tensor, torch.Tensor]],
) -> Tuple[torch.Tensor, torch.Tensor, List[Tuple[torch.Tensor, torch.Tensor, torch.Tensor]]]:
    """Concatenate per item: parts (x (B, T_k, D), lengths (B,)) -> (B, sum T_k max, D)
    with item b's valid positions of part 1, then of part 2, ..., padding at the end.

    Returns the joined tensor, its padding mask and, per part, (valid (B, T_k), rows,
    columns): the joined position of each valid position of the part (``split``)."""
    bsz = parts[0][0].size(0)
    total = sum(lengths for _, lengths in parts)
    out = parts[0][0].new_zeros(bsz, int(total.max()), parts[0][0].size(-1))
    offset = torch.zeros_like(total)
    index = []
    for x, lengths in parts:
        steps = torch.arange(x.size(1), device=x.device)
        valid = steps[None] < lengths[:, None]
        rows = torch.arange(bsz, device=x.device)[:, None].expand_as(valid)[valid]
        cols = (offset[:, None] + steps[None])[valid]
        out = out.index_put((rows, cols), x[valid].to(out.dtype))  # autocast: parts may differ
        index.append((valid, rows, cols))
        offset = offset + lengths
    padding = torch.arange(out.size(1), device=out.device)[None] >= total[:, None]
    return out, padding, index


def split(h: torch.Tensor, part: Tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """The (B, T_k, D) positions of one part of a joined output (zeros at its padding)."""
    valid, rows, cols = part
    out = h.new_zeros(valid.shape + h.shape[2:])
    return out.index_put((valid.nonzero(as_tuple=True)), h[rows, cols])


class SlamEncoder(FairseqEncoder):
    """The encoder that SLAM pre-trains and fine-tuning keeps (``slam_seq2seq.py``): the
    speech stack over X, the text embedding and the shared stack (module doc)."""

    def __init__(self, cfg: SlamEncoderConfig, vocab_size: int, pad: int):
        super().__init__(None)
        d = cfg.embed_dim
        self.pad, self.max_source_positions = pad, cfg.max_positions
        self.features = W2vBertFeatures(cfg.input_feat_per_channel, cfg.conv_channels, d)
        self.inputs = StackInput(d, cfg.max_positions, cfg.input_dropout)
        self.speech_layers = conformer_stack(cfg, cfg.speech_layers)
        self.speech_norm = nn.LayerNorm(d)  # SLAM: speech encoder outputs are layer normalised
        self.embed_tokens = token_embedding(vocab_size, d, pad)
        self.embed_scale = d**0.5
        self.text_norm = nn.LayerNorm(d)
        self.shared_layers = conformer_stack(cfg, cfg.shared_layers)

    def max_positions(self) -> int:
        return self.max_source_positions

    def speech(
        self, feats: torch.Tensor, lengths: torch.Tensor, mask: Optional[torch.Tensor] = None
    ) -> Dict[str, torch.Tensor]:
        """X (``x``), its ``steps`` and ``padding``, and C (``c``), the speech stack's output
        over X with the ``mask``ed steps (cut or padded to the grid, kept to valid steps)
        replaced by the mask embedding; without a mask nothing is replaced."""
        x, steps = self.features(feats, lengths)
        padding = lengths_to_padding_mask(steps, x.size(1))
        out = {"x": x, "steps": steps, "padding": padding}
        if mask is not None:
            mask = out["mask"] = fit_mask(mask, padding)
        out["c"] = run_stack(self.speech_layers, self.inputs(x, mask, padding), padding)
        return out

    def text_embed(self, tokens: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """W (B, L, D) and the padding mask of a batch of token ids."""
        padding = tokens.eq(self.pad)
        x = self.embed_scale * self.embed_tokens(tokens)
        x = self.text_norm(x + self.inputs.positions(padding, x.dtype))
        return self.inputs.dropout(x), padding

    def shared(self, x: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
        return run_stack(self.shared_layers, x, padding)

    def forward(
        self,
        src_tokens: torch.Tensor,
        src_lengths: torch.Tensor,
        src_speech: Optional[torch.Tensor] = None,
        src_speech_lengths: Optional[torch.Tensor] = None,
        speech_mask: Optional[torch.Tensor] = None,
        tgt_lang: Optional[torch.Tensor] = None,
        tgt_modality: Optional[torch.Tensor] = None,
        **languages: Optional[torch.Tensor],
    ) -> Dict[str, List[torch.Tensor]]:
        """A fine-tuning batch (``Mu2SlamEncoder.forward``'s inputs) of speech (speech stack,
        then shared stack) or of text (shared stack) in fairseq's encoder-output format.

        SLAM has no language embeddings: ``languages`` (speech_lang, text_lang) are not
        read; tgt_lang and tgt_modality are carried along for the decoder."""
        if src_speech is not None and src_speech.size(1) > 0:
            if src_tokens.size(1) > 0:
                raise ValueError("a SLAM encoder takes speech or text, not both in one item")
            sp = self.speech(src_speech, src_speech_lengths, speech_mask)
            x, padding, steps = self.speech_norm(sp["c"]), sp["padding"], sp["steps"]
        else:
            x, padding = self.text_embed(src_tokens)
            steps = src_tokens.new_zeros(src_tokens.size(0))
        x = self.shared(x, padding).transpose(0, 1)
        return encoder_output(x, padding, steps, tgt_lang, tgt_modality)

    reorder_encoder_out = Mu2SlamEncoder.reorder_encoder_out


@register_model("mu2slam_slam", dataclass=SlamConfig)
class SlamModel(BaseFairseqModel):
    def __init__(self, cfg: SlamConfig, vocab_size: int, pad: int):
        super().__init__()
        self.cfg, self.pad = cfg, pad
        d = cfg.embed_dim
        self.encoder = SlamEncoder(cfg, vocab_size, pad)
        self.quantizer = build_quantizer(cfg)
        self.w2vbert = W2vBertHeads(cfg, self.num_codes)
        self.cls = nn.Parameter(torch.empty(d).normal_(std=d**-0.5))
        self.text_mlm_head = nn.Linear(d, vocab_size)
        self.ctc_head = nn.Linear(d, vocab_size)
        self.stm_head = nn.Linear(d, 2)

    @classmethod
    def build_model(cls, cfg: SlamConfig, task: Any) -> "SlamModel":
        d = task.source_dictionary
        return cls(cfg, len(d), d.pad())

    @property
    def num_codes(self) -> int:
        return self.cfg.latent_vars**self.cfg.latent_groups

    def max_positions(self) -> Optional[int]:
        return None  # the task's limits apply

    def speech_encoder(
        self, feats: torch.Tensor, lengths: torch.Tensor, mask: torch.Tensor, quantize: bool = True
    ) -> Dict[str, Any]:
        """``SlamEncoder.speech`` over the masked X, plus the quantizer's targets (``quantize``)."""
        out: Dict[str, Any] = self.encoder.speech(feats, lengths, mask)
        if quantize:
            out["q"] = quantize_steps(self.quantizer, out["x"], out["padding"], self.cfg.latent_dim)
        return out

    # ---- per data type -----------------------------------------------------------
    def _text_mlm(self, h: torch.Tensor, targets: torch.Tensor) -> Dict[str, torch.Tensor]:
        keep = targets.ne(self.pad)
        return {"text_logits": self.text_mlm_head(h[keep]), "text_targets": targets[keep]}

    def speech_forward(
        self, feats: torch.Tensor, lengths: torch.Tensor, speech_mask: torch.Tensor
    ) -> Dict[str, Any]:
        """w2v-BERT on speech-only data: the speech stack, then the shared stack."""
        sp = self.speech_encoder(feats, lengths, speech_mask)
        m = self.encoder.shared(self.encoder.speech_norm(sp["c"]), sp["padding"])
        return self.w2vbert(sp["c"], m, sp["q"], sp["mask"])

    def text_forward(self, tokens: torch.Tensor, text_targets: torch.Tensor) -> Dict[str, Any]:
        """SpanBERT on text-only data: MLM logits at the positions with a target."""
        w, padding = self.encoder.text_embed(tokens)
        return self._text_mlm(self.encoder.shared(w, padding), text_targets)

    def pair_forward(
        self,
        feats: torch.Tensor,
        lengths: torch.Tensor,
        speech_mask: torch.Tensor,
        tokens: torch.Tensor,
        text_targets: torch.Tensor,
        text_lengths: torch.Tensor,
    ) -> Dict[str, Any]:
        """TLM on a pair [C, W]: w2v-BERT on its speech, MLM on its text; plus the CTC
        logits (B, T, V) of the shared output's speech part and its valid ``steps``."""
        sp = self.speech_encoder(feats, lengths, speech_mask)
        w, _ = self.encoder.text_embed(tokens)
        x, padding, (s_idx, t_idx) = join(
            [(self.encoder.speech_norm(sp["c"]), sp["steps"]), (w, text_lengths)]
        )
        h = self.encoder.shared(x, padding)
        h_s, h_t = split(h, s_idx), split(h, t_idx)
        out = self.w2vbert(sp["c"], h_s, sp["q"], sp["mask"])
        out.update(self._text_mlm(h_t, text_targets))
        out.update(ctc_logits=self.ctc_head(h_s), speech_steps=sp["steps"], speech_hidden=h_s)
        return out

    def stm_forward(
        self,
        feats: torch.Tensor,
        lengths: torch.Tensor,
        stm_tokens: torch.Tensor,
        stm_lengths: torch.Tensor,
    ) -> torch.Tensor:
        """STM logits (B, 2) at [CLS] of the unmasked [CLS, C, W]; class 1: a true pair."""
        bsz = feats.size(0)
        sp = self.encoder.speech(feats, lengths)
        w, _ = self.encoder.text_embed(stm_tokens)
        cls = self.cls.to(w.dtype).expand(bsz, 1, -1)
        ones = torch.ones(bsz, dtype=torch.long, device=feats.device)
        x, padding, _ = join(
            [(cls, ones), (self.encoder.speech_norm(sp["c"]), sp["steps"]), (w, stm_lengths)]
        )
        return self.stm_head(self.encoder.shared(x, padding)[:, 0])

    def forward(self, views: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
        """Every type's batch of one update in one call (so data-parallel wrappers see a
        single forward): the outputs of ``speech_forward``, ``text_forward`` or
        ``pair_forward`` (+ ``stm_logits`` when the batch has STM inputs), by type."""
        outs = []
        for v in views:
            if v["type"] == "speech":
                out = self.speech_forward(v["feats"], v["lengths"], v["speech_mask"])
            elif v["type"] == "text":
                out = self.text_forward(v["tokens"], v["text_targets"])
            elif v["type"] in PAIR_TYPES:
                out = self.pair_forward(
                    v["feats"],
                    v["lengths"],
                    v["speech_mask"],
                    v["tokens"],
                    v["text_targets"],
                    v["text_lengths"],
                )
                if "stm_labels" in v:
                    out["stm_logits"] = self.stm_forward(
                        v["feats"], v["lengths"], v["stm_tokens"], v["stm_lengths"]
                    )
            else:
                raise ValueError(f"SLAM trains no {v['type']!r} data")
            outs.append(out)
        return outs
