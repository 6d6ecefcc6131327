"""Timers (candidates interleaved, medians: see ``_common.py``), FLOP counts, the matmul
ceilings and peak memory."""

import statistics
import time
from typing import Callable, Dict, Hashable, List, Sequence, Tuple

import torch


def median(xs: Sequence[float]) -> float:
    return float(statistics.median(xs))


def paired_times(
    fns: Dict[Hashable, Callable[[], object]], repeats: int, warmup: int = 1
) -> Dict[Hashable, List[float]]:
    """Seconds per call of each function, the functions interleaved round by round."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: Dict[Hashable, List[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    return times


def paired_ratio(times: Dict[Hashable, List[float]], num: Hashable, den: Hashable) -> float:
    """Median over rounds of ``times[num] / times[den]``: the two of a round met the same
    machine, so the ratio survives the drift that moves each median."""
    return median([a / b for a, b in zip(times[num], times[den])])


def matmul_inputs(n: int, dtype: torch.dtype) -> Tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.randn(2048, n, generator=g).to(dtype), torch.randn(n, 4 * n, generator=g).to(dtype)


def matmul_ceilings(n: int = 2048, repeats: int = 5) -> Dict[str, float]:
    """GFLOP/s of a (2048 x n) @ (n x 4n) product in fp32 and in bf16 (AMX where present),
    timed interleaved; the best of ``repeats`` is the ceiling (nothing runs faster)."""
    inputs = {
        name: matmul_inputs(n, dt)
        for name, dt in (("fp32", torch.float32), ("bf16", torch.bfloat16))
    }
    times = paired_times(
        {k: (lambda a=a, b=b: torch.matmul(a, b)) for k, (a, b) in inputs.items()}, repeats
    )
    flops = 2.0 * 2048 * n * 4 * n
    return {k: flops / min(t) / 1e9 for k, t in times.items()}


def flops_of(fn: Callable[[], object]) -> int:
    """FLOPs torch counts for one call (matmuls, convolutions, attention; forward and backward)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


def peak_rss_mb() -> float:
    """This process's peak resident memory so far."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
