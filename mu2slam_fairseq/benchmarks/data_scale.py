"""Data at scale: today's TSV loader against binarized manifests (``mu2slam-binarize``).

Synthetic corpora of N text rows (the default corpus's texts, repeated) and M speech rows
(references into its feature zip, repeated, with a ``units`` column) are written once as
TSV and binarized. Each loader then runs in a fresh process per corpus size, as a
training process would: set up the pre-training task, build the training split, draw
the first batch and take the first training step (forward and backward of mu2slam_tiny).
Reported: seconds from process start to that first step, and private memory (anonymous,
i.e. not file-backed, from /proc/self/smaps_rollup) once the first batch is drawn (the
data's cost; the step's own memory depends on which utterances that batch holds) and
after the step, against the same run on a
near-empty corpus (``--base-text``/``--base-speech`` rows), and per row.
Goal (the paper's scale, 10M text + 1M speech rows, binarized): the first step within
60 s, and at most 1 GB of private memory above the near-empty run.
"""

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional

from . import _common as C

GOAL_S, GOAL_GB = 60.0, 1.0
MAX_TOKENS = 4000
N_UNITS = 32


def _process_start() -> float:
    """Wall-clock time at which this process started (from /proc)."""
    with open("/proc/self/stat") as f:
        ticks = int(f.read().rsplit(")", 1)[1].split()[19])
    with open("/proc/uptime") as f:
        uptime = float(f.read().split()[0])
    return time.time() - uptime + ticks / os.sysconf("SC_CLK_TCK")


