"""The Mu2SLAM pre-training criterion (paper §2.3, Eqs. 2-6, plus CTC on ASR).

The data layer builds every loss term's inputs as a *view* (see ``data/views.py``): an
encoder input with its MLM targets, one or more decoder passes with their targets, and
for ASR a CTC target. This criterion only runs the views through the model and weighs
the terms, so what a term means is pinned in one place (the views) and tested there.

Reduction: each term is the mean over its own loss positions, then weighted and summed.
A per-term mean keeps a 1,000-frame speech MLM term from drowning a 20-token MT term,
which is what the paper's loss coefficients assume. ``sample_size`` is therefore 1 per
batch, and fairseq averages over ``--update-freq`` steps and data-parallel workers.
"""
import math
from dataclasses import dataclass, field
from typing import Dict, List, Tuple

import torch
import torch.nn.functional as F
from fairseq import metrics
from fairseq.criterions import FairseqCriterion, register_criterion
from fairseq.dataclass import FairseqDataclass

# Every view is named "<data type>_<kind>"; a term is "<view>/<part>" with part "mlm",
# "ctc", "dec" (the view's one decoder pass) or "dec_<x>" (e.g. "asr_align/dec_units").
TERMS = {
    "speech_u": ("mlm", "dec"),
    "text_u": ("mlm", "dec"),
    "asr_s2t": ("mlm", "dec", "ctc"),
    "asr_t2s": ("mlm", "dec"),
    "asr_align": ("mlm", "dec_units", "dec_text"),
    "ast_s2t": ("mlm", "dec"),
    "ast_t2s": ("mlm", "dec"),
    "ast_align": ("mlm", "dec_units", "dec_text"),
    "mt_fwd": ("mlm", "dec"),
    "mt_bwd": ("mlm", "dec"),
    "mt_align": ("mlm", "dec_src", "dec_tgt"),
}


def empty_log(terms: Dict[str, Tuple[str, ...]] = TERMS) -> Dict[str, float]:
    """Every key a batch can log, set to 0, always in the same order.

    fairseq sums data-parallel ranks' logging outputs position by position, so every rank
    must log the same keys in the same order even when its batch lacks a data type.
    """
    log: Dict[str, float] = {"loss": 0.0, "nsentences": 0, "ntokens": 0, "sample_size": 0}
    for view, parts in terms.items():
        log[f"{view}/nsentences"] = 0
        for part in parts:
            log.update({f"{view}/{part}/loss": 0.0, f"{view}/{part}/n": 0, f"{view}/{part}/correct": 0})
    return log


def fill_log(log: Dict[str, float], key: str, value: float) -> None:
    if key not in log:
        raise KeyError(f"{key!r} is not a known loss term; add it to the criterion's TERMS")
    log[key] = value


@dataclass
class Mu2slamCriterionConfig(FairseqDataclass):
    weight_speech: float = field(default=1.0, metadata={"help": "ℓ_u on unlabeled speech (paper: 1)"})
    weight_text: float = field(default=1.0, metadata={"help": "ℓ_u on unlabeled text (paper: 1)"})
    weight_s2t_decoder: float = field(
        default=0.3, metadata={"help": "decoder loss of speech→text (ASR/AST forward) (paper: 0.3)"}
    )
    weight_s2t_mlm: float = field(default=1.0, metadata={"help": "encoder MLM of speech→text views"})
    weight_t2s: float = field(default=0.1, metadata={"help": "text→speech-units views, ASR/AST backward (paper: 0.1)"})
    weight_alignment: float = field(default=0.1, metadata={"help": "ℓ_a on concatenated pairs (paper: 0.1)"})
    weight_mt: float = field(default=1.0, metadata={"help": "MT forward and backward ℓ_p"})
    weight_ctc: float = field(default=1.0, metadata={"help": "CTC on ASR speech (paper: not given)"})
    label_smoothing: float = field(default=0.0, metadata={"help": "label smoothing of decoder losses"})


def term_weight(cfg: Mu2slamCriterionConfig, view: str, part: str) -> float:
    """The paper's loss coefficients, looked up by view and part."""
    dtype, _, kind = view.partition("_")
    if kind == "u":
        return cfg.weight_speech if dtype == "speech" else cfg.weight_text
    if kind == "align":
        return cfg.weight_alignment
    if dtype == "mt":
        return cfg.weight_mt
    if kind == "t2s":
        return cfg.weight_t2s
    if kind == "s2t":
        return {"mlm": cfg.weight_s2t_mlm, "ctc": cfg.weight_ctc}.get(part, cfg.weight_s2t_decoder)
    raise ValueError(f"no loss weight for view {view!r} part {part!r}")


