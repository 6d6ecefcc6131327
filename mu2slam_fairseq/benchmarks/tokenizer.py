"""Speech tokenizer throughput: codebook search speed against this machine's fp32 matmul ceiling.

The codebook search is one float32 matrix product per chunk (2 * steps * dims * entries
flops) plus an argmin and the exactness check; its GFLOP/s is printed beside a plain
(2048 x n) @ (n x 4n) float32 matmul measured in the same run. Throughput is given in
40 ms steps and 10 ms log-Mel frames per second, and the end-to-end figure includes the
normalisation and stacking of raw log-Mel frames.
"""

import argparse
import time
from typing import Callable, List, Optional

import torch

from ..speech_tokenizer.fit import bestrq_parameters
from ..speech_tokenizer.search import nearest
from ..speech_tokenizer.tokenizer import SpeechTokenizer


def best_time(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def matmul_ceiling(n: int, repeats: int) -> float:
    """GFLOP/s of a (2048 x n) @ (n x 4n) float32 product."""
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(2048, n, generator=g), torch.randn(n, 4 * n, generator=g)
    return 2 * 2048 * n * 4 * n / best_time(lambda: a @ b, repeats) / 1e9


def synthetic_tokenizer(kind: str, entries: int, n_mels: int, seed: int = 0) -> SpeechTokenizer:
    g = torch.Generator().manual_seed(seed)
    mean, std = torch.randn(n_mels, generator=g) + 10, torch.rand(n_mels, generator=g) + 2
    if kind == "bestrq":
        projection, codebook = bestrq_parameters(4 * n_mels, 16, entries, seed)
        return SpeechTokenizer("bestrq", mean, std, codebook, projection=projection)
    return SpeechTokenizer("kmeans", mean, std, torch.randn(entries, 4 * n_mels, generator=g))


def main(argv: Optional[List[str]] = None) -> None:
    p = argparse.ArgumentParser(
        prog="python -m mu2slam_fairseq.benchmarks tokenizer", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("--entries", type=int, default=1024, help="codebook size")
    p.add_argument("--steps", type=int, default=65536, help="40 ms steps quantized per measurement")
    p.add_argument("--n", type=int, default=1024, help="ceiling matmul size: (2048 x n) @ (n x 4n)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    p.add_argument(
        "--quick", action="store_true", help="tiny sizes: checks that it runs, not the figures"
    )
    a = p.parse_args(argv)
    if a.quick:
        a.entries, a.steps, a.n, a.repeats = 256, 4096, 512, 1
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, codebook {a.entries} entries, "
        f"{a.steps} steps per run, best of {a.repeats}"
    )

    ceiling = matmul_ceiling(a.n, a.repeats)
    print(f"fp32 matmul ceiling (2048 x {a.n}) @ ({a.n} x {4 * a.n}): {ceiling:8.1f} GFLOP/s")

    tok = synthetic_tokenizer("kmeans", a.entries, 80)
    # Vectors near codebook entries, as with real data: many close calls for the exactness check.
    g = torch.Generator().manual_seed(1)
    x = tok.codebook[torch.randint(a.entries, (a.steps,), generator=g)] + 0.7 * torch.randn(
        a.steps, 320, generator=g
    )
    flops = 2.0 * a.steps * 320 * a.entries
    sq = tok.codebook_sq
    t_exact = best_time(lambda: nearest(x, tok.codebook, sq), a.repeats)
    t_plain = best_time(
        lambda: torch.addmm(sq, x, tok.codebook.t(), alpha=-2.0).argmin(dim=1), a.repeats
    )
    ids_plain = torch.addmm(sq, x, tok.codebook.t(), alpha=-2.0).argmin(dim=1)
    differ = int((nearest(x, tok.codebook, sq)[0] != ids_plain).sum())

    frames = torch.randn(4 * a.steps, 80, generator=g) * 3 + 10
    t_e2e = best_time(lambda: tok.units_for_features(frames), a.repeats)

    rq = synthetic_tokenizer("bestrq", a.entries, 80)
    t_rq = best_time(lambda: rq.units_for_features(frames), a.repeats)

    def line(name: str, seconds: float, gflop: Optional[float]) -> str:
        steps_s = a.steps / seconds
        s = f"{name:<38} {steps_s / 1e3:8.1f} k steps/s  {4 * steps_s / 1e6:6.2f} M frames/s  {steps_s * 0.04:8.0f}x real time"
        if gflop is not None:
            s += f"  {gflop / seconds / 1e9:7.1f} GFLOP/s ({100 * gflop / seconds / 1e9 / ceiling:.0f}% of ceiling)"
        return s

    print(line("search, exact (kmeans, 320 dims)", t_exact, flops))
    print(line("search, matmul + argmin only", t_plain, flops))
    print(line("units_for_features (kmeans)", t_e2e, flops))
    print(line("units_for_features (bestrq, 16 dims)", t_rq, None))
    print(
        f"ids that differ between the exact search and plain float32 argmin: {differ} of {a.steps}"
    )
    print(
        f"comparison: the exact search runs at {100 * flops / t_exact / 1e9 / ceiling:.0f}% of the fp32 matmul "
        f"ceiling, {t_plain / t_exact:.2f}x the speed of a plain matmul + argmin"
    )


if __name__ == "__main__":
    main()
