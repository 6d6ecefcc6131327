"""Speech front end: two stride-2 Conv2d layers and a linear projection (4x subsampling).

fairseq's ``Conv2dSubsampler`` has exactly the paper's layers; we keep its modules (and
so its parameter names) and only run them with length masks. Unmasked, the first
conv's ReLU output at padded frames is ReLU(bias), not zero, and the second conv's last
valid step would read it, so an utterance would come out differently depending on how
much padding its batch needed.
"""
from typing import Tuple

import torch
from fairseq.models.speech_to_text.modules.convolution import Conv2dSubsampler

from ..grid import conv_out_length, grid_length


def lengths_to_padding_mask(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    """(B, max_len) bool, True at positions >= length."""
    return torch.arange(max_len, device=lengths.device)[None, :] >= lengths[:, None]


class SpeechFrontEnd(Conv2dSubsampler):
    """log-Mel (B, T, F) -> speech representations S (B, grid_length(T), embed_dim)."""

    def __init__(self, input_feat_per_channel: int, conv_channels: int, embed_dim: int):
        super().__init__(1, input_feat_per_channel, conv_channels, embed_dim)

    def forward(  # type: ignore[override]
        self, feats: torch.Tensor, lengths: torch.Tensor
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Returns S (B, T_grid, C) and the valid steps per item, ``grid_length(lengths)``.

        Steps at or beyond an item's grid length hold no information and must be
        masked by the caller.
        """
        conv1, act1, conv2, act2 = self.conv
        x = feats.masked_fill(lengths_to_padding_mask(lengths, feats.size(1))[:, :, None], 0.0)
        x = act1(conv1(x.unsqueeze(1)))  # (B, C, T/2, F/2)
        pad = lengths_to_padding_mask(conv_out_length(lengths), x.size(2))
        x = x.masked_fill(pad[:, None, :, None], 0.0)
        x = act2(conv2(x))  # (B, C, T/4, F/4)
        bsz, channels, steps, freq = x.size()
        x = x.transpose(1, 2).reshape(bsz, steps, channels * freq)
        return self.out(x), grid_length(lengths)
