"""The 40 ms grid shared by the speech front end, the speech tokenizer and the datasets.

Two Conv2d layers with kernel 3, stride 2 and padding 1 each map n frames to
floor((n - 1) / 2) + 1 = ceil(n / 2), so the stack maps n log-Mel frames to ceil(n / 4)
steps. Everything that needs that number calls this module, so the model's speech
length, the number of unit ids and the dataset's bookkeeping can never disagree.
"""

from typing import Union

import torch

SUBSAMPLING = 4
CONV_LAYERS = 2


def conv_out_length(n_frames: Union[int, torch.Tensor]) -> Union[int, torch.Tensor]:
    """Length after one kernel-3, stride-2, padding-1 convolution."""
    return (n_frames - 1) // 2 + 1


def grid_length(n_frames: Union[int, torch.Tensor]) -> Union[int, torch.Tensor]:
    """Number of 40 ms steps the Conv2d front end produces from ``n_frames`` 10 ms frames."""
    for _ in range(CONV_LAYERS):
        n_frames = conv_out_length(n_frames)
    return n_frames
