"""Peak memory: pre-training mu2slam_tiny on the default corpus, and one step of mu2slam_base.

Each figure is the peak resident memory of its own child process, as the operating
system accounts it when the child ends:

- a Python process that only imports torch, fairseq and the plugin (the floor under all);
- ``fairseq-train`` pre-training mu2slam_tiny on the whole default corpus (every
  manifest, its texts encoded in memory, units on the fly), for a few updates with Adam;
- ``fairseq-train`` of fairseq's s2t_conformer of the same sizes on the corpus's AST
  manifests, with as many audio frames per update, for comparison;
- one pre-training update (forward and backward, no optimizer state) of mu2slam_base on
  a batch of the paper's per-device shares, if the machine has the memory for it.

Beside each: its model state (weights + gradients, + Adam's two moments when training),
the part of the peak no batch size can remove.
"""

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from . import _common as C

BASE_NEEDS_GB = 12.0  # what one mu2slam_base update of one example per type needs, with a margin


def run_child(
    cmd: List[str], threads: int, limit_gb: Optional[float] = None
) -> Tuple[float, float, str, int]:
    """(peak resident MB, wall seconds, output, exit code) of one child process, from its own
    rusage; ``limit_gb`` caps its data segment, so that it fails with MemoryError instead of
    drawing the kernel's out-of-memory killer onto whatever else runs."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))

    def cap() -> None:
        if limit_gb is not None:
            size = int(limit_gb * 2**30)
            resource.setrlimit(resource.RLIMIT_DATA, (size, size))

    with tempfile.TemporaryFile("w+") as log:
        t = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, preexec_fn=cap)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - t
        log.seek(0)
        out = log.read()
    if proc.returncode != 0 and limit_gb is None:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{out[-3000:]}")
    return usage.ru_maxrss / 1024.0, wall, out, proc.returncode


def available_gb() -> float:
    with open("/proc/meminfo") as f:
        info = {line.split(":")[0]: line.split()[1] for line in f}
    return int(info.get("MemAvailable", 0)) / 1024**2


def corpus_config(corpus: Path, out: Path, quick: bool) -> Path:
    """A pre-training data config over the default corpus's training manifests, with a
    vocabulary and speech tokenizer fitted on a sample of them."""
    import yaml

    from ..data.io.s2t_config import write_s2t_config
    from ..data.io.vocab import build_vocab
    from ..speech_tokenizer import fit_tokenizer

    names = {
        "speech": ["train_speech"],
        "text": ["train_text"],
        "asr": ["train_asr_nl", "train_asr_cs"],
        "ast": ["train_st_nl_en", "train_st_cs_en"],
        "mt": ["train_mt"],
    }
    if quick:  # the small workspace stands in for the corpus
        corpus = C.build_workspace(corpus, out / "ws", **C.QUICK_SIZES)
        names = {t: [f"train_{t}"] for t in names}
    manifests = [corpus / f"{m}.tsv" for ms in names.values() for m in ms]
    build_vocab(
        [m for m in manifests if "speech" not in m.name],
        out / "vocab",
        kind="char",
        vocab_size=4000,
        n_units=1024,
        budget=20_000,
    )
    fit_tokenizer(
        "bestrq",
        corpus / f"{names['speech'][0]}.tsv",
        codebook_size=1024,
        max_utterances=100,
        progress=False,
    ).save(out / "tokenizer.pt")
    config = {
        "vocab": {"dict": "vocab/dict.txt", "spm": "vocab/spm.model"},
        "speech_tokenizer": "tokenizer.pt",
        "batching": {
            "shares": {"speech": 4, "text": 8, "ast": 1, "asr": 1, "mt": 1},
            "sentences_per_share": 1,
        },
        "corpora": [
            {"name": m, "type": t, "splits": {"train": str((corpus / f"{m}.tsv").resolve())}}
            for t, ms in names.items()
            for m in ms
        ],
    }
    (out / "data.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    # in a folder of its own, so that it names the dictionary by absolute path (fairseq reads it from the corpus)
    write_s2t_config(
        out / "s2t" / "s2t.yaml", out / "vocab" / "dict.txt", out / "vocab" / "spm.model", corpus
    )
    return corpus


MAX_TOKENS = 6000  # the demo's budget: encoder positions per update, split over the types by share
# as many audio frames per s2t_conformer update as the mu2slam update's speech types get (shares 4+1+1 of 15)
S2T_FRAMES = 4 * MAX_TOKENS * 6 // 15


def train_cmds(corpus: Path, data: Path, updates: int, quick: bool) -> Dict[str, List[str]]:
    layers = C.QUICK_MODEL if quick else []
    common = [
        *layers,
        "--user-dir",
        str(C.PACKAGE_DIR),
        "--optimizer",
        "adam",
        "--lr",
        "1e-4",
        "--max-update",
        str(updates),
        "--no-save",
        "--disable-validation",
        "--cpu",
        "--log-format",
        "simple",
        "--log-interval",
        "1",
        "--num-workers",
        "0",
        "--seed",
        "1",
    ]
    mu2slam = [
        sys.executable,
        "-m",
        "fairseq_cli.train",
        str(data),
        "--task",
        "mu2slam_pretrain",
        "--criterion",
        "mu2slam",
        "--arch",
        "mu2slam_tiny",
        "--max-tokens",
        str(MAX_TOKENS),
        *common,
    ]
    from fairseq.models import ARCH_CONFIG_REGISTRY

    tiny = argparse.Namespace(**({"encoder_layers": 1, "decoder_layers": 1} if quick else {}))
    ARCH_CONFIG_REGISTRY["mu2slam_tiny"](tiny)
    ast = ",".join(
        p.stem
        for p in sorted(corpus.glob("train_*.tsv"))
        if "_st_" in p.stem or p.stem == "train_ast"
    )
    s2t = [
        sys.executable,
        "-m",
        "fairseq_cli.train",
        str(corpus),
        *C.s2t_conformer_args(str((data / "s2t" / "s2t.yaml").resolve()), tiny),
        "--train-subset",
        ast,
        "--max-tokens",
        str(S2T_FRAMES),
        "--required-batch-size-multiple",
        "1",
        *common,
    ]
    return {"mu2slam": mu2slam, "s2t": s2t}


def base_step(a) -> None:
    """Child: one pre-training update of mu2slam_base; prints its figures as JSON."""
    with C.workspace(a, n_speech=8, n_text=40, max_frames=300, max_text_chars=80) as ws:
        t = C.mu2slam(
            ws, task="mu2slam_pretrain", arch="mu2slam_base", config="pretrain_single.yaml"
        )
        batch = C.pretrain_batch(t)
        params = sum(p.numel() for p in t.model.parameters())
        before = C.peak_rss_mb()
        start = time.perf_counter()
        C.train_step(t, batch)
        seconds = time.perf_counter() - start
        w = C.mu2slam_workload(batch)
    print(
        "RESULT "
        + json.dumps(
            {
                "params": params,
                "before_mb": before,
                "seconds": seconds,
                "enc_positions": w.enc_positions,
                "dec_tokens": w.dec_tokens,
            }
        )
    )


def main(argv: Optional[List[str]] = None) -> None:
    p = C.parser("memory", __doc__)
    p.add_argument("--updates", type=int, default=6, help="fairseq-train updates of the tiny runs")
    p.add_argument("--no-base", action="store_true", help="skip the mu2slam_base step")
    p.add_argument("--child", choices=["base-step"], help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.child == "base-step":
        C.start(a, "mu2slam_base step")
        return base_step(a)
    C.start(a, "peak memory")
    updates = 2 if a.quick else a.updates
    rows, floors = [], {}
    with tempfile.TemporaryDirectory(prefix="mu2slam-mem-") as tmp:
        data = Path(tmp)
        t = time.perf_counter()
        corpus = corpus_config(a.corpus, data, a.quick)
        print(
            f"data config over {'a sample of ' if a.quick else ''}the default corpus, set up in "
            f"{time.perf_counter() - t:.1f} s",
            flush=True,
        )
        floor_mb, _, _, _ = run_child(
            [sys.executable, "-c", "import torch, fairseq, mu2slam_fairseq"], a.threads
        )
        rows.append(["python + torch + fairseq + plugin imported", f"{floor_mb:.0f}", "", "", ""])
        for name, cmd in train_cmds(corpus, data, updates, a.quick).items():
            peak, wall, out, _ = run_child(cmd, a.threads)
            params = _num_params(out)
            floors[name] = params * 16 / 2**20
            label = (
                "fairseq-train mu2slam_tiny pre-training, default corpus"
                if name == "mu2slam"
                else "fairseq-train s2t_conformer (same sizes), AST manifests"
            )
            rows.append(
                [
                    f"{label}, {updates} updates",
                    f"{peak:.0f}",
                    f"{peak - floor_mb:.0f}",
                    f"{params / 1e6:.1f} M: {floors[name]:.0f}",
                    f"{wall:.0f}",
                ]
            )
            floors[name + "_peak"] = peak
        if not a.quick and not a.no_base:
            free = available_gb()
            if free < BASE_NEEDS_GB:
                print(
                    f"mu2slam_base step skipped: {free:.1f} GB available, it needs about {BASE_NEEDS_GB:.0f} GB"
                )
            else:
                cmd = [
                    sys.executable,
                    "-m",
                    "mu2slam_fairseq.benchmarks",
                    "memory",
                    "--child",
                    "base-step",
                    "--corpus",
                    str(a.corpus),
                    "--threads",
                    str(a.threads),
                ]
                peak, wall, out, code = run_child(cmd, a.threads, limit_gb=free - 2.0)
                if code != 0 or "RESULT " not in out:
                    print(
                        f"mu2slam_base step did not fit in {free - 2.0:.1f} GB (exit {code}): {out.strip()[-300:]}"
                    )
                else:
                    r = json.loads(out.split("RESULT ", 1)[1].splitlines()[0])
                    state = r["params"] * 8 / 2**20
                    rows.append(
                        [
                            f"mu2slam_base, one pre-training update, one example per type ({r['enc_positions']} "
                            f"encoder positions, {r['dec_tokens']} decoder tokens)",
                            f"{peak:.0f}",
                            f"{peak - floor_mb:.0f}",
                            f"{r['params'] / 1e6:.0f} M: {state:.0f} (no Adam)",
                            f"{r['seconds']:.0f} (step)",
                        ]
                    )
                    print(
                        f"mu2slam_base: Adam's two moments would add {r['params'] * 8 / 2**30:.1f} GB"
                    )
    print(
        C.table(
            ["process", "peak MB", "above imports MB", "parameters: model state MB", "wall s"], rows
        )
    )
    ratio = (floors["mu2slam_peak"] - floor_mb) / max(floors["s2t_peak"] - floor_mb, 1.0)
    print(
        f"comparison: mu2slam_tiny pre-training uses {ratio:.2f}x the memory above imports of s2t_conformer "
        f"training of the same sizes"
    )


def _num_params(log: str) -> int:
    """The parameter count fairseq-train logs ("num. shared model params: 5,179,128")."""
    m = re.search(r"num\. (?:shared )?model params: ([\d,]+)", log)
    return int(m.group(1).replace(",", "")) if m else 0


if __name__ == "__main__":
    main()
