"""Turning frame sequences into one vector per 40 ms step, on the grid of ``grid.grid_length``.

Log-Mel frames: step t stacks frames 4t..4t+3 into one 4*d vector. When the frame
count is not a multiple of 4 the last step is completed by repeating the last real
frame (not zeros), so a short tail is described by the sound it contains rather than
by artificial silence. Hidden states at 20 ms: step t averages states 2t and 2t+1,
repeating the last state the same way. Both take the step count from
``grid_length``, so the number of ids always equals the speech front end's length.
"""

import torch

from ..grid import SUBSAMPLING, grid_length

HIDDEN_STATES_PER_STEP = 2  # 20 ms hidden states per 40 ms step


def _gather_index(n_items: int, n_steps: int, per_step: int) -> torch.Tensor:
    """(n_steps, per_step) indices of the items of each step; missing ones repeat the last item."""
    idx = torch.arange(n_steps * per_step).clamp_(max=n_items - 1)
    return idx.view(n_steps, per_step)


def stack_frames(frames: torch.Tensor) -> torch.Tensor:
    """(n, d) frames -> (grid_length(n), 4*d): the frames of each 40 ms step side by side."""
    if frames.dim() != 2 or frames.shape[0] == 0:
        raise ValueError(
            f"expected (frames, dims) with at least one frame, got shape {tuple(frames.shape)}"
        )
    n, d = frames.shape
    g = int(grid_length(n))
    return frames[_gather_index(n, g, SUBSAMPLING)].reshape(g, SUBSAMPLING * d)


def average_pairs(states: torch.Tensor, n_steps: int) -> torch.Tensor:
    """(L, d) 20 ms states -> (n_steps, d): each step is the mean of its two states."""
    if states.dim() != 2 or states.shape[0] == 0:
        raise ValueError(
            f"expected (states, dims) with at least one state, got shape {tuple(states.shape)}"
        )
    idx = _gather_index(states.shape[0], n_steps, HIDDEN_STATES_PER_STEP)
    return states[idx].mean(dim=1)
