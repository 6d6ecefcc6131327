"""The benchmarks run (in their tiny --quick mode) and print their figures with the comparison.

Each runs in its own process: a benchmark sets torch's threads and silences logging,
which must not leak into other tests.
"""

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from mu2slam_fairseq.benchmarks.__main__ import available

REPO = Path(__file__).resolve().parents[1]
BENCHMARKS = [
    "data_scale",
    "dataloader",
    "decoding",
    "hf_prep",
    "memory",
    "mfu",
    "mixed_precision",
    "scaling",
    "throughput",
    "tokenizer",
]
# quick runs that still train or decode several models: minutes on a busy two-core machine
SLOW = {"decoding", "hf_prep", "memory", "mfu", "mixed_precision", "scaling"}


def run(*args: str, timeout: int = 600) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "mu2slam_fairseq.benchmarks", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-4000:]
    return out.stdout


def test_every_benchmark_is_registered_and_has_help(capsys):
    assert available() == BENCHMARKS
    for name in BENCHMARKS:  # in this process: --help exits before a benchmark changes any setting
        with pytest.raises(SystemExit) as done:
            importlib.import_module(f"mu2slam_fairseq.benchmarks.{name}").main(["--help"])
        assert done.value.code == 0
        assert f"benchmarks {name}" in capsys.readouterr().out


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in BENCHMARKS]
)
def test_quick_run_prints_its_comparison(name, default_corpus):
    args = [name, "--quick", "--threads", "2"]
    if name != "tokenizer":
        args += ["--corpus", str(default_corpus)]
    out = run(*args)
    assert "comparison:" in out
    assert "nan" not in out.lower()


def test_packed_views_give_the_losses_of_separate_passes(default_corpus, tmp_path):
    """The criterion's packing (views sharing encoder and decoder passes) changes no loss term."""
    import torch

    from mu2slam_fairseq.benchmarks import _common as C

    ws = C.build_workspace(default_corpus, tmp_path, **C.QUICK_SIZES)
    t = C.mu2slam(ws, task="mu2slam_pretrain", config="pretrain.yaml")
    batch = C.pretrain_batch(t)
    t.model.eval()  # no dropout: both runs compute the same function
    runs = []
    for overhead in (0, 10**6):  # a pass per view; then as few passes as possible
        t.criterion.cfg.pack_overhead = overhead
        t.model.zero_grad()
        loss, _, log = t.criterion(t.model, batch)
        loss.backward()
        runs.append((loss.item(), log, {n: p.grad.clone() for n, p in t.model.named_parameters()}))
    (loss_a, log_a, grad_a), (loss_b, log_b, grad_b) = runs
    assert loss_a == pytest.approx(loss_b, rel=1e-5)
    for key, value in log_a.items():
        assert log_b[key] == pytest.approx(value, rel=1e-4, abs=1e-6), key
    for name, g in grad_a.items():
        # packing changes the order of float sums: the error scales with the tensor's gradients,
        # while a wrong view (mask, target, loss term) would change them by their own size
        scale = g.abs().max().item()
        torch.testing.assert_close(
            grad_b[name], g, rtol=0, atol=1e-3 * scale + 1e-8, msg=lambda m: f"{name}: {m}"
        )
