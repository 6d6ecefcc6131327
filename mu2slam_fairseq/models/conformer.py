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
import torch.nn.functional as F
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


def _cpu_autocast(x: torch.Tensor) -> bool:
    return x.device.type == "cpu" and torch.is_autocast_enabled("cpu")


class MaskedConvolutionModule(_ConvolutionModule):
    """torchaudio's Conformer convolution module, run with a padding mask.

    Everything runs on the (B, T, C) layout, with torchaudio's parameters: the two
    pointwise (kernel 1) convolutions as the linear maps they are, the depthwise one as a
    2-d convolution over a (B, C, 1, T) channels-last view of the same memory. On CPU the
    1-d convolution kernels took 1.8x (fp32) to 6x (bf16) the time of a matmul for the
    pointwise products and 2.5x the time of the channels-last kernel for the depthwise
    one, and needed transposes around them.
    """

    def __init__(
        self,
        input_dim: int,
        depthwise_kernel_size: int,
        dropout: float = 0.0,
        norm_groups: int = 1,
    ):
        super().__init__(
            input_dim,
            input_dim,
            depthwise_kernel_size,
            dropout=dropout,
            bias=True,
            use_group_norm=True,
        )
        if norm_groups != 1:
            if input_dim % norm_groups:
                raise ValueError(
                    f"group norm: {input_dim} channels do not split into {norm_groups} groups"
                )
            self.sequential[3] = nn.GroupNorm(norm_groups, input_dim)

    def forward(  # type: ignore[override]
        self, input: torch.Tensor, padding_mask: Optional[torch.Tensor] = None
    ) -> torch.Tensor:
        """input (B, T, D), padding_mask (B, T) True at padding -> (B, T, D)."""
        pointwise1, _, depthwise, norm, activation, pointwise2, dropout = self.sequential
        x = F.glu(
            F.linear(self.layer_norm(input), pointwise1.weight.squeeze(-1), pointwise1.bias), dim=-1
        )
        if padding_mask is not None:
            x = x.masked_fill(padding_mask[:, :, None], 0.0)
        x = F.conv2d(
            x.contiguous().unsqueeze(1).permute(0, 3, 1, 2),  # (B, D, 1, T), channels-last: no copy
            depthwise.weight.unsqueeze(2),
            depthwise.bias,
            padding=(0, depthwise.padding[0]),
            groups=depthwise.groups,
        ).squeeze(2)  # (B, D, T)
        x = activation(masked_group_norm(x, norm, padding_mask))
        x = F.linear(x.transpose(1, 2), pointwise2.weight.squeeze(-1), pointwise2.bias)
        return dropout(x)


def self_attention(
    attn: nn.MultiheadAttention, x: torch.Tensor, key_padding_mask: Optional[torch.Tensor]
) -> torch.Tensor:
    """Multi-head self-attention with the parameters of torch's ``attn`` on x (T, B, D).

    The same computation as ``attn(x, x, x, key_padding_mask=..., need_weights=False)``,
    except that under CPU autocast the scaled dot-product runs in fp32 (the projections
    stay in bf16): torch's CPU attention kernel took 2-4x as long for its bf16 backward
    as for its fp32 one.
    """
    steps, bsz, dim = x.shape
    heads = attn.num_heads
    q, k, v = (
        F.linear(x, attn.in_proj_weight, attn.in_proj_bias)
        .view(steps, bsz, 3, heads, dim // heads)
        .permute(2, 1, 3, 0, 4)
    )  # each (B, H, T, D / H)
    mask = None
    if key_padding_mask is not None:
        mask = torch.zeros(key_padding_mask.shape, dtype=torch.float32, device=x.device)
        mask = mask.masked_fill(key_padding_mask, float("-inf"))[:, None, None, :]
    dropout = attn.dropout if attn.training else 0.0
    if _cpu_autocast(x):
        with torch.autocast("cpu", enabled=False):
            out = F.scaled_dot_product_attention(
                q.float(), k.float(), v.float(), attn_mask=mask, dropout_p=dropout
            )
    else:
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=None if mask is None else mask.to(q.dtype), dropout_p=dropout
        )
    return attn.out_proj(out.permute(2, 0, 1, 3).reshape(steps, bsz, dim))


class Mu2SlamConformerLayer(ConformerLayer):
    """torchaudio's Conformer layer (its modules and parameters) whose convolution module
    also sees the padding mask.

    ``forward`` is torchaudio's (feed-forward half step, self-attention, convolution,
    feed-forward half step, final norm, each with its residual), with the padding mask
    handed to the convolution module and the attention run by ``self_attention``.
    """

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
            embed_dim,
            ffn_embed_dim,
            attention_heads,
            kernel_size,
            dropout=dropout,
            use_group_norm=True,
        )
        self.conv_module = MaskedConvolutionModule(embed_dim, kernel_size, dropout, norm_groups)

    def forward(  # type: ignore[override]
        self, input: torch.Tensor, key_padding_mask: Optional[torch.Tensor]
    ) -> torch.Tensor:
        """input (T, B, D), key_padding_mask (B, T) True at padding -> (T, B, D)."""
        x = self.ffn1(input) * 0.5 + input
        residual = x
        x = self.self_attn_dropout(
            self_attention(self.self_attn, self.self_attn_layer_norm(x), key_padding_mask)
        )
        x = x + residual
        x = x + self.conv_module(x.transpose(0, 1), key_padding_mask).transpose(0, 1)
        x = self.ffn2(x) * 0.5 + x
        return self.final_layer_norm(x)
