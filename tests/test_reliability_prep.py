"""Preparation scripts killed with SIGKILL half-way, then run again: the outputs are
byte-identical to those of an undisturbed run.

Two scripts cover the two ways outputs are written: ``mu2slam-prep-folder --features``
(a feature zip with its index, manifests written whole) on real Dutch Fish Fillets
recordings, and ``mu2slam-prep-mc4`` (manifests streamed row by row) on the game's
dialogue in a dozen languages. Each is killed at a random moment after its first
temporary output file appears (features being computed, manifests being written or
validated); should the script finish first, it starts over with a shorter delay. The seed
of the kill point is shown in every failure message.
"""

import gzip
import json
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List

import pytest
from processes import kill

pytestmark = pytest.mark.slow

DEADLINE = 600
_DIALOGUE = re.compile(r'dialogStr\("((?:[^"\\]|\\.)*)"\)')


def folder_job(fillets_root: Path, root: Path) -> List[str]:
    audio = root / "audio"
    for clip in sorted((fillets_root / "sound").glob("*/nl/*.ogg"))[:80]:
        (audio / clip.parent.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.copy(clip, audio / clip.parent.parent.name / clip.name)
    return [
        "mu2slam_manifests.folder",
        "--audio-dir",
        str(audio),
        "--lang",
        "nl",
        "--features",
        "--no-progress",
    ]


def mc4_job(fillets_root: Path, root: Path) -> List[str]:
    for script in sorted((fillets_root / "script").glob("*/dialogs_*.lua")):
        lang = script.stem.split("_", 1)[1]
        if "_" in lang:  # regional variants (de_CH): one text per language is enough
            continue
        docs = [
            json.dumps(
                {
                    "text": "\n".join(_DIALOGUE.findall(script.read_text(encoding="utf-8"))),
                    "timestamp": "2020-01-01T00:00:00Z",
                    "url": f"https://example.org/{script.parent.name}",
                },
                ensure_ascii=False,
            )
        ]
        for shard in range(4):  # the same real lines in several shards: enough rows to take a while
            path = root / "mc4" / f"c4-{lang}.tfrecord-{shard:05d}-of-00004.json.gz"
            path.parent.mkdir(parents=True, exist_ok=True)
            with gzip.open(path, "ab") as f:
                f.write(("\n".join(docs) + "\n").encode("utf-8"))
    return ["mu2slam_manifests.mc4", str(root / "mc4"), "--sentences", "--no-progress"]


JOBS = {"folder": (folder_job, ".fbank80.zip.tmp"), "mc4": (mc4_job, ".train_text_")}


def launch(module_args: List[str], out: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", *module_args, "--out", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def wait_for_file(folder: Path, prefix: str, proc: subprocess.Popen) -> None:
    end = time.monotonic() + DEADLINE
    while not any(p.name.startswith(prefix) for p in (folder.iterdir() if folder.exists() else [])):
        assert proc.poll() is None, f"the script ended before writing {prefix}*"
        assert time.monotonic() < end, f"no {prefix}* within {DEADLINE} s"
        time.sleep(0.005)


def outputs(out: Path) -> Dict[str, bytes]:
    """Every file the script wrote (temporary ``*.tmp`` files aside), by name."""
    return {p.name: p.read_bytes() for p in sorted(out.iterdir()) if not p.name.endswith(".tmp")}


@pytest.mark.parametrize("script", sorted(JOBS))
def test_rerun_after_a_kill_gives_identical_outputs(script, fillets_root, tmp_path):
    make, first_temp = JOBS[script]
    job = make(fillets_root, tmp_path)
    seed = random.randrange(10**6)
    where = f"(kill point from seed {seed})"
    reference = run = launch(job, tmp_path / "reference")
    killed = tmp_path / "killed"
    delay = random.Random(seed).uniform(0.0, 4.0)
    try:
        for _ in range(4):
            run = launch(job, killed)
            wait_for_file(killed, first_temp, run)
            time.sleep(delay)
            kill(run)
            if run.returncode == -signal.SIGKILL:
                break
            shutil.rmtree(killed)  # it finished first: start over, kill sooner
            delay /= 4
        assert run.returncode == -signal.SIGKILL, (
            f"{script} always finished before the kill {where}"
        )
        run = launch(job, killed)
        assert run.wait(timeout=DEADLINE) == 0, where
        assert reference.wait(timeout=DEADLINE) == 0
    finally:
        for proc in (reference, run):
            if proc.poll() is None:
                kill(proc)
    expected = outputs(tmp_path / "reference")
    got = outputs(killed)
    assert sorted(got) == sorted(expected), where
    assert [name for name in expected if got[name] != expected[name]] == [], where
