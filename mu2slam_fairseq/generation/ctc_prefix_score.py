"""CTC prefix scores of beam-search hypotheses (Watanabe et al., 2017, "Hybrid CTC/attention
architecture for end-to-end speech recognition", Algorithm 2).

The prefix score ψ(g) is the log-probability that the CTC head's output *begins* with the
label sequence g, summed over every alignment; the decoder's beam search adds
λ·(ψ(g + c) − ψ(g)) to the attention log-probability of each candidate c. A hypothesis
whose labels the audio cannot support (too many for the frames, repetitions, a sentence
the CTC head never saw) loses probability mass here even when the decoder likes it,
which is what cures the loops and early stops of small attention decoders.

State per hypothesis g: r_t^n(g), r_t^b(g), the log-probabilities of the first t+1 frames
emitting exactly g, ending in a non-blank / a blank. For a candidate c and h = g + c
(φ_t = r_t^b(g) + r_t^n(g) in log-space, or r_t^b(g) only when c repeats g's last label):

    r_0^n(h) = x_0(c) if g is empty else −inf,       r_0^b(h) = −inf
    r_t^n(h) = logadd(r_{t−1}^n(h), φ_{t−1}) + x_t(c)
    r_t^b(h) = logadd(r_{t−1}^b(h), r_{t−1}^n(h)) + x_t(blank)
    ψ(h)     = logsumexp(r_0^n(h), φ_{t−1} + x_t(c) for t ≥ 1)
    ψ(g + eos) = logadd(r_{T−1}^n(g), r_{T−1}^b(g))

Frames past an utterance's length carry blank with probability 1 and every label with 0,
so the last frame of a padded batch holds each utterance's own final values.
Hypotheses are rows; only K candidate labels per row are scored (the decoder's best), as
ESPnet's partial scoring does, which keeps a step at O(T·rows·K).
"""

from typing import Optional

import torch

NEG_INF = float("-inf")


class CtcPrefixScorer:
    """ψ increments of candidate labels for a batch of hypotheses over CTC log-probs.

    ``lprobs`` (T, N, V) log-softmax of the CTC head, ``lengths`` (N,) valid frames; row n
    starts as the empty prefix of utterance n. ``score`` scores candidates of the current
    rows, ``select`` makes the next rows from (parent row, chosen label) pairs.
    """

    def __init__(self, lprobs: torch.Tensor, lengths: torch.Tensor, blank: int, eos: int):
        steps, n, _ = lprobs.shape
        valid = (
            torch.arange(steps, device=lprobs.device)[:, None] < lengths.to(lprobs.device)[None, :]
        )
        x = lprobs.float().masked_fill(~valid[:, :, None], NEG_INF)
        x[:, :, blank] = torch.where(valid, x[:, :, blank], torch.zeros_like(x[:, :, blank]))
        self.x, self.blank, self.eos = x, blank, eos
        self.utt = torch.arange(n, device=x.device)  # row -> utterance (row of x)
        self.r = torch.stack(
            [torch.full_like(x[:, :, blank], NEG_INF), x[:, :, blank].cumsum(0)], -1
        )  # (T, N, 2)
        self.psi = x.new_zeros(n)
        self.last = torch.full((n,), -1, dtype=torch.long, device=x.device)
        self._cand: Optional[torch.Tensor] = None
        self._cand_r: Optional[torch.Tensor] = None
        self._cand_psi: Optional[torch.Tensor] = None

    def score(self, candidates: torch.Tensor) -> torch.Tensor:
        """(N, K) ψ(g + c) − ψ(g) of each row's candidate labels; −inf for the blank."""
        steps = self.x.size(0)
        x_c = self.x[:, self.utt[:, None], candidates]  # (T, N, K)
        x_blank = self.x[:, self.utt, self.blank][:, :, None]  # (T, N, 1)
        r_g = self.r
        either = torch.logaddexp(r_g[..., 0], r_g[..., 1])  # (T, N)
        phi = torch.where(
            (candidates == self.last[:, None])[None], r_g[..., 1][:, :, None], either[:, :, None]
        )
        empty = (self.last < 0)[:, None]
        r_n = torch.empty_like(x_c)
        r_b = torch.empty_like(x_c)
        r_n[0] = torch.where(empty, x_c[0], torch.full_like(x_c[0], NEG_INF))
        r_b[0] = NEG_INF
        for t in range(1, steps):
            r_n[t] = torch.logaddexp(r_n[t - 1], phi[t - 1]) + x_c[t]
            r_b[t] = torch.logaddexp(r_b[t - 1], r_n[t - 1]) + x_blank[t]
        psi = r_n[0]
        if steps > 1:
            psi = torch.logaddexp(psi, torch.logsumexp(phi[:-1] + x_c[1:], dim=0))
        psi = torch.where(candidates == self.eos, either[-1][:, None], psi)
        psi = psi.masked_fill(candidates == self.blank, NEG_INF)
        self._cand, self._cand_r, self._cand_psi = candidates, torch.stack([r_n, r_b], -1), psi
        return psi - self.psi[:, None]

    def select(self, parents: torch.Tensor, labels: torch.Tensor) -> None:
        """Rows become ``parents[i]``'s hypothesis extended by ``labels[i]``, which must be
        among that row's scored candidates (a label that is not gets ψ = −inf)."""
        assert self._cand is not None and self._cand_r is not None and self._cand_psi is not None, (
            "score first"
        )
        match = self._cand[parents] == labels[:, None]  # (M, K)
        k = match.float().argmax(1)
        found = match.any(1)
        self.r = self._cand_r[:, parents, k]
        self.psi = self._cand_psi[parents, k].masked_fill(~found, NEG_INF)
        self.utt = self.utt[parents]
        self.last = labels.clone()
        self._cand = self._cand_r = self._cand_psi = None
