"""Criterion ``mu2slam_w2vbert``: the w2v-BERT loss on speech.

    L = contrastive_weight * L_c + diversity_weight * L_d + mlm_weight * L_m

with w2v-BERT's defaults (1, 0.1, 1). Every equation has its function here:

- ``contrastive_logits`` / ``contrastive_loss`` (wav2vec 2.0's L_w): for a masked step
  with context c, true code vector q and distractors q~_1..K,
  -log( exp(sim(c, q)/tau) / (exp(sim(c, q)/tau) + sum_k exp(sim(c, q~_k)/tau)) ),
  sim the cosine similarity, tau 0.1. A distractor equal to q, or one that does not exist
  (an utterance with a single masked step), gets logit -inf.
- ``diversity_loss`` (L_d): (G V - sum_g exp(H(p_g))) / (G V), p_g the softmax of group
  g's logits averaged over the batch's steps (fairseq's quantizer returns the sum, its
  ``prob_perplexity``); 0 when every entry is used equally.
- ``mlm_loss`` (L_m): cross-entropy of the MLM head against the quantizer's code ids of
  the masked steps.

L_c and L_m are means over the batch's masked steps (the per-position scale of the
pre-training criterion, see DESIGN.md), so ``sample_size`` is 1 per batch.
"""

import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

import torch
import torch.nn.functional as F
from fairseq import metrics
from fairseq.criterions import FairseqCriterion, register_criterion
from fairseq.dataclass import FairseqDataclass


@dataclass
class W2vBertCriterionConfig(FairseqDataclass):
    contrastive_weight: float = field(default=1.0, metadata={"help": "weight of L_c"})
    diversity_weight: float = field(
        default=0.1, metadata={"help": "weight of the codebook diversity loss L_d"}
    )
    mlm_weight: float = field(default=1.0, metadata={"help": "weight of the masked prediction L_m"})
    contrastive_temperature: float = field(
        default=0.1, metadata={"help": "tau of the contrastive loss's cosine similarities"}
    )


def contrastive_logits(
    context: torch.Tensor,
    positive: torch.Tensor,
    negatives: torch.Tensor,
    temperature: float,
    negatives_valid: Optional[torch.Tensor] = None,
) -> torch.Tensor:
    """(M, 1 + K) logits sim/tau: column 0 the true code vector, then the K distractors.

    context, positive (M, F); negatives (M, K, F); negatives_valid (M, K) bool.
    """
    targets = torch.cat([positive[:, None], negatives], dim=1).float()
    logits = F.cosine_similarity(context.float()[:, None], targets, dim=-1) / temperature
    drop = (negatives == positive[:, None]).all(-1)
    if negatives_valid is not None:
        drop = drop | ~negatives_valid
    return torch.cat([logits[:, :1], logits[:, 1:].masked_fill(drop, float("-inf"))], dim=1)


def contrastive_loss(logits: torch.Tensor) -> torch.Tensor:
    """Sum over rows of -log softmax(logits)[0] (the true code vector is column 0)."""
    return -torch.log_softmax(logits, dim=-1)[:, 0].sum()


def diversity_loss(prob_perplexity: torch.Tensor, num_vars: int) -> torch.Tensor:
    """(G V - sum_g exp(H(mean softmax of group g))) / (G V); num_vars = G V."""
    return (num_vars - prob_perplexity) / num_vars


def mlm_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Sum of cross-entropies of the MLM head against the code ids of the masked steps."""
    return F.cross_entropy(logits.float(), targets, reduction="sum")


@register_criterion("mu2slam_w2vbert", dataclass=W2vBertCriterionConfig)
class W2vBertCriterion(FairseqCriterion):
    def __init__(self, cfg: W2vBertCriterionConfig, task: Any):
        super().__init__(task)
        self.cfg = cfg

    def forward(self, model, sample: Dict[str, Any], reduce: bool = True):
        out = model(**sample["net_input"])
        logits = contrastive_logits(
            out["context"],
            out["quantized"],
            out["negatives"],
            self.cfg.contrastive_temperature,
            out["negatives_valid"],
        )
        n = max(len(logits), 1)
        l_c = contrastive_loss(logits) / n
        l_d = diversity_loss(out["prob_perplexity"], out["num_vars"])
        l_m = mlm_loss(out["mlm_logits"], out["mlm_targets"]) / n
        cfg = self.cfg
        loss = cfg.contrastive_weight * l_c + cfg.diversity_weight * l_d + cfg.mlm_weight * l_m
        with torch.no_grad():
            c_correct = int((logits.argmax(-1) == 0).sum()) if len(logits) else 0
            m_correct = int((out["mlm_logits"].argmax(-1) == out["mlm_targets"]).sum())
        log = {
            "loss": loss.item(),
            "contrastive": l_c.item(),
            "diversity": l_d.item(),
            "mlm": l_m.item(),
            "masked": len(logits),
            "contrastive_correct": c_correct,
            "mlm_correct": m_correct,
            "prob_perplexity": float(out["prob_perplexity"].detach()),
            "code_perplexity": float(out["code_perplexity"].detach()),
            "temp": float(out["temp"]),
            "nsentences": sample["nsentences"],
            "ntokens": sample["ntokens"],
            "sample_size": 1,
        }
        return loss, 1, log

    @staticmethod
    def reduce_metrics(logging_outputs: List[Dict[str, Any]]) -> None:
        def total(key: str) -> float:
            return sum(log.get(key, 0) for log in logging_outputs)

        batches = max(total("sample_size"), 1)
        masked = max(total("masked"), 1)
        for key in ("loss", "contrastive", "diversity", "mlm"):
            metrics.log_scalar(key, total(key) / batches, batches, round=4)
        for key in ("prob_perplexity", "code_perplexity", "temp"):
            metrics.log_scalar(key, total(key) / batches, batches, round=3)
        metrics.log_scalar(
            "contrastive_acc", total("contrastive_correct") / masked, masked, round=4
        )
        metrics.log_scalar("mlm_acc", total("mlm_correct") / masked, masked, round=4)
        metrics.log_scalar("masked_steps", total("masked"), round=0)
        metrics.log_derived("mlm_ppl", lambda m: round(math.exp(min(m["mlm"].avg, 50.0)), 2))

    @staticmethod
    def logging_outputs_can_be_summed() -> bool:
        return True
