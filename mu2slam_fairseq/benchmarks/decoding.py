"""Decoding speed: ``fairseq-generate`` sentences per second and real-time factor for AST
with beam 5, mu2slam against fairseq's s2t_conformer of the same size.

Both models are freshly initialised and saved as checkpoints, then decoded by
fairseq-generate in child processes, alternately, on the same utterances in one batch.
An untrained model has no sensible stopping behaviour, so every hypothesis is held to the
references' mean length (``--min-len L --max-len-a 0 --max-len-b L``): both generators
then do the same number of beam steps, which is what a trained model of either kind
would do on these sentences. Sentences/s and the real-time factor (generation seconds per
second of audio) come from fairseq-generate's own timer of the search; the wall time of
the whole command (start-up, loading, search) is shown beside it.
"""

import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional

from . import _common as C

TRANSLATED = re.compile(
    r"Translated ([\d,]+) sentences \(([\d,]+) tokens\) in [\d.]+s \(([\d.]+) sentences/s"
)


def generate(cmd: List[str], threads: int) -> Dict[str, float]:
    """Run fairseq-generate; sentences, tokens, search seconds and wall seconds."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    t = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t
    log = out.stdout + out.stderr
    m = TRANSLATED.search(log)
    if out.returncode != 0 or m is None:
        raise SystemExit(
            f"fairseq-generate failed ({out.returncode}):\n{' '.join(cmd)}\n{log[-3000:]}"
        )
    sentences, tokens, rate = (
        int(m.group(1).replace(",", "")),
        int(m.group(2).replace(",", "")),
        float(m.group(3)),
    )
    return {"sentences": sentences, "tokens": tokens, "search": sentences / rate, "wall": wall}


def main(argv: Optional[List[str]] = None) -> None:
    p = C.parser("decoding", __doc__)
    p.add_argument("--arch", default="mu2slam_tiny")
    p.add_argument("--utterances", type=int, default=16, help="AST utterances decoded (one batch)")
    p.add_argument("--beam", type=int, default=5)
    a = p.parse_args(argv)
    C.start(a, "decoding", repeats=3, quick_repeats=1)
    n = 2 if a.quick else a.utterances
    from ..data.io.manifest import read_manifest, write_manifest

    with C.workspace(a) as ws:
        ids = set(C.pick_utterances(ws, n))
        rows = [r for r in read_manifest(ws / "train_ast.tsv") if r["id"] in ids]
        write_manifest(
            ws / "test_ast.tsv", [{k: v for k, v in r.items() if k != "units"} for r in rows]
        )
        ft = C.mu2slam(ws, arch=a.arch)
        s2t = C.s2t_conformer(ws, ft.model.cfg)
        ft.task.load_dataset("test")
        examples = ft.task.datasets["test"].datasets[0].examples
        length = max(1, round(sum(len(ex.tgt) + 1 for ex in examples) / len(examples)))
        audio = sum(int(r["n_frames"]) for r in rows) * C.FRAME_SECONDS
        common = [
            "--path",
            "",
            "--beam",
            str(a.beam),
            "--min-len",
            str(length),
            "--max-len-a",
            "0",
            "--max-len-b",
            str(length),
            "--batch-size",
            str(n),
            "--required-batch-size-multiple",
            "1",
            "--scoring",
            "sacrebleu",
            "--cpu",
        ]
        cmds = {}
        for name, t, task_args, subset in (
            (
                "mu2slam",
                ft,
                ["--task", "mu2slam_finetune", "--data-config", "finetune_ast.yaml"],
                "test",
            ),
            (
                "s2t_conformer",
                s2t,
                ["--task", "speech_to_text", "--config-yaml", "s2t.yaml"],
                "test_ast",
            ),
        ):
            ckpt = C.save_checkpoint(t, Path(ws) / f"{name}.pt")
            args = list(common)
            args[1] = str(ckpt)
            cmds[name] = [
                sys.executable,
                "-m",
                "fairseq_cli.generate",
                str(ws),
                "--user-dir",
                str(C.PACKAGE_DIR),
                *task_args,
                "--gen-subset",
                subset,
                *args,
            ]
        runs: Dict[str, List[Dict[str, float]]] = {k: [] for k in cmds}
        for _ in range(a.repeats):
            for name, cmd in cmds.items():
                runs[name].append(generate(cmd, a.threads))
    print(
        f"{a.arch} and s2t_conformer of the same sizes, {n} utterances ({audio:.1f} s of audio) in one batch, "
        f"beam {a.beam}, every hypothesis {length} tokens"
    )
    med = {k: {f: C.median([r[f] for r in v]) for f in ("search", "wall")} for k, v in runs.items()}
    rows_out = []
    for name in cmds:
        s = med[name]["search"]
        rows_out.append(
            [
                name,
                runs[name][0]["sentences"],
                runs[name][0]["tokens"],
                f"{s:.2f}",
                f"{n / s:.2f}",
                f"{s / audio:.3f}",
                f"{med[name]['wall']:.1f}",
            ]
        )
    print(
        C.table(
            [
                "model",
                "sentences",
                "tokens",
                "search s",
                "sentences/s",
                "real-time factor",
                "command wall s",
            ],
            rows_out,
        )
    )
    ratio = C.median(
        [b["search"] / m["search"] for m, b in zip(runs["mu2slam"], runs["s2t_conformer"])]
    )
    print(f"comparison: mu2slam sentences/s vs s2t_conformer's: {C.verdict(ratio, 1.0)}")


if __name__ == "__main__":
    main()
