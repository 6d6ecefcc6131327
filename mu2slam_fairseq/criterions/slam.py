"""Criterion ``mu2slam_slam``: the SLAM / mSLAM pre-training losses, one function each.

- speech-only, w2v-BERT: contrastive L_c, diversity L_d and masked prediction L_m, the
  functions of ``criterions/w2vbert.py`` (``w2vbert_sums`` collects them);
- text-only, SpanBERT: ``text_mlm_loss``, cross-entropy at the masked tokens;
- TLM on a pair [speech, text]: w2v-BERT's terms on its speech (contrastive on the speech
  stack, MLM on the shared output) and ``text_mlm_loss`` on its text;
- CTC (mSLAM-CTC): ``speech_ctc_loss``, CTC of the shared output's *speech* positions
  against the transcript of an ASR pair;
- STM (SLAM): ``stm_loss``, two-class cross-entropy of the [CLS] logits against 1 for a
  true pair, 0 for a mismatched one.

Which pair terms a batch has is the task's choice (presets in ``tasks/slam.py``): the
criterion computes CTC and STM wherever the batch carries their inputs. As in the rest
of the plugin (DESIGN.md, loss normalisation) each term is a mean over its positions in
the batch (masked steps, masked tokens, transcript tokens, pairs), the total the weighted
sum of the means, ``sample_size`` 1.
"""

from dataclasses import dataclass, field
from typing import Any, Dict, List, Tuple

import torch
import torch.nn.functional as F
from fairseq import metrics
from fairseq.criterions import FairseqCriterion, register_criterion
from fairseq.dataclass import FairseqDataclass

from .terms import unused_parameters, zero_loss
from .w2vbert import contrastive_logits, contrastive_loss, diversity_loss, mlm_loss

TERMS = (
    "speech_contrastive",
    "speech_diversity",
    "speech_mlm",
    "text_mlm",
    "tlm_contrastive",
    "tlm_diversity",
    "tlm_speech_mlm",
    "tlm_text_mlm",
    "ctc",
    "stm",
)
PAIR_TYPES = ("asr", "ast")


@dataclass
class SlamCriterionConfig(FairseqDataclass):
    contrastive_weight: float = field(default=1.0, metadata={"help": "w2v-BERT contrastive L_c"})
    diversity_weight: float = field(default=0.1, metadata={"help": "codebook diversity L_d"})
    speech_mlm_weight: float = field(default=1.0, metadata={"help": "w2v-BERT masked prediction"})
    text_mlm_weight: float = field(default=1.0, metadata={"help": "SpanBERT masked tokens"})
    tlm_weight: float = field(
        default=1.0, metadata={"help": "scales every TLM term (speech and text of pairs)"}
    )
    ctc_weight: float = field(default=1.0, metadata={"help": "CTC on the speech of ASR pairs"})
    stm_weight: float = field(default=1.0, metadata={"help": "speech-text matching"})
    contrastive_temperature: float = field(
        default=0.1, metadata={"help": "tau of the contrastive cosine similarities"}
    )


Sum = Tuple[torch.Tensor, int, int]  # (summed loss, positions, correct argmaxes)


def w2vbert_sums(out: Dict[str, Any], temperature: float) -> Dict[str, Sum]:
    """w2v-BERT's L_c, L_d and L_m of one model output (sums over the masked steps)."""
    logits = contrastive_logits(
        out["context"], out["quantized"], out["negatives"], temperature, out["negatives_valid"]
    )
    n = len(logits)
    with torch.no_grad():
        c_ok = int((logits.argmax(-1) == 0).sum()) if n else 0
        m_ok = int((out["mlm_logits"].argmax(-1) == out["mlm_targets"]).sum())
    return {
        "contrastive": (contrastive_loss(logits), n, c_ok),
        "diversity": (diversity_loss(out["prob_perplexity"], out["num_vars"]), 1, 0),
        "mlm": (mlm_loss(out["mlm_logits"], out["mlm_targets"]), n, m_ok),
    }


def text_mlm_loss(logits: torch.Tensor, targets: torch.Tensor) -> Sum:
    """SpanBERT / TLM text: summed cross-entropy at the masked tokens (``mlm_loss``)."""
    with torch.no_grad():
        ok = int((logits.argmax(-1) == targets).sum())
    return mlm_loss(logits, targets), len(targets), ok


def speech_ctc_loss(
    logits: torch.Tensor, steps: torch.Tensor, target: torch.Tensor, pad: int, blank: int
) -> Sum:
    """Summed CTC of the speech part's logits (B, T, V), ``steps`` valid per item, against
    the padded transcripts ``target`` (B, L): torch's ``ctc_loss``."""
    lprobs = F.log_softmax(logits.float(), dim=-1).transpose(0, 1)
    keep = target.ne(pad)
    lengths = keep.sum(1)
    loss = F.ctc_loss(
        lprobs, target[keep], steps, lengths, blank=blank, reduction="sum", zero_infinity=True
    )
    return loss, int(lengths.sum()), 0


