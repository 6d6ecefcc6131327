"""Joint CTC/attention beam search (ESPnet's ``ctc_weight``) inside fairseq's SequenceGenerator.

fairseq's beam search asks its ``EnsembleModel`` for the next-label log-probabilities of
every hypothesis; this ensemble answers, for the decoder's best ``candidates`` labels of
each hypothesis (and end-of-sentence), (1 − λ)·log p_att(c | g, x) + λ·(ψ(g + c) − ψ(g)),
where ψ is the CTC head's prefix score (``ctc_prefix_score.py``); every other label, and any
the CTC head rules out, gets ``RULED_OUT`` (−10⁴) as its CTC score. The generator's own bookkeeping (beams, finished hypotheses, length penalty,
shrinking batches) is unchanged: each step it tells the ensemble which rows survive
(``reorder_incremental_state``), and the last token of each row says which candidate
it took.
"""

from typing import Dict, List, Optional

import torch
from fairseq.sequence_generator import EnsembleModel

from .ctc_prefix_score import CtcPrefixScorer

RULED_OUT = -1e4  # the CTC score of a label the CTC head cannot emit here (e^-10000: never)


def ctc_log_probs(model, encoder_out: Dict[str, List[torch.Tensor]]):
    """(T, B, V) float log-softmax of the CTC head and the (B,) valid steps."""
    lprobs = torch.log_softmax(model.ctc_logits(encoder_out).float(), dim=-1)
    lengths = (~encoder_out["encoder_padding_mask"][0]).sum(1)
    return lprobs, lengths


class JointCtcEnsemble(EnsembleModel):
    """One mu2slam model; next-label scores add λ times its CTC prefix score."""

    def __init__(self, models, weight: float, candidates: int, eos: int):
        if len(models) != 1:
            raise ValueError(f"joint CTC/attention decoding takes one model, not {len(models)}")
        if not 0.0 < weight <= 1.0:
            raise ValueError(f"the CTC weight of joint decoding must be in (0, 1], not {weight}")
        super().__init__(models)
        self.weight, self.candidates, self.eos = weight, candidates, eos
        self.scorer: Optional[CtcPrefixScorer] = None
        self.order: Optional[torch.Tensor] = None

    def forward_encoder(self, net_input: Dict[str, torch.Tensor]):
        self.scorer, self.order = None, None
        return super().forward_encoder(net_input)

    def reorder_incremental_state(self, incremental_states, new_order):
        self.order = new_order
        super().reorder_incremental_state(incremental_states, new_order)

    def forward_decoder(self, tokens, encoder_outs, incremental_states, temperature: float = 1.0):
        lprobs, attn = super().forward_decoder(
            tokens, encoder_outs, incremental_states, temperature
        )
        if tokens.size(1) == 1 or self.scorer is None:  # first step of a batch: the empty prefix
            model = self.single_model
            self.scorer = CtcPrefixScorer(
                *ctc_log_probs(model, encoder_outs[0]), blank=model.ctc_blank, eos=self.eos
            )
        else:
            parents = (
                self.order
                if self.order is not None
                else torch.arange(len(tokens), device=tokens.device)
            )
            self.scorer.select(parents, tokens[:, -1])
        self.order = None
        k = min(self.candidates, lprobs.size(1))
        cand = torch.cat(
            [
                lprobs.topk(k, dim=1).indices,
                torch.full_like(lprobs[:, :1], self.eos, dtype=torch.long),
            ],
            1,
        )
        # a label the CTC head rules out (or that is no candidate) costs RULED_OUT, not -inf:
        # fairseq's forced end of sentence at the length limit and forced prefixes need finite scores
        ctc = torch.full_like(lprobs, RULED_OUT).scatter_(
            1, cand, self.scorer.score(cand).clamp(min=RULED_OUT)
        )
        return (1.0 - self.weight) * lprobs + self.weight * ctc.nan_to_num(RULED_OUT), attn
