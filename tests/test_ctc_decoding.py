"""CTC prefix scores against brute force over every alignment: extensions, repeats, end of
sentence, padding and reordered hypothesis rows."""

import itertools
import math

import pytest
import torch

from mu2slam_fairseq.generation.ctc_prefix_score import CtcPrefixScorer

BLANK, EOS = 0, 1


def collapse(path):
    out, prev = [], None
    for s in path:
        if s != BLANK and s != prev:
            out.append(s)
        prev = s
    return out


def brute_force(lprobs, labels, exact=False):
    """log P(the collapsed output starts with / equals labels), summed over all V^T paths."""
    steps, vocab = lprobs.shape
    total = -math.inf
    for path in itertools.product(range(vocab), repeat=steps):
        out = collapse(path)
        if (out == labels) if exact else (out[: len(labels)] == labels):
            lp = float(sum(lprobs[t, s] for t, s in enumerate(path)))
            total = float(torch.logaddexp(torch.tensor(total), torch.tensor(lp)))
    return total


def random_lprobs(steps, vocab, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.log_softmax(torch.randn(steps, vocab, generator=g) * 2, -1)


@pytest.mark.parametrize("labels", [[2], [3], [2, 2], [2, 3], [3, 2, 3], [2, 3, 2, 2]])
def test_prefix_scores_equal_brute_force(labels):
    """ψ after extending label by label, including repeats (which need a blank between)."""
    steps, vocab = 5, 4  # labels 2, 3; 0 blank; 1 eos (never emitted by the paths)
    lp = random_lprobs(steps, vocab, seed=len(labels))
    lp[:, EOS] = -math.inf
    lp = torch.log_softmax(lp, -1)
    scorer = CtcPrefixScorer(lp[:, None, :], torch.tensor([steps]), BLANK, EOS)
    psi = 0.0
    for i, c in enumerate(labels):
        cand = torch.tensor([[2, 3, EOS]])
        inc = scorer.score(cand)
        psi_h = psi + float(inc[0, cand[0].tolist().index(c)])
        assert psi_h == pytest.approx(brute_force(lp, labels[: i + 1]), abs=1e-4)
        eos_total = psi + float(inc[0, 2])
        want = brute_force(lp, labels[:i], exact=True)
        assert (
            eos_total == pytest.approx(want, abs=1e-4)
            if want > -math.inf
            else eos_total == -math.inf
        )
        scorer.select(torch.tensor([0]), torch.tensor([c]))
        psi = psi_h


def test_padding_and_rows_follow_their_utterance():
    """A padded, shorter utterance scores as it would alone; rows reordered by select keep
    their own utterance and history; the blank scores -inf."""
    vocab = 4
    a, b = random_lprobs(6, vocab, 1), random_lprobs(4, vocab, 2)
    batch = torch.full((6, 2, vocab), -1e4)
    batch[:, 0], batch[:4, 1] = a, b
    both = CtcPrefixScorer(batch, torch.tensor([6, 4]), BLANK, EOS)
    alone = CtcPrefixScorer(b[:, None], torch.tensor([4]), BLANK, EOS)
    cand = torch.tensor([[2, 3, EOS, BLANK], [2, 3, EOS, BLANK]])
    s_both, s_alone = both.score(cand), alone.score(cand[1:])
    torch.testing.assert_close(s_both[1, :3], s_alone[0, :3])
    assert s_both[0, 3] == -math.inf
    # rows swap: row 0 continues utterance b's hypothesis [3], row 1 utterance a's [2]
    both.select(torch.tensor([1, 0]), torch.tensor([3, 2]))
    alone.select(torch.tensor([0]), torch.tensor([3]))
    s_both, s_alone = both.score(cand[:, :3]), alone.score(cand[:1, :3])
    torch.testing.assert_close(s_both[0], s_alone[0])
    assert float(s_both[1, 0]) + float(both.psi[1]) == pytest.approx(
        brute_force(a, [2, 2]), abs=1e-4
    )
