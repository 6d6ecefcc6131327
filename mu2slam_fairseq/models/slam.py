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
import torch.nn.functional as F
from fairseq.dataclass import FairseqDataclass
from fairseq.models import BaseFairseqModel, register_model
from fairseq.modules import FairseqDropout, SinusoidalPositionalEmbedding
from torch import nn

from .conformer import Mu2SlamConformerLayer
from .embeddings import token_embedding
from .frontend import lengths_to_padding_mask
from .w2vbert import _POS_PAD, W2vBertFeatures, build_quantizer, sample_negatives

PAIR_TYPES = ("asr", "ast")


@dataclass
class SlamConfig(FairseqDataclass):
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
    latent_vars: int = field(default=1024, metadata={"help": "quantizer entries per group (V)"})
    latent_groups: int = field(default=1, metadata={"help": "quantizer groups (G)"})
    latent_dim: int = field(default=768, metadata={"help": "code vector size"})
    latent_temp: str = field(
        default="(2.0, 0.5, 0.999995)",
        metadata={"help": "Gumbel temperature (start, end, decay per update)"},
    )
    final_dim: int = field(default=768, metadata={"help": "space in which c and q are compared"})
    num_negatives: int = field(default=100, metadata={"help": "distractors per masked step"})
    max_positions: int = field(
        default=6000, metadata={"help": "longest speech (40 ms steps) or text (tokens) input"}
    )


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
        out = out.index_put((rows, cols), x[valid])
        index.append((valid, rows, cols))
        offset = offset + lengths
    padding = torch.arange(out.size(1), device=out.device)[None] >= total[:, None]
    return out, padding, index