def private_mb() -> float:
    """Anonymous (not file-backed) memory of this process: what memory-mapped files do not count."""
    with open("/proc/self/smaps_rollup") as f:
        for line in f:
            if line.startswith("Anonymous:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def child(ws: Path, config: str) -> None:
    """One loader on one corpus: print its timings and memory as JSON."""
    start = _process_start()
    import logging

    logging.disable(logging.WARNING)
    t = C.mu2slam(ws, task="mu2slam_pretrain", config=config)
    t.task.load_dataset("train")
    built = time.time() - start
    itr = t.task.get_batch_iterator(t.task.datasets["train"], max_tokens=MAX_TOKENS, seed=1)
    sample = next(itr.next_epoch_itr(shuffle=True))
    batch, batch_mb = time.time() - start, private_mb()
    C.train_step(t, sample)
    step = time.time() - start
    print(
        json.dumps(
            {
                "built": built,
                "batch": batch,
                "step": step,
                "private_mb": batch_mb,
                "step_mb": private_mb(),
            }
        )
    )


def write_corpus(src: Path, out: Path, n_text: int, n_speech: int) -> None:
    """``text.tsv`` and ``speech.tsv`` of ``n_text``/``n_speech`` rows repeating ``src``'s."""
    from ..grid import grid_length
    from ..data.io.manifest import iter_manifest

    out.mkdir(parents=True, exist_ok=True)
    texts = [r for _, r in zip(range(20_000), iter_manifest(src / "train_text.tsv"))]
    speech = list(iter_manifest(src / "train_speech.tsv"))
    zip_path = (src / "fbank80.zip").resolve()
    with open(out / "text.tsv", "w", encoding="utf-8") as f:
        f.write("id\tsrc_text\tsrc_lang\n")
        for i in range(n_text):
            r = texts[i % len(texts)]
            f.write(f"t{i}\t{r['src_text']}\t{r['src_lang']}\n")
    with open(out / "speech.tsv", "w", encoding="utf-8") as f:
        f.write("id\taudio\tn_frames\tsrc_lang\tunits\n")
        for i in range(n_speech):
            r = speech[i % len(speech)]
            audio = r["audio"].replace("fbank80.zip", str(zip_path), 1)
            units = " ".join(str(k % N_UNITS) for k in range(grid_length(int(r["n_frames"]))))
            f.write(f"s{i}\t{audio}\t{r['n_frames']}\t{r['src_lang']}\t{units}\n")


def prepare(src: Path, ws: Path, sizes: Dict[str, tuple]) -> Dict[str, float]:
    """Vocabulary, corpora, their binarized forms and data configs; binarize seconds per size."""
    import yaml
    from fairseq.data import Dictionary

    from ..data.pipeline.binarize import binarize
    from ..data.io.vocab import build_vocab

    if not (ws / "vocab/dict.txt").exists():
        build_vocab(
            [src / "train_text.tsv"],
            ws / "vocab",
            kind="char",
            vocab_size=4000,
            n_units=N_UNITS,
            budget=20_000,
        )
    dictionary = Dictionary.load(str(ws / "vocab/dict.txt"))
    seconds = {}
    for name, (n_text, n_speech) in sizes.items():
        folder, done = ws / name, ws / name / "sizes.json"
        if done.exists() and json.loads(done.read_text()) == [n_text, n_speech]:
            seconds[name] = float("nan")  # kept from an earlier run in the same --workdir
        else:
            write_corpus(src, folder, n_text, n_speech)
            t0 = time.perf_counter()
            for t in ("text", "speech"):
                binarize(folder / f"{t}.tsv", t, ws / "vocab/spm.model", dictionary)
            seconds[name] = time.perf_counter() - t0
            done.write_text(json.dumps([n_text, n_speech]))
        for loader, suffix in (("tsv", ".tsv"), ("bin", "-bin")):
            config = {
                "vocab": {"dict": "vocab/dict.txt", "spm": "vocab/spm.model"},
                "batching": {"shares": {"speech": 4, "text": 8}, "sentences_per_share": 1},
                "corpora": [
                    {"name": t, "type": t, "splits": {"train": f"{name}/{t}{suffix}"}}
                    for t in ("speech", "text")
                ],
            }
            (ws / f"{name}_{loader}.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return seconds


def run(ws: Path, config: str, threads: int) -> Dict[str, float]:
    cmd = [
        sys.executable,
        "-m",
        "mu2slam_fairseq.benchmarks",
        "data_scale",
        "--child",
        str(ws),
        config,
    ]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if out.returncode != 0:
        return {"failed": out.returncode, "error": out.stderr.strip().splitlines()[-1:]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: Optional[List[str]] = None) -> None:
    if argv and argv[0] == "--child":
        return child(Path(argv[1]), argv[2])
    p = C.parser("data_scale", __doc__)
    p.add_argument(
        "--text", type=int, default=100_000, help="text rows (the paper's scale: 10000000)"
    )
    p.add_argument(
        "--speech", type=int, default=10_000, help="speech rows (the paper's scale: 1000000)"
    )
    p.add_argument("--base-text", type=int, default=100, help="text rows of the near-empty run")
    p.add_argument("--base-speech", type=int, default=10, help="speech rows of the near-empty run")
    p.add_argument("--loaders", default="tsv,bin", help="tsv, bin or both (tsv,bin)")
    p.add_argument(
        "--workdir",
        type=Path,
        help="keep the corpora here, reused by a later run of the same sizes (default: a temporary folder)",
    )
    a = p.parse_args(argv)
    if a.quick:
        a.text, a.speech = 2_000, 200
    C.start(a, "data at scale")
    loaders = a.loaders.split(",")
    sizes = {"base": (a.base_text, a.base_speech), "full": (a.text, a.speech)}
    keep = contextlib.nullcontext(str(a.workdir)) if a.workdir else None
    with keep or tempfile.TemporaryDirectory(prefix="mu2slam-data-scale-") as folder:
        ws = Path(folder)
        ws.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        binarize_s = prepare(a.corpus, ws, sizes)
        full_s = binarize_s["full"]
        print(
            f"corpora ready in {time.perf_counter() - t0:.0f} s (mu2slam-binarize of the full corpus: "
            + (f"{full_s:.0f} s)" if full_s == full_s else f"kept from an earlier run in {ws})"),
            flush=True,
        )
        res = {(lo, s): run(ws, f"{s}_{lo}.yaml", a.threads) for lo in loaders for s in sizes}
    rows_n = a.text + a.speech
    table = []
    for lo in loaders:
        base, full = res[(lo, "base")], res[(lo, "full")]
        if "failed" in full or "failed" in base:
            table.append(
                [lo, "failed", str(full.get("error") or base.get("error")), "", "", "", ""]
            )
            continue
        extra = full["private_mb"] - base["private_mb"]
        table.append(
            [
                {"tsv": "TSV (today)", "bin": "binarized"}[lo],
                f"{full['built']:.1f}",
                f"{full['step']:.1f}",
                f"{full['private_mb']:.0f}",
                f"{full['step_mb']:.0f}",
                f"{extra:.0f}",
                f"{1024 * extra / rows_n:.2f}",
            ]
        )
    print(
        f"{a.text:,} text + {a.speech:,} speech rows; near-empty run: {a.base_text} + {a.base_speech} rows"
    )
    print(
        C.table(
            [
                "loader",
                "dataset built s",
                "first step s",
                "private MB (batch)",
                "after step MB",
                "above near-empty MB",
                "KB per row",
            ],
            table,
        )
    )
    if "bin" in loaders and "failed" not in res[("bin", "full")]:
        full, base = res[("bin", "full")], res[("bin", "base")]
        extra_gb = (full["private_mb"] - base["private_mb"]) / 1024
        ok = full["step"] <= GOAL_S and extra_gb <= GOAL_GB
        print(
            f"comparison: binarized: first step at {full['step']:.1f} s (goal <= {GOAL_S:.0f} s), "
            f"{extra_gb:.2f} GB above the near-empty run (goal <= {GOAL_GB:g} GB): {'met' if ok else 'NOT met'} at this size"
        )


if __name__ == "__main__":
    main()
