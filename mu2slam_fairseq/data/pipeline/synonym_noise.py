"""Synonym noise on decoder inputs (noisy fine-tuning, paper §2.4, after Cheng et al. 2019).

Each decoder input token is, with probability ``prob``, replaced by one of its ``k``
nearest neighbours by cosine similarity in the *current* decoder embedding matrix. The
neighbour table is recomputed every ``refresh_updates`` updates, not per batch: one
V×V similarity per refresh instead of per step. Special symbols (fairseq specials,
speech units, language tags, ``<mask>``) are never replaced and never chosen, and the
targets are left alone: only ``prev_output_tokens`` is noised.
"""

from typing import Optional

import torch


class SynonymNoise:
    def __init__(
        self, special: torch.Tensor, prob: float = 0.06, k: int = 8, refresh_updates: int = 1000
    ):
        """``special``: (V,) bool, True for symbols that are never replaced nor chosen."""
        if not 0.0 <= prob <= 1.0:
            raise ValueError(f"synonym noise probability must be in [0, 1], got {prob}")
        self.special = special.bool()
        self.prob, self.k, self.refresh_updates = prob, k, refresh_updates
        self.table: Optional[torch.Tensor] = None  # (V, k) neighbour ids; -1 rows for specials
        self.table_update: Optional[int] = None

    @torch.no_grad()
    def neighbours(self, weight: torch.Tensor, chunk: int = 4096) -> torch.Tensor:
        """(V, k) ids of each symbol's k most cosine-similar non-special symbols (never itself)."""
        w = torch.nn.functional.normalize(weight.detach().float(), dim=-1)
        candidates = (~self.special.to(w.device)).nonzero().squeeze(1)
        k = min(self.k, max(len(candidates) - 1, 1))
        cand = w[candidates]
        table = torch.full((w.size(0), k), -1, dtype=torch.long, device=w.device)
        for start in range(0, w.size(0), chunk):
            sims = w[start : start + chunk] @ cand.T
            rows = torch.arange(start, min(start + chunk, w.size(0)), device=w.device)
            sims[rows.unsqueeze(1) == candidates.unsqueeze(0)] = float("-inf")  # never itself
            table[start : start + chunk] = candidates[sims.topk(k, dim=1).indices]
        table[self.special.to(w.device)] = -1
        return table

    def refresh(self, weight: torch.Tensor, num_updates: int) -> None:
        if self.table is None or num_updates - self.table_update >= self.refresh_updates:
            self.table = self.neighbours(weight)
            self.table_update = num_updates

    def __call__(
        self,
        tokens: torch.Tensor,
        weight: torch.Tensor,
        num_updates: int = 0,
        generator: Optional[torch.Generator] = None,
    ) -> torch.Tensor:
        """A noised copy of ``tokens`` (B, L); the input tensor is not modified."""
        if self.prob == 0.0:
            return tokens
        self.refresh(weight, num_updates)
        table = self.table.to(tokens.device)
        eligible = ~self.special.to(tokens.device)[tokens]
        draw = torch.rand(tokens.shape, generator=generator, device="cpu").to(tokens.device)
        replace = eligible & (draw < self.prob)
        choice = torch.randint(table.size(1), tokens.shape, generator=generator, device="cpu").to(
            tokens.device
        )
        neighbour = table[tokens, choice]
        return torch.where(replace & (neighbour >= 0), neighbour, tokens)
