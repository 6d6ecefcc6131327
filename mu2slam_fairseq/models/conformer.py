"""Conformer layers with a padding-aware group-norm convolution module.

We reuse torchaudio's ``ConformerLayer`` rather than fairseq's ``ConformerEncoderLayer``:
it already offers group norm in the convolution module (SLAM found group norm better
than batch norm when one batch mixes speech and text, whose statistics differ), and the
only thing fairseq's layer has beyond it, relative positions, is not used here (the
encoder adds absolute sinusoidal positions over the packed speech+text sequence).

Off the shelf, both the depthwise convolution and the group norm see padded positions:
the convolution reads neighbours across the end of an item, the norm averages over
them. ``MaskedConvolutionModule`` zeroes padded positions before the depthwise
convolution and computes the group-norm statistics over valid positions only, so an
item's output does not depend on what else is in its batch. Its parameters are
torchaudio's own (same names), only its forward takes the padding mask.
"""
from typing import Optional

import torch
from torch import nn
from torchaudio.models.conformer import ConformerLayer, _ConvolutionModule


def masked_group_norm(
    x: torch.Tensor, norm: nn.GroupNorm, padding_mask: Optional[torch.Tensor]
) -> torch.Tensor:
    """``norm`` applied to x (B, C, T) with statistics over valid positions only.

    Statistics are computed in at least float32 so the norm is safe under bf16 autocast.
    Padded positions come out as zero.
    """
    if padding_mask is None:
        return norm(x)
    bsz, channels, steps = x.shape
    groups = norm.num_groups
    dtype = torch.promote_types(x.dtype, torch.float32)
    valid = (~padding_mask).to(dtype)[:, None, None, :]  # (B, 1, 1, T)
    xg = x.to(dtype).reshape(bsz, groups, channels // groups, steps)
    count = valid.sum(dim=-1, keepdim=True).clamp(min=1.0) * (channels // groups)
    mean = (xg * valid).sum(dim=(2, 3), keepdim=True) / count
    centred = (xg - mean) * valid
    var = (centred * centred).sum(dim=(2, 3), keepdim=True) / count
    y = (centred * torch.rsqrt(var + norm.eps)).reshape(bsz, channels, steps)
    if norm.affine:
        y = y * norm.weight.to(dtype)[:, None] + norm.bias.to(dtype)[:, None]
    y = y.masked_fill(padding_mask[:, None, :], 0.0)
    return y.to(x.dtype)


class MaskedConvolutionModule(_ConvolutionModule):
    """torchaudio's Conformer convolution module, run with a padding mask."""

    def __init__(
        self,
        input_dim: int,
        depthwise_kernel_size: int,
        dropout: float = 0.0,
        norm_groups: int = 1,
    ):
        super().__init__(
            input_dim, input_dim, depthwise_kernel_size, dropout=dropout, bias=True, use_group_norm=True
        )
        if norm_groups != 1:
            if input_dim % norm_groups:
                raise ValueError(f"group norm: {input_dim} channels do not split into {norm_groups} groups")
            self.sequential[3] = nn.GroupNorm(norm_groups, input_dim)

    def forward(  # type: ignore[override]
        self, input: torch.Tensor, padding_mask: Optional[torch.Tensor] = None
    ) -> torch.Tensor:
        """input (B, T, D), padding_mask (B, T) True at padding -> (B, T, D)."""
        pointwise1, glu, depthwise, norm, activation, pointwise2, dropout = self.sequential
        x = glu(pointwise1(self.layer_norm(input).transpose(1, 2)))  # (B, D, T)
        if padding_mask is not None:
            x = x.masked_fill(padding_mask[:, None, :], 0.0)
        x = masked_group_norm(depthwise(x), norm, padding_mask)
        x = dropout(pointwise2(activation(x)))
        return x.transpose(1, 2)


class Mu2SlamConformerLayer(ConformerLayer):
    """torchaudio's Conformer layer whose convolution module also sees the padding mask."""

    def __init__(
        self,
        embed_dim: int,
        ffn_embed_dim: int,
        attention_heads: int,
        kernel_size: int,
        dropout: float = 0.0,
        norm_groups: int = 1,
    ):
        super().__init__(
            embed_dim, ffn_embed_dim, attention_heads, kernel_size, dropout=dropout, use_group_norm=True
        )
        self.conv_module = MaskedConvolutionModule(embed_dim, kernel_size, dropout, norm_groups)
        self._padding_mask: Optional[torch.Tensor] = None

    def forward(  # type: ignore[override]
        self, input: torch.Tensor, key_padding_mask: Optional[torch.Tensor]
    ) -> torch.Tensor:
        """input (T, B, D), key_padding_mask (B, T) True at padding -> (T, B, D)."""
        # torchaudio's forward calls _apply_convolution(x) without the mask; hand it over here
        self._padding_mask = key_padding_mask
        try:
            return super().forward(input, key_padding_mask)
        finally:
            self._padding_mask = None

    def _apply_convolution(self, input: torch.Tensor) -> torch.Tensor:
        return input + self.conv_module(input.transpose(0, 1), self._padding_mask).transpose(0, 1)
