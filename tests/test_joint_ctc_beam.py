"""Joint CTC/attention beam search through fairseq's own SequenceGenerator, on a model whose
decoder prefers a repetition loop that its CTC head rules out; and CTC best-path output."""

from typing import Dict, List

import torch
import torch.nn.functional as F
from fairseq.data import Dictionary
from fairseq.models import FairseqDecoder, FairseqEncoder
from fairseq.sequence_generator import SequenceGenerator
from torch import nn

from mu2slam_fairseq.generation.ctc_greedy import CtcGreedyGenerator
from mu2slam_fairseq.generation.joint_ctc import JointCtcEnsemble

D = Dictionary()
A, B = D.add_symbol("a"), D.add_symbol("b")
BLANK, EOS = D.bos(), D.eos()


def frames(*labels: int) -> torch.Tensor:
    """(T, V) CTC logits: each frame all but certain of its label."""
    x = torch.full((len(labels), len(D)), -20.0)
    x[torch.arange(len(labels)), torch.tensor(labels)] = 0.0
    return x


class Encoder(FairseqEncoder):
    def forward(self, src_tokens, src_lengths, **kwargs):
        bsz, steps = src_tokens.shape
        return {
            "encoder_out": [torch.zeros(steps, bsz, 1)],
            "encoder_padding_mask": [src_tokens.eq(D.pad())],
        }

    def reorder_encoder_out(self, encoder_out, new_order):
        return {
            "encoder_out": [encoder_out["encoder_out"][0].index_select(1, new_order)],
            "encoder_padding_mask": [
                encoder_out["encoder_padding_mask"][0].index_select(0, new_order)
            ],
        }


class LoopingDecoder(FairseqDecoder):
    """Whatever the prefix: "a" with p ≈ 0.8, "b" ≈ 0.15, end of sentence ≈ 0.05."""

    def forward(self, prev_output_tokens, encoder_out=None, **kwargs):
        logits = torch.full((len(D),), -30.0)
        logits[A], logits[B], logits[EOS] = 2.0, 0.3, -0.8
        return logits.expand(*prev_output_tokens.shape, -1).clone(), None


class Model(nn.Module):
    """The parts of a mu2slam model that generation uses; the CTC head hears "b"."""

    def __init__(self, ctc: torch.Tensor):
        super().__init__()
        self.encoder, self.decoder, self.ctc = Encoder(D), LoopingDecoder(D), ctc
        self.ctc_blank = BLANK

    def ctc_logits(self, encoder_out) -> torch.Tensor:
        return self.ctc[:, None, :].expand(-1, encoder_out["encoder_out"][0].size(1), -1)

    def get_normalized_probs(self, net_output, log_probs, sample=None):
        return F.log_softmax(net_output[0], dim=-1)

    def max_decoder_positions(self):
        return 100


def nbest(models, beam: int = 3) -> List[List[int]]:
    gen = SequenceGenerator(models, D, beam_size=beam, max_len_b=5)
    sample: Dict = {
        "net_input": {"src_tokens": torch.full((1, 6), A), "src_lengths": torch.tensor([6])}
    }
    return [h["tokens"][:-1].tolist() for h in gen.generate(models, sample)[0]]


def test_hypothesis_the_ctc_head_rules_out_falls_in_rank():
    model = Model(frames(BLANK, B, B, BLANK, BLANK, BLANK))
    plain = nbest([model])
    assert plain[0] == [A, A, A, A, A]  # the decoder's loop, to the length limit
    joint = nbest(JointCtcEnsemble([model], weight=0.5, candidates=6, eos=EOS))
    assert joint[0] == [B]
    assert [A, A, A, A, A] not in joint  # from first to out of the 3-best
    assert all(h.count(A) <= 1 for h in joint)  # each "a" costs ~20 nats of CTC score


def test_small_ctc_weight_still_reranks_the_loop():
    model = Model(frames(BLANK, B, BLANK, B, BLANK, BLANK))
    joint = nbest(JointCtcEnsemble([model], weight=0.3, candidates=6, eos=EOS))
    assert joint[0] == [B, B]  # a repeat needs the blank between, which the frames have


def test_ctc_greedy_merges_repeats_and_drops_blanks():
    model = Model(frames(B, B, BLANK, B, A, A))
    sample = {
        "net_input": {
            "src_tokens": torch.full((1, 6), A),
            "src_lengths": torch.tensor([6]),
            "prev_output_tokens": torch.full((1, 1), EOS),
        }
    }
    hypo = CtcGreedyGenerator(D).generate([model], sample)[0][0]
    assert hypo["tokens"].tolist() == [B, B, A, EOS]
    assert len(hypo["positional_scores"]) == 4
