"""The main job: the whole Mu2SLAM pipeline on the embedded default corpus.

Every stage is one ordinary command (a console command of this package or fairseq's own
``fairseq-train`` / ``fairseq-generate``), printed before it runs so it can be re-run or
changed by hand. A stage that finished writes a marker holding its command; re-running
the demo skips stages whose marker matches and whose outputs exist, and redoes the rest
(fairseq resumes an interrupted training from its last checkpoint by itself).

    python examples/demo.py --work work/demo [--quick]
"""
import argparse
import hashlib
import json
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import List


@dataclass
class Stage:
    name: str
    command: List[str]
    outputs: List[Path] = field(default_factory=list)

    def marker(self, work: Path) -> Path:
        return work / "stages" / f"{self.name}.done"

    def fingerprint(self) -> str:
        return hashlib.sha256(json.dumps(self.command).encode()).hexdigest()

    def is_done(self, work: Path) -> bool:
        m = self.marker(work)
        return m.exists() and m.read_text().strip() == self.fingerprint() and all(p.exists() for p in self.outputs)

    def run(self, work: Path) -> None:
        if self.is_done(work):
            print(f"[demo] {self.name}: done already, skipping", flush=True)
            return
        print(f"[demo] {self.name}: {shlex.join(self.command)}", flush=True)
        start = time.time()
        subprocess.run(self.command, check=True)
        self.marker(work).parent.mkdir(parents=True, exist_ok=True)
        self.marker(work).write_text(self.fingerprint() + "\n")
        print(f"[demo] {self.name}: finished in {time.time() - start:.0f} s", flush=True)


def stages(work: Path, quick: bool) -> List[Stage]:
    corpus, vocab = work / "corpus", work / "vocab"
    bindir = Path(sys.executable).parent
    train_manifests = sorted(str(p) for p in [corpus / "train_st_nl_en.tsv", corpus / "train_st_cs_en.tsv",
                                               corpus / "train_mt.tsv", corpus / "train_text.tsv"])
    return [
        Stage("corpus", [str(bindir / "mu2slam-prep-default-corpus"), "--out", str(corpus)],
              [corpus / "train_speech.tsv", corpus / "test_st_nl_en.tsv"]),
        Stage("vocab", [str(bindir / "mu2slam-build-vocab"), *train_manifests, "--out", str(vocab),
                        "--kind", "char", "--units", "256" if quick else "1024"],
              [vocab / "dict.txt", vocab / "spm.model"]),
        Stage("cmvn", [str(bindir / "mu2slam-cmvn"), str(corpus / "train_speech.tsv"), "--out", str(vocab / "cmvn.npz")],
              [vocab / "cmvn.npz"]),
    ]


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", type=Path, default=Path("work/demo"), help="folder for every output (default: work/demo)")
    p.add_argument("--quick", action="store_true", help="a small run of every stage (minutes, for testing)")
    a = p.parse_args(argv)
    a.work.mkdir(parents=True, exist_ok=True)
    for stage in stages(a.work.resolve(), a.quick):
        stage.run(a.work.resolve())
    print(f"[demo] all stages done; outputs in {a.work}")


if __name__ == "__main__":
    main()