def split(h: torch.Tensor, part: Tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """The (B, T_k, D) positions of one part of a joined output (zeros at its padding)."""
    valid, rows, cols = part
    out = h.new_zeros(valid.shape + h.shape[2:])
    return out.index_put((valid.nonzero(as_tuple=True)), h[rows, cols])


@register_model("mu2slam_slam", dataclass=SlamConfig)
class SlamModel(BaseFairseqModel):
    def __init__(self, cfg: SlamConfig, vocab_size: int, pad: int):
        super().__init__()
        self.cfg, self.pad = cfg, pad
        d = cfg.embed_dim
        self.features = W2vBertFeatures(cfg.input_feat_per_channel, cfg.conv_channels, d)
        self.quantizer = build_quantizer(cfg)
        self.mask_emb = nn.Parameter(torch.empty(d).uniform_())
        self.embed_positions = SinusoidalPositionalEmbedding(
            d, _POS_PAD, init_size=cfg.max_positions + _POS_PAD + 1
        )
        self.input_dropout = FairseqDropout(cfg.input_dropout, module_name="SlamInput")

        def stack(n: int) -> nn.ModuleList:
            return nn.ModuleList(
                Mu2SlamConformerLayer(
                    d,
                    cfg.ffn_embed_dim,
                    cfg.attention_heads,
                    cfg.conv_kernel_size,
                    cfg.dropout,
                    cfg.conv_norm_groups,
                )
                for _ in range(n)
            )

        self.speech_layers = stack(cfg.speech_layers)
        self.speech_norm = nn.LayerNorm(d)  # SLAM: speech encoder outputs are layer normalised
        self.embed_tokens = token_embedding(vocab_size, d, pad)
        self.embed_scale = d**0.5
        self.text_norm = nn.LayerNorm(d)
        self.shared_layers = stack(cfg.shared_layers)
        self.cls = nn.Parameter(torch.empty(d).normal_(std=d**-0.5))
        self.final_proj = nn.Linear(d, cfg.final_dim)
        self.project_q = nn.Linear(cfg.latent_dim, cfg.final_dim)
        self.speech_mlm_head = nn.Linear(d, self.num_codes)
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

    # ---- stacks ------------------------------------------------------------------
    @staticmethod
    def _run(layers: nn.ModuleList, x: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
        x = x.transpose(0, 1)
        for layer in layers:
            x = layer(x, padding)
        return x.transpose(0, 1)

    def _positions(self, padding: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        marks = torch.where(padding, _POS_PAD, _POS_PAD + 1).long()
        return self.embed_positions(marks).to(dtype)

    def speech_encoder(
        self, feats: torch.Tensor, lengths: torch.Tensor, mask: torch.Tensor, quantize: bool = True
    ) -> Dict[str, Any]:
        """X, the quantizer's targets (when ``quantize``) and C, the N speech layers' output
        over the masked X; ``mask`` is cut or padded to the grid and kept to valid steps."""
        x, steps = self.features(feats, lengths)
        padding = lengths_to_padding_mask(steps, x.size(1))
        mask = mask[:, : x.size(1)]
        if mask.size(1) < x.size(1):
            mask = F.pad(mask, (0, x.size(1) - mask.size(1)))
        mask = mask & ~padding
        out: Dict[str, Any] = {"steps": steps, "padding": padding, "mask": mask}
        if quantize:
            valid = ~padding
            q_out = self.quantizer(x[valid].unsqueeze(0), produce_targets=True)
            q_all = x.new_zeros(x.shape[:2] + (self.cfg.latent_dim,))
            q_all[valid] = q_out["x"][0].to(q_all.dtype)
            ids = torch.zeros(x.shape[:2], dtype=torch.long, device=x.device)
            ids[valid] = self.quantizer.to_codebook_index(q_out["targets"][0])
            out.update(q_out=q_out, q_all=q_all, ids=ids)
        masked = torch.where(mask[..., None], self.mask_emb.to(x.dtype), x)
        h = self.input_dropout(masked + self._positions(padding, x.dtype))
        out["c"] = self._run(self.speech_layers, h, padding)
        return out

    def text_embed(self, tokens: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """W (B, L, D) and the padding mask of a batch of token ids."""
        padding = tokens.eq(self.pad)
        x = self.embed_scale * self.embed_tokens(tokens)
        x = self.text_norm(x + self._positions(padding, x.dtype))
        return self.input_dropout(x), padding

    def shared(self, x: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
        return self._run(self.shared_layers, x, padding)

    # ---- per data type -----------------------------------------------------------
    def _w2vbert(self, sp: Dict[str, Any], m: torch.Tensor) -> Dict[str, Any]:
        """w2v-BERT's outputs at the masked steps (``W2vBertModel.forward``'s keys): c and q
        in the comparison space, distractors, speech MLM logits over m and code-id targets."""
        mask = sp["mask"]
        quantized = self.project_q(sp["q_all"][mask])
        negs = sample_negatives(mask, self.cfg.num_negatives)
        q_out = sp["q_out"]
        return {
            "context": self.final_proj(sp["c"][mask]),
            "quantized": quantized,
            "negatives": quantized[negs["index"]],
            "negatives_valid": negs["valid"],
            "mlm_logits": self.speech_mlm_head(m[mask]),
            "mlm_targets": sp["ids"][mask],
            "prob_perplexity": q_out["prob_perplexity"],
            "code_perplexity": q_out["code_perplexity"],
            "num_vars": q_out["num_vars"],
            "temp": q_out["temp"],
        }

    def _text_mlm(self, h: torch.Tensor, targets: torch.Tensor) -> Dict[str, torch.Tensor]:
        keep = targets.ne(self.pad)
        return {"text_logits": self.text_mlm_head(h[keep]), "text_targets": targets[keep]}

    def speech_forward(
        self, feats: torch.Tensor, lengths: torch.Tensor, speech_mask: torch.Tensor
    ) -> Dict[str, Any]:
        """w2v-BERT on speech-only data: the speech stack, then the shared stack."""
        sp = self.speech_encoder(feats, lengths, speech_mask)
        m = self.shared(self.speech_norm(sp["c"]), sp["padding"])
        return self._w2vbert(sp, m)

    def text_forward(self, tokens: torch.Tensor, text_targets: torch.Tensor) -> Dict[str, Any]:
        """SpanBERT on text-only data: MLM logits at the positions with a target."""
        w, padding = self.text_embed(tokens)
        return self._text_mlm(self.shared(w, padding), text_targets)

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
        w, _ = self.text_embed(tokens)
        x, padding, (s_idx, t_idx) = join(
            [(self.speech_norm(sp["c"]), sp["steps"]), (w, text_lengths)]
        )
        h = self.shared(x, padding)
        h_s, h_t = split(h, s_idx), split(h, t_idx)
        out = self._w2vbert(sp, h_s)
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
        unmasked = torch.zeros(bsz, 0, dtype=torch.bool, device=feats.device)
        sp = self.speech_encoder(feats, lengths, unmasked, quantize=False)
        w, _ = self.text_embed(stm_tokens)
        cls = self.cls.to(w.dtype).expand(bsz, 1, -1)
        ones = torch.ones(bsz, dtype=torch.long, device=feats.device)
        x, padding, _ = join(
            [(cls, ones), (self.speech_norm(sp["c"]), sp["steps"]), (w, stm_lengths)]
        )
        return self.stm_head(self.shared(x, padding)[:, 0])

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
