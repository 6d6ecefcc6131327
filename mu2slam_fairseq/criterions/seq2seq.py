"""The fine-tuning criterion ``mu2slam_seq2seq``: label-smoothed cross-entropy of the
forward sequence-to-sequence views (paper §2.4: ℓ_p of Eq. 4 without masks), plus CTC on
ASR speech when ``--ctc-weight`` > 0.

Unlike pre-training, the terms are not averaged one by one: the loss is the sum over all
target tokens of the batch divided by their number (fairseq's usual token average), so
the per-type batch shares of the data config (paper: AST 4, ASR 2, MT 2) set how much
each task weighs, as in the paper's multi-task fine-tuning. ``--weight-<type>`` scales a
type further. The decoder pass and the CTC term are those of pre-training (``terms.py``:
``decode``, ``ctc_loss``); per-view terms are logged under the same names (e.g.
``ast_s2t/dec_loss``), next to ``nll_loss`` and ``ppl``, and, as there, every batch logs
the same keys in the same order (``objectives.log_terms``), whatever types it holds,
because fairseq sums data-parallel logging outputs position by position.
"""

import math
from dataclasses import dataclass, field
from typing import Dict

import torch
import torch.nn.functional as F
from fairseq import metrics, utils
from fairseq.criterions import register_criterion
from fairseq.criterions.label_smoothed_cross_entropy import label_smoothed_nll_loss
from fairseq.dataclass import FairseqDataclass

from ..objectives import log_terms
from .terms import (
    TermCriterion,
    ctc_loss,
    decode,
    empty_log,
    fill_log,
    reduce_term_metrics,
    unused_parameters,
    zero_loss,
)


@dataclass
class Mu2slamSeq2SeqConfig(FairseqDataclass):
    label_smoothing: float = field(
        default=0.1, metadata={"help": "label smoothing epsilon of the decoder loss"}
    )
    ctc_weight: float = field(
        default=0.0, metadata={"help": "weight of CTC on ASR speech (0: off)"}
    )
    weight_asr: float = field(default=1.0, metadata={"help": "scales the ASR decoder loss"})
    weight_ast: float = field(default=1.0, metadata={"help": "scales the AST decoder loss"})
    weight_mt: float = field(default=1.0, metadata={"help": "scales the MT decoder loss"})
    weight_t2t: float = field(
        default=1.0, metadata={"help": "scales the text-understanding (t2t) decoder loss"}
    )


@register_criterion("mu2slam_seq2seq", dataclass=Mu2slamSeq2SeqConfig)
class Mu2slamSeq2SeqCriterion(TermCriterion):
    cfg: Mu2slamSeq2SeqConfig

    def type_weight(self, data_type: str) -> float:
        weight = getattr(self.cfg, f"weight_{data_type}", None)
        if weight is None:
            raise ValueError(
                f"mu2slam_seq2seq has no loss for {data_type} data (fine-tune on asr, ast, mt or t2t)"
            )
        return weight

    def forward(self, model, sample, reduce=True):
        total = 0.0
        ntokens, nll_total = 0, 0.0
        log: Dict[str, float] = {**empty_log(log_terms(finetune=True)), "nll_loss": 0.0}
        log["nsentences"] = sample["nsentences"]
        for view in sample["views"]:
            if view.get("mlm_target") is not None and view["mlm_target"].ne(self.pad).any():
                raise ValueError(
                    f"view {view['name']} has masked inputs; fine-tuning views carry no <mask>"
                )
            weight = self.type_weight(view["type"])
            enc = model.encoder(**view["net_input"])
            fill_log(log, f"{view['name']}/nsentences", view["nsentences"])
            for dec in view["decoders"]:
                keep = dec["target"].ne(self.pad)
                target = dec["target"][keep]
                lprobs = F.log_softmax(
                    decode(model, enc, dec, keep).float(), dim=-1
                )  # (n, V): no padding
                loss, nll = label_smoothed_nll_loss(lprobs, target, self.cfg.label_smoothing)
                n = len(target)
                correct = int((lprobs.argmax(-1) == target).sum())
                total = total + weight * loss
                ntokens += n
                nll_total += nll.detach().item()
                term = view["name"] + "/dec"
                fill_log(log, f"{term}/loss", loss.detach().item())
                fill_log(log, f"{term}/n", n)
                fill_log(log, f"{term}/correct", correct)
            if view.get("ctc") is not None and self.cfg.ctc_weight > 0:
                loss, n, _ = ctc_loss(model, enc, view["ctc"], self.pad, self.blank)
                total = total + self.cfg.ctc_weight * loss
                fill_log(log, f"{view['name']}/ctc/loss", loss.detach().item())
                fill_log(log, f"{view['name']}/ctc/n", n)
        # every parameter takes part, with zero gradient where unused (e.g. the MLM head)
        if not torch.is_tensor(total):  # no view in the batch
            total = zero_loss(model.parameters())
        elif total.requires_grad:
            total = total + zero_loss(unused_parameters(total, model.parameters()))
        log.update(
            loss=total.detach().item(), nll_loss=nll_total, ntokens=ntokens, sample_size=ntokens
        )
        return total, ntokens, log

    @staticmethod
    def reduce_metrics(logging_outputs) -> None:
        reduce_term_metrics(logging_outputs)
        total = lambda k: sum(log.get(k, 0) for log in logging_outputs)  # noqa: E731
        ntokens = total("ntokens")
        if ntokens > 0:
            metrics.log_scalar(
                "nll_loss", total("nll_loss") / ntokens / math.log(2), ntokens, round=3
            )
            metrics.log_derived("ppl", lambda meters: utils.get_perplexity(meters["nll_loss"].avg))