def stm_loss(logits: torch.Tensor, labels: torch.Tensor) -> Sum:
    """Summed two-class cross-entropy of the [CLS] logits (B, 2); label 1 = true pair."""
    with torch.no_grad():
        ok = int((logits.argmax(-1) == labels).sum())
    return F.cross_entropy(logits.float(), labels, reduction="sum"), len(labels), ok


@register_criterion("mu2slam_slam", dataclass=SlamCriterionConfig)
class SlamCriterion(FairseqCriterion):
    def __init__(self, cfg: SlamCriterionConfig, task: Any):
        super().__init__(task)
        self.cfg = cfg
        self.pad = task.source_dictionary.pad()
        self.blank = task.source_dictionary.bos()  # the plugin's CTC blank

    def weights(self) -> Dict[str, float]:
        c = self.cfg
        return {
            "speech_contrastive": c.contrastive_weight,
            "speech_diversity": c.diversity_weight,
            "speech_mlm": c.speech_mlm_weight,
            "text_mlm": c.text_mlm_weight,
            "tlm_contrastive": c.tlm_weight * c.contrastive_weight,
            "tlm_diversity": c.tlm_weight * c.diversity_weight,
            "tlm_speech_mlm": c.tlm_weight * c.speech_mlm_weight,
            "tlm_text_mlm": c.tlm_weight * c.text_mlm_weight,
            "ctc": c.ctc_weight,
            "stm": c.stm_weight,
        }

    def term_sums(self, views: List[Dict], outs: List[Dict]) -> Dict[str, List[Sum]]:
        """Each term's sums over the batch's views (a term may come from several)."""
        sums: Dict[str, List[Sum]] = {t: [] for t in TERMS}
        tau = self.cfg.contrastive_temperature
        for v, out in zip(views, outs):
            if v["type"] == "speech":
                for part, s in w2vbert_sums(out, tau).items():
                    sums[f"speech_{part}"].append(s)
            elif v["type"] == "text":
                sums["text_mlm"].append(text_mlm_loss(out["text_logits"], out["text_targets"]))
            elif v["type"] in PAIR_TYPES:
                w = w2vbert_sums(out, tau)
                sums["tlm_contrastive"].append(w["contrastive"])
                sums["tlm_diversity"].append(w["diversity"])
                sums["tlm_speech_mlm"].append(w["mlm"])
                sums["tlm_text_mlm"].append(text_mlm_loss(out["text_logits"], out["text_targets"]))
                if "ctc_target" in v:
                    sums["ctc"].append(
                        speech_ctc_loss(
                            out["ctc_logits"],
                            out["speech_steps"],
                            v["ctc_target"],
                            self.pad,
                            self.blank,
                        )
                    )
                if "stm_logits" in out:
                    sums["stm"].append(stm_loss(out["stm_logits"], v["stm_labels"]))
        return sums

    def forward(self, model, sample: Dict[str, Any], reduce: bool = True):
        views = sample["views"]
        outs = model(views)
        total: Any = 0.0
        log: Dict[str, float] = {
            "loss": 0.0,
            "nsentences": sample["nsentences"],
            "ntokens": sample["ntokens"],
            "sample_size": 1,
        }
        weights = self.weights()
        for term, parts in self.term_sums(views, outs).items():
            loss = sum(s[0] for s in parts) if parts else torch.zeros(())
            n, ok = sum(s[1] for s in parts), sum(s[2] for s in parts)
            if n > 0 and weights[term] > 0:
                total = total + weights[term] * loss / n
            log.update({f"{term}_sum": float(loss.detach()), f"{term}_n": n, f"{term}_correct": ok})
        if not torch.is_tensor(total):
            total = zero_loss(model.parameters())
        # every parameter gets a gradient (a term switched off, a type absent on this rank)
        total = total + zero_loss(unused_parameters(total, model.parameters()))
        log["loss"] = float(total.detach())
        return total, 1, log

    @staticmethod
    def reduce_metrics(logging_outputs: List[Dict[str, Any]]) -> None:
        def sum_of(key: str) -> float:
            return sum(log.get(key, 0) for log in logging_outputs)

        batches = max(sum_of("sample_size"), 1)
        metrics.log_scalar("loss", sum_of("loss") / batches, batches, round=4)
        for term in TERMS:
            n = sum_of(f"{term}_n")
            if n > 0:
                metrics.log_scalar(term, sum_of(f"{term}_sum") / n, n, round=4)
                if not term.endswith(("diversity", "ctc")):
                    metrics.log_scalar(f"{term}_acc", sum_of(f"{term}_correct") / n, n, round=4)

    @staticmethod
    def logging_outputs_can_be_summed() -> bool:
        return True
