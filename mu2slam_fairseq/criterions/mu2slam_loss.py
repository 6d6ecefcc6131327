"""The Mu2SLAM pre-training criterion (paper §2.3, Eqs. 2-6, plus CTC on ASR).

The data layer builds every loss term's inputs as a *view* (see ``data/pipeline/views.py``): an
encoder input with its MLM targets, one or more decoder passes with their targets, and
for ASR a CTC target. This criterion only runs the views through the model and weighs
the terms; what a term means, which terms a batch logs and which coefficient weighs each
are declared once, with the objective (``objectives/``).

Reduction (``--term-normalisation``): by default each term is the mean over its own loss
positions, then weighted and summed, so a 1,000-frame speech MLM term does not drown a
20-token MT term; ``example`` is the paper's: each term summed over the positions of an
example and averaged over its view's examples (Eqs. 3, 6). ``sample_size`` is 1 per
batch either way, and fairseq averages over ``--update-freq`` steps and data-parallel
workers.

Speed: views run in packs, several views per encoder and decoder pass (``packing.py``,
``--pack-overhead``), and the vocabulary heads (MLM, decoder output) project only the
positions that carry loss. CTC reuses the encoder pass of its speech -> text view.
"""

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from fairseq.criterions import register_criterion
from fairseq.dataclass import ChoiceEnum

from ..objectives import coefficients_config, objective
from .packing import concat_inputs, decoder_batch, plan, stack_rows, view_shape
from .terms import TermCriterion, ctc_loss, decode, empty_log, fill_log, zero_loss


@dataclass
class Mu2slamCriterionConfig(coefficients_config()):
    """The coefficients of ``objectives/`` (``--weight-*``), then the criterion's own settings."""

    label_smoothing: float = field(
        default=0.0, metadata={"help": "label smoothing of decoder losses"}
    )
    term_normalisation: ChoiceEnum(["token", "example"]) = field(
        default="token",
        metadata={
            "help": "each loss term divided by its loss positions (token), or summed per example and "
            "averaged over the examples of its view, as the paper's Eqs. 3 and 6 (example)"
        },
    )
    pack_overhead: int = field(
        default=256,
        metadata={
            "help": "views share one encoder and one decoder pass when that saves more than this many "
            "padded positions per pass saved (0: a pass per view); see criterions/packing.py"
        },
    )


def term_weight(cfg: Mu2slamCriterionConfig, view: str, part: str) -> float:
    """The coefficient of one part of a view ("mlm", "dec", "dec_units", "ctc", ...)."""
    return getattr(cfg, objective(view).weight_flag(part))


Term = Tuple[str, torch.Tensor, int, int]  # (name, summed loss, count, correct argmaxes)
Sums = Tuple[List[torch.Tensor], List[int], List[int]]


