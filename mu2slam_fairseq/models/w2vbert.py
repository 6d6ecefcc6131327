"""w2v-BERT on speech: the speech-only pre-training model of SLAM / mSLAM.

log-Mel frames -> the plugin's front end (two stride-2 Conv2d layers, 40 ms steps) ->
layer norm = X. A Gumbel-softmax product quantizer (fairseq's ``GumbelVectorQuantizer``,
as in wav2vec 2.0) turns the unmasked X into code vectors q and code ids; masked steps of
X are replaced by a learned vector and go through the *contrastive module* (Conformer
layers), whose output c must pick q_t among distractors, and then through the *MLM
module* (more Conformer layers), whose head predicts the code id of every masked step.

The model only computes what the losses compare; the losses themselves (contrastive,
diversity, masked prediction) live in ``criterions/w2vbert.py``. Masks come with the
batch (``data/pipeline/speech_only.py``); this module imports nothing from ``data/``.

The code id of a step is one number formed from its G group indices, most significant
group first (fairseq's ``to_codebook_index``), so a quantizer of G groups of V entries
gives MLM targets in [0, V^G). ``code_ids`` is the one place that turns front-end
vectors into ids at inference; the frozen ``w2vbert`` speech tokenizer calls it too.
"""

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

import torch
import torch.nn.functional as F
from fairseq.models import BaseFairseqModel, register_model
from fairseq.modules import FairseqDropout, GumbelVectorQuantizer, SinusoidalPositionalEmbedding
from fairseq.dataclass import FairseqDataclass
from torch import nn

from .conformer import Mu2SlamConformerLayer
from .frontend import SpeechFrontEnd, lengths_to_padding_mask

_POS_PAD = 1  # padding index of the sinusoidal position table


@dataclass
class W2vBertConfig(FairseqDataclass):
    """Sizes of the w2v-BERT model; the defaults are ``mu2slam_w2vbert_base``'s."""

    embed_dim: int = field(default=1024, metadata={"help": "model width"})
    input_feat_per_channel: int = field(
        default=80, metadata={"help": "log-Mel bins per input frame"}
    )
    conv_channels: int = field(
        default=128, metadata={"help": "channels of the two Conv2d layers of the front end"}
    )
    contrastive_layers: int = field(
        default=8, metadata={"help": "Conformer layers of the contrastive module"}
    )
    mlm_layers: int = field(default=16, metadata={"help": "Conformer layers of the MLM module"})
    ffn_embed_dim: int = field(default=4096, metadata={"help": "Conformer feed-forward size"})
    attention_heads: int = field(default=8, metadata={"help": "Conformer attention heads"})
    conv_kernel_size: int = field(
        default=5, metadata={"help": "Conformer depthwise convolution kernel size (odd)"}
    )
    conv_norm_groups: int = field(
        default=1, metadata={"help": "groups of the group norm in the Conformer convolution"}
    )
    dropout: float = field(default=0.1, metadata={"help": "dropout inside the Conformer layers"})
    input_dropout: float = field(
        default=0.1, metadata={"help": "dropout on the contrastive module's input"}
    )
    latent_vars: int = field(default=1024, metadata={"help": "quantizer entries per group (V)"})
    latent_groups: int = field(default=1, metadata={"help": "quantizer groups (G)"})
    latent_dim: int = field(
        default=768, metadata={"help": "code vector size (all groups together)"}
    )
    latent_temp: str = field(
        default="(2.0, 0.5, 0.999995)",
        metadata={"help": "Gumbel temperature (start, end, decay per update)"},
    )
    final_dim: int = field(default=768, metadata={"help": "space in which c and q are compared"})
    num_negatives: int = field(
        default=100, metadata={"help": "distractors per masked step, from the same utterance"}
    )
    max_positions: int = field(default=6000, metadata={"help": "longest input in 40 ms steps"})


class W2vBertFeatures(nn.Module):
    """Normalised log-Mel (B, T, F) -> X (B, T_grid, D): front end and layer norm.

    Everything the quantizer's input depends on, so that the frozen tokenizer can be
    exported as this module plus the quantizer.
    """

    def __init__(self, input_feat_per_channel: int, conv_channels: int, embed_dim: int):
        super().__init__()
        self.frontend = SpeechFrontEnd(input_feat_per_channel, conv_channels, embed_dim)
        self.layer_norm = nn.LayerNorm(embed_dim)

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor):
        x, steps = self.frontend(feats, lengths)
        return self.layer_norm(x), steps


def build_quantizer(cfg: Any) -> GumbelVectorQuantizer:
    """wav2vec 2.0's product quantizer over X with the config's groups and entries."""
    return GumbelVectorQuantizer(
        dim=cfg.embed_dim,
        num_vars=cfg.latent_vars,
        temp=cfg.latent_temp,
        groups=cfg.latent_groups,
        combine_groups=False,
        vq_dim=cfg.latent_dim,
        time_first=True,
    )


