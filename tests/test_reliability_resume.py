"""Pre-training killed with SIGKILL and started again with the same command.

One ``fairseq-train`` pre-training run goes to ``--max-update`` undisturbed; another is
killed twice, at random points: once somewhere between its first and second checkpoint,
once in the middle of writing the second (the moment a temporary checkpoint file appears:
either the checkpoint itself or its copy to ``checkpoint_last.pt``). After every kill each ``.pt``
file in the save folder must load; every restart must say it resumed from
``checkpoint_last.pt`` at the update count stored there; and the finished run must log the
same losses and hold bit-identical weights as the undisturbed one, which it can only do if
the data order, the masks, the dropout and the optimizer state all continued exactly.
The kill points come from a random seed shown in every failure message.
"""

import os
import random
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List

import pytest
import torch
from fairseq import checkpoint_utils

import mu2slam_fairseq  # noqa: F401  (installs the checkpoint guards)
from pretrain_corpus import build
from processes import kill

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
UPDATES, INTERVAL = 6, 2
DEADLINE = 600  # seconds for any one wait


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, fillets_root) -> Path:
    base = tmp_path_factory.mktemp("resume")
    build(base, fillets_root)
    return base


def command(corpus: Path, save_dir: Path) -> List[str]:
    return [
        sys.executable,
        "-m",
        "fairseq_cli.train",
        str(corpus),
        "--user-dir",
        "mu2slam_fairseq",
        "--task",
        "mu2slam_pretrain",
        "--criterion",
        "mu2slam",
        "--arch",
        "mu2slam_tiny",
        "--optimizer",
        "adam",
        "--lr",
        "1e-3",
        "--max-update",
        str(UPDATES),
        "--max-tokens",
        "4000",
        "--save-interval-updates",
        str(INTERVAL),
        "--no-epoch-checkpoints",
        "--disable-validation",
        "--num-workers",
        "0",
        "--seed",
        "1",
        "--cpu",
        "--save-dir",
        str(save_dir),
        "--log-format",
        "simple",
        "--log-interval",
        "1",
    ]


def launch(cmd: List[str], log: Path) -> subprocess.Popen:
    # one thread per process: the two runs share two cores, and equal thread counts keep
    # their floating-point sums in the same order
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    with open(log, "w") as f:
        return subprocess.Popen(
            cmd, cwd=REPO, env=env, stdout=f, stderr=subprocess.STDOUT, start_new_session=True
        )


def wait_until(condition: Callable[[], bool], proc: subprocess.Popen, why: str) -> None:
    end = time.monotonic() + DEADLINE
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f"the run ended (status {proc.returncode}) before {why}")
        if time.monotonic() > end:
            raise AssertionError(f"no {why} within {DEADLINE} s")
        time.sleep(0.005)


def written_since(path: Path, start: float) -> bool:
    """``path`` exists and was written after ``start`` (not a leftover of an earlier kill)."""
    try:
        return path.stat().st_mtime >= start
    except FileNotFoundError:
        return False


def saved_updates(path: Path) -> int:
    return checkpoint_utils.load_checkpoint_to_cpu(str(path))["optimizer_history"][-1][
        "num_updates"
    ]


def all_checkpoints_load(save_dir: Path) -> Dict[str, int]:
    """{file: its update count} for every checkpoint; any that fails to load fails the test."""
    return {p.name: saved_updates(p) for p in sorted(save_dir.glob("*.pt"))}


def losses(log: Path) -> Dict[int, str]:
    """{update: the loss it logged}."""
    return {
        int(u): loss
        for u, loss in re.findall(r"epoch 001: +(\d+) / \d+ loss=([\d.]+)", log.read_text())
    }


def test_killed_pretraining_resumes_where_it_stopped(corpus, tmp_path):
    seed = random.randrange(10**6)
    rng = random.Random(seed)
    where = f"(kill points from seed {seed})"
    reference = run = launch(command(corpus, tmp_path / "reference"), tmp_path / "reference.log")
    save = tmp_path / "killed"
    cmd = command(corpus, save)
    logs = [tmp_path / f"killed{i}.log" for i in range(3)]
    try:
        # kill 1: at a random moment after the first checkpoint, before the second is written
        started = time.time()
        run = launch(cmd, logs[0])
        wait_until(lambda: "Saved checkpoint" in logs[0].read_text(), run, "a first checkpoint")
        end = time.monotonic() + rng.uniform(0.0, 3.0)
        second = save / f"checkpoint_1_{2 * INTERVAL}.pt.tmp"
        wait_until(
            lambda: time.monotonic() > end or written_since(second, started),
            run,
            f"the kill time {where}",
        )
        kill(run)
        resume_from = [all_checkpoints_load(save)["checkpoint_last.pt"]]

        # kill 2: the moment the second checkpoint's temporary file appears (or, should the
        # write be too quick to be seen, right after it)
        started = time.time()
        run = launch(cmd, logs[1])
        target = rng.choice([second.name, "checkpoint_last.pt.tmp"])
        wait_until(
            lambda: (
                written_since(save / target, started)
                or written_since(second.with_suffix(""), started)
            ),
            run,
            f"{target} appeared {where}",
        )
        kill(run)
        loaded = all_checkpoints_load(save)
        resume_from.append(loaded["checkpoint_last.pt"])

        # the same command once more, to the end
        run = launch(cmd, logs[2])
        assert run.wait(timeout=DEADLINE) == 0, logs[2].read_text()[-3000:]
        assert reference.wait(timeout=DEADLINE) == 0, (tmp_path / "reference.log").read_text()[
            -3000:
        ]
    finally:
        for proc in (reference, run):
            if proc.poll() is None:
                kill(proc)

    for log, updates in zip(logs[1:], resume_from):
        assert (
            f"Loaded checkpoint {save / 'checkpoint_last.pt'} (epoch 1 @ {updates} updates)"
            in log.read_text()
        ), where
    assert resume_from[0] == INTERVAL and resume_from[1] in (INTERVAL, 2 * INTERVAL), where
    final = all_checkpoints_load(save)
    assert final == {
        **{f"checkpoint_1_{u}.pt": u for u in range(INTERVAL, UPDATES + 1, INTERVAL)},
        "checkpoint_last.pt": UPDATES,
    }, where
    assert not list(save.glob("*.tmp")), f"temporary files left behind {where}"

    expected = losses(tmp_path / "reference.log")
    resumed = losses(logs[2])
    assert sorted(resumed) == list(range(resume_from[1] + 1, UPDATES + 1)), where
    assert resumed == {u: expected[u] for u in resumed}, (
        f"the resumed run saw other data or masks {where}"
    )
    a = torch.load(save / "checkpoint_last.pt")["model"]
    b = torch.load(tmp_path / "reference" / "checkpoint_last.pt")["model"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), (
        f"the final weights differ {where}"
    )