@register_criterion("mu2slam", dataclass=Mu2slamCriterionConfig)
class Mu2slamCriterion(TermCriterion):
    cfg: Mu2slamCriterionConfig

    def pack_terms(self, model, views: Sequence[Dict]) -> List[List[Term]]:
        """(term, summed loss, count, correct) of every term of each view, computed in one
        encoder pass and one decoder pass over all of them (see ``packing.py``).

        The output heads (MLM and decoder projections onto the vocabulary) run on the
        positions that carry loss only: the masked part of an MLM input, the masked
        positions of a complementary decoder target, never padding.
        """
        enc = model.encoder(**concat_inputs([v["net_input"] for v in views], self.pad))
        shapes = [view_shape(v) for v in views]
        starts = [sum(s.rows for s in shapes[:k]) for k in range(len(views))]
        mlm = self._mlm_sums(model, enc, views, shapes)
        passes = [(k, dec) for k, v in enumerate(views) for dec in v.get("decoders", [])]
        dec_sums = self._decoder_sums(
            model, enc, [d for _, d in passes], [starts[k] for k, _ in passes]
        )
        terms: List[List[Term]] = [[] for _ in views]
        for k, view in enumerate(views):
            if mlm is not None and mlm[1][k] > 0:
                terms[k].append((f"{view['name']}/mlm", mlm[0][k], mlm[1][k], mlm[2][k]))
        for j, (k, dec) in enumerate(passes):
            name = views[k]["name"]
            suffix = (
                dec["name"][len(name) :].lstrip("_")
                if dec["name"].startswith(name)
                else dec["name"]
            )
            terms[k].append(
                (
                    f"{name}/dec" + (f"_{suffix}" if suffix else ""),
                    dec_sums[0][j],
                    dec_sums[1][j],
                    dec_sums[2][j],
                )
            )
        for k, view in enumerate(views):
            if view.get("ctc") is not None and self.cfg.weight_ctc > 0:
                rows = torch.arange(starts[k], starts[k] + shapes[k].rows)
                own = model.encoder.select_rows(enc, rows, shapes[k].enc_len)
                terms[k].append(
                    (f"{view['name']}/ctc",)
                    + ctc_loss(model, own, view["ctc"], self.pad, self.blank)
                )
        return terms

    def _mlm_sums(self, model, enc: Dict, views: Sequence[Dict], shapes) -> Optional[Sums]:
        """Per view: summed MLM cross-entropy, count and correct argmaxes (one head call)."""
        targets = [v.get("mlm_target") for v in views]
        if all(t is None for t in targets):
            return None
        out = enc["encoder_out"][0]
        rows = [
            t if t is not None else torch.full((s.rows, 0), self.pad, device=out.device)
            for t, s in zip(targets, shapes)
        ]
        grid = stack_rows(rows, self.pad, out.size(0))
        owner = torch.cat([torch.full((s.rows,), k) for k, s in enumerate(shapes)])
        return self._sums(lambda keep: model.mlm_logits(enc, keep), grid, owner, len(views), 0.0)

    def _decoder_sums(
        self, model, enc: Dict, passes: Sequence[Dict], starts: Sequence[int]
    ) -> Sums:
        """Per decoder pass: summed cross-entropy, count and correct argmaxes (one decoder batch)."""
        if not passes:
            return [], [], []
        batch = decoder_batch(passes, starts, self.pad)
        rows = model.encoder.select_rows(enc, batch["rows"])
        logits = lambda keep: decode(model, rows, batch, keep)  # noqa: E731
        return self._sums(
            logits, batch["target"], batch["pass_of_row"], len(passes), self.cfg.label_smoothing
        )

    def _sums(
        self, logits_at, target: torch.Tensor, owner: torch.Tensor, groups: int, smoothing: float
    ) -> Sums:
        """Cross-entropy at the non-pad positions of ``target`` (B, T), summed per owner of each row."""
        keep = target.ne(self.pad)
        if not keep.any():  # nothing to predict: no head call (terms with n = 0 add nothing)
            return [torch.zeros(())] * groups, [0] * groups, [0] * groups
        tgt = target[keep]
        who = owner.to(tgt.device)[:, None].expand_as(keep)[keep]
        logits = logits_at(keep).float()
        losses = F.cross_entropy(logits, tgt, reduction="none", label_smoothing=smoothing)
        sums = losses.new_zeros(groups).index_add(0, who, losses)
        counts = torch.bincount(who, minlength=groups).tolist()
        correct = torch.bincount(who[logits.argmax(-1) == tgt], minlength=groups).tolist()
        return [sums[k] for k in range(groups)], counts, correct

    def forward(self, model, sample, reduce=True):
        total = 0.0
        log = empty_log()
        log.update(nsentences=sample["nsentences"], ntokens=sample["ntokens"], sample_size=1)
        views = sample["views"]
        terms: List[List[Term]] = [[] for _ in views]
        for pack in plan([view_shape(v) for v in views], self.cfg.pack_overhead):
            for k, view_terms in zip(pack, self.pack_terms(model, [views[k] for k in pack])):
                terms[k] = view_terms
        for view, view_terms in zip(views, terms):
            fill_log(log, f"{view['name']}/nsentences", view["nsentences"])
            for term, loss, n, correct in view_terms:
                weight = term_weight(self.cfg, view["name"], term.split("/", 1)[1])
                if n > 0 and weight > 0:
                    per_example = self.cfg.term_normalisation == "example"
                    total = total + weight * loss / (view["nsentences"] if per_example else n)
                fill_log(log, f"{term}/loss", loss.detach().item())
                fill_log(log, f"{term}/n", n)
                fill_log(log, f"{term}/correct", correct)
        if not torch.is_tensor(total):  # no term had any loss position
            total = zero_loss(model.parameters())
        log["loss"] = total.detach().item()
        return total, 1, log