def code_ids(quantizer: GumbelVectorQuantizer, x: torch.Tensor) -> torch.Tensor:
    """(N, D) front-end vectors -> (N,) code ids: argmax of each group's logits, combined.

    The logits are computed in float64 so that an id does not depend on how many rows
    are computed together (BLAS blocking changes float32 rounding with the batch shape).
    """
    proj = quantizer.weight_proj
    logits = F.linear(x.double(), proj.weight.double(), proj.bias.double())
    groups = logits.view(len(x), quantizer.groups, quantizer.num_vars).argmax(-1)
    return quantizer.to_codebook_index(groups)


def sample_negatives(
    mask: torch.Tensor, num: int, generator: Optional[torch.Generator] = None
) -> Dict[str, torch.Tensor]:
    """Distractor indices for every masked step, drawn from the *other* masked steps of
    the same utterance, uniformly with replacement (wav2vec 2.0).

    Masked steps are numbered in ``mask.nonzero()`` order (item by item). Returns
    ``index`` (M, num) into that numbering and ``valid`` (M, num): False where the
    utterance has a single masked step, so there is nothing to draw (the index then
    points at the step itself and the loss must ignore it).
    """
    counts = mask.sum(dim=1)
    offsets = torch.cumsum(counts, 0) - counts
    item = torch.repeat_interleave(torch.arange(len(counts), device=mask.device), counts)
    n_masked = int(counts.sum())
    own = torch.arange(n_masked, device=mask.device) - offsets[item]
    others = (counts[item] - 1).clamp(min=1)
    draw = torch.rand(n_masked, num, generator=generator, device=mask.device)
    r = (draw * others[:, None]).long().clamp(max=others[:, None] - 1)
    r = r + (r >= own[:, None]).long()  # skip the step itself
    valid = (counts[item] > 1)[:, None].expand(n_masked, num)
    index = torch.where(valid, offsets[item][:, None] + r, (offsets[item] + own)[:, None])
    return {"index": index, "valid": valid}


def conformer_stack(cfg: Any, n: int) -> nn.ModuleList:
    """n Conformer layers of the config's sizes (``W2vBertConfig`` or ``SlamConfig``)."""
    return nn.ModuleList(
        Mu2SlamConformerLayer(
            cfg.embed_dim,
            cfg.ffn_embed_dim,
            cfg.attention_heads,
            cfg.conv_kernel_size,
            cfg.dropout,
            cfg.conv_norm_groups,
        )
        for _ in range(n)
    )


