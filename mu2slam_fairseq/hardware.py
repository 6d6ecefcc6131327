"""What the machine can do fast, for defaults that depend on it."""

import torch


def cpu_has_native_bf16() -> bool:
    """True when the CPU multiplies bf16 in hardware (AVX-512 BF16 or AMX tiles).

    Elsewhere (e.g. AVX2-only CPUs) torch's bf16 matrix products fall back to a scalar
    kernel: a mu2slam_tiny fine-tuning update under bf16 autocast took over 100 s on such
    a 2-core CPU against 15-18 s in fp32.
    """
    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