def _ce(logits: torch.Tensor, target: torch.Tensor, pad: int, smoothing: float) -> Tuple[torch.Tensor, int, int]:
    """Summed cross-entropy over non-pad targets, their count, and the correct argmaxes."""
    keep = target.ne(pad)
    n = int(keep.sum())
    if n == 0:
        return logits.sum() * 0.0, 0, 0
    sel = logits[keep].float()
    tgt = target[keep]
    loss = F.cross_entropy(sel, tgt, reduction="sum", label_smoothing=smoothing)
    correct = int((sel.argmax(-1) == tgt).sum())
    return loss, n, correct


@register_criterion("mu2slam", dataclass=Mu2slamCriterionConfig)
class Mu2slamCriterion(FairseqCriterion):
    def __init__(self, cfg: Mu2slamCriterionConfig, task):
        super().__init__(task)
        self.cfg = cfg
        self.pad = task.target_dictionary.pad()
        self.blank = task.target_dictionary.bos()

    def view_terms(self, model, view: Dict) -> List[Tuple[str, torch.Tensor, int, int]]:
        """(term, summed loss, count, correct) for every term of one view."""
        terms = []
        name = view["name"]
        enc = model.encoder(**view["net_input"])
        mlm_target = view.get("mlm_target")
        if mlm_target is not None and mlm_target.ne(self.pad).any():
            loss, n, ok = _ce(model.mlm_logits(enc), mlm_target, self.pad, 0.0)
            terms.append((f"{name}/mlm", loss, n, ok))
        for dec in view.get("decoders", []):
            logits = self.decode(model, enc, dec)
            loss, n, ok = _ce(logits, dec["target"], self.pad, self.cfg.label_smoothing)
            suffix = dec["name"][len(name):].lstrip("_") if dec["name"].startswith(name) else dec["name"]
            terms.append((f"{name}/dec" + (f"_{suffix}" if suffix else ""), loss, n, ok))
        ctc = view.get("ctc")
        if ctc is not None and self.cfg.weight_ctc > 0:
            terms.append((f"{name}/ctc",) + self.ctc_loss(model, enc, ctc))
        return terms

    @staticmethod
    def decode(model, enc: Dict, dec: Dict) -> torch.Tensor:
        """(B, T_out, V) logits of one decoder pass of a view over its encoder output."""
        logits, _ = model.decoder(
            dec["prev_output_tokens"], encoder_out=enc, tgt_lang=dec["tgt_lang"], tgt_modality=dec["tgt_modality"]
        )
        return logits

    def ctc_loss(self, model, enc: Dict, ctc: Dict) -> Tuple[torch.Tensor, int, int]:
        """CTC over the speech steps of a speech-only encoder pass (reuses the forward pass)."""
        lprobs = F.log_softmax(model.ctc_logits(enc).float(), dim=-1)  # (T, B, V)
        lengths = enc["speech_steps"][0]
        target, target_lengths = ctc["target"], ctc["target_lengths"]
        loss = F.ctc_loss(
            lprobs, target[target.ne(self.pad)], lengths, target_lengths,
            blank=self.blank, reduction="sum", zero_infinity=True,
        )
        return loss, int(target_lengths.sum()), 0

    def forward(self, model, sample, reduce=True):
        total = 0.0
        log = empty_log()
        log.update(nsentences=sample["nsentences"], ntokens=sample["ntokens"], sample_size=1)
        for view in sample["views"]:
            fill_log(log, f"{view['name']}/nsentences", view["nsentences"])
            for term, loss, n, correct in self.view_terms(model, view):
                weight = term_weight(self.cfg, view["name"], term.split("/", 1)[1])
                if n > 0 and weight > 0:
                    total = total + weight * loss / n
                fill_log(log, f"{term}/loss", loss.detach().item())
                fill_log(log, f"{term}/n", n)
                fill_log(log, f"{term}/correct", correct)
        if not torch.is_tensor(total):  # no term had any loss position
            total = sum(p.sum() * 0.0 for p in model.parameters())
        log["loss"] = total.detach().item()
        return total, 1, log

    @staticmethod
    def reduce_metrics(logging_outputs) -> None:
        keys = {k for log in logging_outputs for k in log}
        total = lambda k: sum(log.get(k, 0) for log in logging_outputs)  # noqa: E731
        sample_size = total("sample_size") or 1
        metrics.log_scalar("loss", total("loss") / sample_size / math.log(2), sample_size, round=3)
        for k in sorted(keys):
            if k.endswith("/loss"):
                term = k[: -len("/loss")]
                n = total(f"{term}/n")
                if n > 0:
                    metrics.log_scalar(f"{term}_loss", total(k) / n / math.log(2), n, round=3)
                    if not term.endswith("/ctc"):
                        metrics.log_scalar(f"{term}_acc", 100.0 * total(f"{term}/correct") / n, n, round=2)
            elif k.endswith("/nsentences") and total(k) > 0:
                metrics.log_scalar(k.replace("/", "_"), total(k), 1, round=0)

    @staticmethod
    def logging_outputs_can_be_summed() -> bool:
        return True