def run_stack(layers: nn.ModuleList, x: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
    """Batch-first (B, T, D) through the (time-major) Conformer layers."""
    x = x.transpose(0, 1)
    for layer in layers:
        x = layer(x, padding)
    return x.transpose(0, 1)


def fit_mask(mask: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
    """A batch's step mask cut or padded to the grid of ``padding``, kept to valid steps."""
    steps = padding.size(1)
    mask = mask[:, :steps]
    if mask.size(1) < steps:
        mask = F.pad(mask, (0, steps - mask.size(1)))
    return mask & ~padding


class StackInput(nn.Module):
    """X -> the input of a Conformer stack: masked steps replaced by a learned vector
    (initialised as wav2vec 2.0's), sinusoidal positions added, input dropout."""

    def __init__(self, embed_dim: int, max_positions: int, dropout: float):
        super().__init__()
        self.mask_emb = nn.Parameter(torch.empty(embed_dim).uniform_())
        self.embed_positions = SinusoidalPositionalEmbedding(
            embed_dim, _POS_PAD, init_size=max_positions + _POS_PAD + 1
        )
        self.dropout = FairseqDropout(dropout, module_name="StackInput")

    def positions(self, padding: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        marks = torch.where(padding, _POS_PAD, _POS_PAD + 1).long()
        return self.embed_positions(marks).to(dtype)

    def forward(
        self, x: torch.Tensor, mask: Optional[torch.Tensor], padding: torch.Tensor
    ) -> torch.Tensor:
        if mask is not None:
            x = torch.where(mask[..., None], self.mask_emb.to(x.dtype), x)
        return self.dropout(x + self.positions(padding, x.dtype))


def quantize_steps(
    quantizer: GumbelVectorQuantizer, x: torch.Tensor, padding: torch.Tensor, latent_dim: int
) -> Dict[str, Any]:
    """The quantizer over the valid steps of X (so that padding does not enter its
    perplexities): ``q_out`` (the quantizer's outputs), code vectors ``q_all``
    (B, T, latent_dim) and code ids ``ids`` (B, T), zero at padding."""
    valid = ~padding
    q_out = quantizer(x[valid].unsqueeze(0), produce_targets=True)
    q_all = x.new_zeros(x.shape[:2] + (latent_dim,))
    q_all[valid] = q_out["x"][0].to(q_all.dtype)
    ids = torch.zeros(x.shape[:2], dtype=torch.long, device=x.device)
    ids[valid] = quantizer.to_codebook_index(q_out["targets"][0])
    return {"q_out": q_out, "q_all": q_all, "ids": ids}


class W2vBertHeads(nn.Module):
    """What the w2v-BERT losses compare at the masked steps (``masked_outputs``):
    c and q projected into one space, and the MLM head over the V^G code ids."""

    def __init__(self, cfg: Any, num_codes: int):
        super().__init__()
        self.final_proj = nn.Linear(cfg.embed_dim, cfg.final_dim)
        self.project_q = nn.Linear(cfg.latent_dim, cfg.final_dim)
        self.mlm_head = nn.Linear(cfg.embed_dim, num_codes)
        self.num_negatives = cfg.num_negatives

    def forward(
        self, c: torch.Tensor, m: torch.Tensor, q: Dict[str, Any], mask: torch.Tensor
    ) -> Dict[str, Any]:
        """For the M masked steps in ``mask.nonzero()`` order: ``context`` c (M, F') and
        ``quantized`` q (M, F'), ``negatives`` (M, K, F') with ``negatives_valid`` (M, K),
        ``mlm_logits`` (M, V^G) and ``mlm_targets`` (M,); and the quantizer's
        ``prob_perplexity``, ``code_perplexity``, ``num_vars``, ``temp``."""
        quantized = self.project_q(q["q_all"][mask])
        negs = sample_negatives(mask, self.num_negatives)
        q_out = q["q_out"]
        return {
            "context": self.final_proj(c[mask]),
            "quantized": quantized,
            "negatives": quantized[negs["index"]],
            "negatives_valid": negs["valid"],
            "mlm_logits": self.mlm_head(m[mask]),
            "mlm_targets": q["ids"][mask],
            "prob_perplexity": q_out["prob_perplexity"],
            "code_perplexity": q_out["code_perplexity"],
            "num_vars": q_out["num_vars"],
            "temp": q_out["temp"],
        }


@register_model("mu2slam_w2vbert", dataclass=W2vBertConfig)
class W2vBertModel(BaseFairseqModel):
    def __init__(self, cfg: W2vBertConfig):
        super().__init__()
        self.cfg = cfg
        # input normalisation (global CMVN), set by the task; part of the checkpoint so that
        # the exported tokenizer needs nothing else
        self.register_buffer("input_mean", torch.zeros(cfg.input_feat_per_channel))
        self.register_buffer("input_std", torch.ones(cfg.input_feat_per_channel))
        self.features = W2vBertFeatures(
            cfg.input_feat_per_channel, cfg.conv_channels, cfg.embed_dim
        )
        self.quantizer = build_quantizer(cfg)
        self.inputs = StackInput(cfg.embed_dim, cfg.max_positions, cfg.input_dropout)
        self.contrastive_module = conformer_stack(cfg, cfg.contrastive_layers)
        self.mlm_module = conformer_stack(cfg, cfg.mlm_layers)
        self.heads = W2vBertHeads(cfg, self.num_codes)

    @classmethod
    def build_model(cls, cfg: W2vBertConfig, task: Any) -> "W2vBertModel":
        model = cls(cfg)
        stats = getattr(task, "input_stats", lambda: None)()
        if stats is not None:
            model.set_input_stats(*stats)
        return model

    @property
    def num_codes(self) -> int:
        """Size of the MLM target vocabulary, V^G."""
        return self.cfg.latent_vars**self.cfg.latent_groups

    def set_input_stats(self, mean: Any, std: Any) -> None:
        """Global mean and std per log-Mel bin, applied before the front end."""
        self.input_mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
        self.input_std.copy_(torch.as_tensor(std, dtype=torch.float32).clamp(min=1e-5))

    def max_positions(self) -> Optional[int]:
        return None  # the task filters by frames

    def featurize(self, feats: torch.Tensor, lengths: torch.Tensor):
        """Raw log-Mel (B, T, F) -> X (B, T_grid, D) and the valid steps per item."""
        feats = (feats - self.input_mean) / self.input_std
        return self.features(feats, lengths)

    def forward(
        self, feats: torch.Tensor, lengths: torch.Tensor, mask: torch.Tensor
    ) -> Dict[str, Any]:
        """feats (B, T, F) raw log-Mel, lengths (B,), mask (B, T_grid) True at masked steps:
        ``W2vBertHeads``' outputs at the masked steps."""
        x, steps = self.featurize(feats, lengths)
        padding = lengths_to_padding_mask(steps, x.size(1))
        mask = fit_mask(mask, padding)
        q = quantize_steps(self.quantizer, x, padding, self.cfg.latent_dim)
        h = self.inputs(x, mask, padding)
        c = run_stack(self.contrastive_module, h, padding)
        m = run_stack(self.mlm_module, c, padding)
        return self.heads(c, m, q, mask)

    @torch.no_grad()
    def unit_ids(self, feats: torch.Tensor, lengths: torch.Tensor) -> List[torch.Tensor]:
        """The quantizer's code id of every 40 ms step of each item (inference: argmax)."""
        x, steps = self.featurize(feats, lengths)
        return [code_ids(self.quantizer, x[b, : int(n)]) for b, n in enumerate(steps)]
