"""The main job: the whole Mu2SLAM pipeline on the embedded default corpus.

Every stage is one ordinary command (a console command of this package or fairseq's own
``fairseq-train`` / ``fairseq-generate``), printed before it runs so it can be re-run or
changed by hand. A stage that finished writes a marker holding a hash of its command and
of the config files it reads; re-running the demo skips stages whose marker matches and
whose outputs exist, and redoes the rest
(fairseq resumes an interrupted training from its last checkpoint by itself).

    python examples/demo.py --work work/demo [--quick | --long] [--tokenizer w2vbert] [--mslam]

fairseq trains on the GPU where CUDA is available (as fairseq does by default; ``--cpu``
keeps it on the CPU), else on the CPU with bf16 autocast where the CPU has bf16 instructions.
"""

import argparse
import hashlib
import json
import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Tuple

import torch
import yaml

from demo_report import report
from mu2slam_fairseq.data.io.manifest import atomic_write_text
from mu2slam_fairseq.hardware import cpu_has_native_bf16
from mu2slam_fairseq.train_log import training_seconds

EXAMPLES = Path(__file__).resolve().parent
PLUGIN = EXAMPLES.parent / "mu2slam_fairseq"
NOISE_RATIOS = (0.0, 0.03, 0.06, 0.12, 0.24, 0.48)
# w2v-BERT on about 3,000 utterances: a larger diversity weight than wav2vec 2.0's 0.1 and a
# slower Gumbel temperature decay keep the codebook from collapsing (README, tokenizers)
W2VBERT_DIVERSITY = "2.0"
W2VBERT_TEMPERATURE = "(2.0, 0.5, 0.9995)"
QUICK_NOISE_RATIOS = (
    0.0,
    0.06,
    0.24,
)  # --quick: three points of the curve, the default's among them


@dataclass
class Stage:
    name: str
    command: List[str]
    outputs: List[Path] = field(default_factory=list)
    configs: Dict[Path, str] = field(
        default_factory=dict
    )  # files the command reads, written just before it

    def marker(self, work: Path) -> Path:
        return work / "stages" / f"{self.name}.done"

    def fingerprint(self) -> str:
        """The command and the configs it reads: a stage is redone when either changes."""
        key = (
            [self.command, sorted((str(k), v) for k, v in self.configs.items())]
            if self.configs
            else self.command
        )
        return hashlib.sha256(json.dumps(key).encode()).hexdigest()

    def is_done(self, work: Path) -> bool:
        m = self.marker(work)
        return (
            m.exists()
            and m.read_text().strip() == self.fingerprint()
            and all(p.exists() for p in self.outputs)
        )

    def run(self, work: Path) -> None:
        if self.is_done(work):
            print(f"[demo] {self.name}: done already, skipping", flush=True)
            return
        print(f"[demo] {self.name}: {shlex.join(self.command)}", flush=True)
        start = time.time()
        for path in self.outputs:  # e.g. a training's log file beside its checkpoints
            path.parent.mkdir(parents=True, exist_ok=True)
        for path, text in self.configs.items():
            atomic_write_text(path, text)
        code = subprocess.run(self.command).returncode
        if code != 0:
            raise SystemExit(
                f"[demo] {self.name}: failed with exit status {code} (its output is above); "
                "fix the cause and re-run the same command: finished stages are skipped"
            )
        atomic_write_text(self.marker(work), self.fingerprint() + "\n")
        print(f"[demo] {self.name}: finished in {time.time() - start:.0f} s", flush=True)


@dataclass
class Budget:
    """Sizes of one run: the default's Mu2SLAM path fits about an hour of a 2-core CPU,
    --quick a few minutes, --long about three hours (five times the pre-training, four
    times the labelled-speech fine-tuning of the default; for a few hours of CPU or a GPU).

    Fine-tuning updates count examples, not tokens: 15-30 utterances per update learned
    several times more per epoch of this corpus's speech than 85 (README, "Does it listen?").
    """

    units: int
    pretrain_updates: int
    pretrain_warmup: int
    max_tokens: int  # pre-training's token budget; fine-tuning's is twice it (a memory cap)
    stage1_updates: int
    stage2_ast_updates: int
    stage2_asr_updates: int
    batch_size: int  # examples per stage-1 update, AST 4 : ASR 2 : MT 2
    stage2_batch_size: int  # examples per stage-2 update
    stage1_validations: int
    stage2_validations: int
    test_shards: int  # 1/N of each test set is scored
    log_interval: int
    w2vbert_updates: int  # w2v-BERT pre-training on the speech (--tokenizer w2vbert)
    noise_ratios: Tuple[float, ...] = NOISE_RATIOS

    @classmethod
    def of(cls, size: str) -> "Budget":
        if size == "long":
            return cls(
                units=512,
                pretrain_updates=2000,
                pretrain_warmup=200,
                max_tokens=12000,
                stage1_updates=1000,
                stage2_ast_updates=1500,
                stage2_asr_updates=3000,
                batch_size=32,
                stage2_batch_size=16,
                stage1_validations=4,
                stage2_validations=4,
                test_shards=1,
                log_interval=20,
                w2vbert_updates=3000,
            )
        if size == "quick":
            return cls(
                units=128,
                pretrain_updates=40,
                pretrain_warmup=6,
                max_tokens=3000,
                stage1_updates=8,
                stage2_ast_updates=4,
                stage2_asr_updates=4,
                batch_size=16,
                stage2_batch_size=8,
                stage1_validations=2,
                stage2_validations=1,
                test_shards=8,
                log_interval=2,
                w2vbert_updates=6,
                noise_ratios=QUICK_NOISE_RATIOS,
            )
        return cls(
            units=512,
            pretrain_updates=400,
            pretrain_warmup=100,
            max_tokens=12000,
            stage1_updates=400,
            stage2_ast_updates=300,
            stage2_asr_updates=700,
            batch_size=32,
            stage2_batch_size=16,
            stage1_validations=2,
            stage2_validations=2,
            test_shards=1,
            log_interval=10,
            w2vbert_updates=600,
        )


def pretrain_config() -> Dict:
    """The data config of pre-training on every type of the default corpus (paths relative to it)."""
    c = "../corpus/"
    corpus = lambda name, kind, train, valid=None: {  # noqa: E731
        "name": name,
        "type": kind,
        "splits": {"train": c + train, **({"valid": c + valid} if valid else {})},
    }
    return {
        "vocab": {"dict": "../vocab/dict.txt", "spm": "../vocab/spm.model"},
        "speech_tokenizer": "../vocab/tokenizer.pt",
        "features": {"global_cmvn": "../vocab/cmvn.npz"},
        # more paired speech than the paper's 4 : 8 : 1 : 1 : 1, which gives a CPU-sized run one
        # ASR and one AST utterance per update (the paper's batches are thousands of examples)
        "batching": {
            "shares": {"speech": 2, "text": 4, "ast": 4, "asr": 4, "mt": 2},
            "sentences_per_share": 1,
        },
        "corpora": [
            corpus("speech", "speech", "train_speech.tsv"),
            corpus("text", "text", "train_text.tsv"),
            corpus("asr_nl", "asr", "train_asr_nl.tsv"),
            corpus("asr_cs", "asr", "train_asr_cs.tsv"),
            corpus("st_nl_en", "ast", "train_st_nl_en.tsv", "dev_st_nl_en.tsv"),
            corpus("st_cs_en", "ast", "train_st_cs_en.tsv", "dev_st_cs_en.tsv"),
            corpus("mt", "mt", "train_mt.tsv"),
        ],
    }


def device_flags(cpu: bool = False) -> Tuple[List[str], List[str]]:
    """fairseq's device flag and the task's autocast flag: none on a GPU (where CUDA is
    available and ``cpu`` is not asked for), else ``--cpu``, with bf16 autocast where the
    CPU has bf16 instructions (elsewhere it is several times slower)."""
    if not cpu and torch.cuda.is_available():
        return [], []
    return ["--cpu"], ["--autocast-bf16"] if cpu_has_native_bf16() else []


def adam_flags(lr: str, warmup: int) -> List[str]:
    """The optimiser of every training stage: Adam (0.9, 0.98), inverse square-root schedule
    after ``warmup`` updates, gradients clipped at norm 5."""
    flags = ["--optimizer", "adam", "--adam-betas", "(0.9, 0.98)", "--lr", lr]
    flags += ["--lr-scheduler", "inverse_sqrt", "--warmup-updates", str(warmup)]
    return flags + ["--clip-norm", "5"]


def log_flags(budget: Budget, log: Path) -> List[str]:
    """Logging, loading and seed of every training stage: a plain-text log file beside the
    progress output, data loaded in the training process, seed 1."""
    flags = ["--log-format", "simple", "--log-interval", str(budget.log_interval)]
    return flags + ["--log-file", str(log), "--num-workers", "0", "--seed", "1"]


def tokenizer_stages(
    corpus: Path,
    vocab: Path,
    work: Path,
    budget: Budget,
    kind: str,
    quick: bool,
    on_cpu: List[str],
) -> List[Stage]:
    """The speech tokenizer: k-means on log-Mel frames, or the quantizer of a w2v-BERT
    model trained on the corpus's unlabeled speech first (one codebook of ``units`` ids)."""
    bindir = Path(sys.executable).parent
    out = vocab / "tokenizer.pt"
    if kind == "kmeans":
        fit = ["--kind", "kmeans", "--manifest", str(corpus / "train_speech.tsv")]
        fit += ["--codebook-size", str(budget.units), "--normalization", "utterance"]
        fit += ["--iterations", "5" if quick else "15"]
        fit += ["--max-samples", "20000" if quick else "100000"]
        fit += ["--max-utterances", "300" if quick else "3000"]
        return [
            Stage(
                "tokenizer",
                [str(bindir / "mu2slam-speech-tokenizer"), "fit", *fit, "--out", str(out)],
                [out],
            )
        ]
    ckpt = work / "w2vbert" / "checkpoints"
    train = [str(bindir / "fairseq-train"), str(corpus), "--user-dir", str(PLUGIN)]
    train += ["--task", "mu2slam_w2vbert", "--train-subset", "train_speech"]
    train += ["--valid-subset", "dev_speech", "--global-cmvn", str(vocab / "cmvn.npz")]
    train += ["--arch", "mu2slam_w2vbert_tiny", "--latent-groups", "1"]
    train += ["--latent-vars", str(budget.units), "--criterion", "mu2slam_w2vbert"]
    train += ["--diversity-weight", W2VBERT_DIVERSITY, "--latent-temp", W2VBERT_TEMPERATURE]
    train += adam_flags("1e-3", max(1, budget.w2vbert_updates // 4))
    train += ["--max-tokens", "20000", "--max-update", str(budget.w2vbert_updates)]
    train += ["--save-dir", str(ckpt), "--no-epoch-checkpoints", *on_cpu]
    train += log_flags(budget, work / "w2vbert" / "train.log")
    export = [str(bindir / "mu2slam-speech-tokenizer"), "fit", "--kind", "w2vbert"]
    export += ["--checkpoint", str(ckpt / "checkpoint_last.pt"), "--out", str(out)]
    return [
        Stage("w2vbert", train, [ckpt / "checkpoint_last.pt"]),
        Stage("tokenizer", export, [out]),
    ]


def mslam_stage(work: Path, budget: Budget, device: List[str]) -> Stage:
    """mSLAM-CTC pre-training of an encoder of mu2slam_tiny's sizes on the same data config
    (its speech, text, ASR and AST corpora) for as long as Mu2SLAM's pre-training took
    (wall clock, from its log; an mSLAM update costs a fraction of a Mu2SLAM one, which also
    decodes), with Mu2SLAM's optimiser, schedule and token budget."""
    pre, out = work / "pretrain", work / "mslam"
    seconds = training_seconds(pre / "train.log")
    if seconds is None:  # listed before pre-training ran: the stages are rebuilt after it
        length = ["--max-update", str(budget.pretrain_updates)]
    else:
        length = ["--max-update", str(100 * budget.pretrain_updates)]
        length += ["--stop-time-hours", f"{seconds / 3600:.6f}"]
    cmd = [str(Path(sys.executable).parent / "fairseq-train"), str(pre), "--user-dir", str(PLUGIN)]
    cmd += ["--task", "mu2slam_slam", "--slam-preset", "mslam", "--arch", "mu2slam_slam_tiny"]
    cmd += ["--criterion", "mu2slam_slam", *adam_flags("2e-3", budget.pretrain_warmup)]
    # the w2v-BERT tokenizer's settings: with wav2vec 2.0's 0.1 the codebook collapsed to a few
    # codes within 100 updates on this corpus (speech MLM accuracy 0.94: trivial targets)
    cmd += ["--diversity-weight", W2VBERT_DIVERSITY, "--latent-temp", W2VBERT_TEMPERATURE]
    cmd += [*length, "--max-tokens", str(budget.max_tokens)]
    cmd += [*device, "--save-dir", str(out / "checkpoints"), "--no-epoch-checkpoints"]
    cmd += ["--disable-validation", *log_flags(budget, out / "train.log")]
    return Stage("mslam-pretrain", cmd, [out / "checkpoints" / "checkpoint_last.pt"])


def stages(
    work: Path,
    size: str = "default",
    noise_study: bool = False,
    reference: bool = False,
    tokenizer: str = "kmeans",
    mslam: bool = False,
    cpu: bool = False,
) -> List[Stage]:
    corpus, vocab, pre, ft = work / "corpus", work / "vocab", work / "pretrain", work / "finetune"
    budget, quick = Budget.of(size), size == "quick"
    bindir = Path(sys.executable).parent
    on_cpu, autocast = device_flags(cpu)
    device = on_cpu + autocast
    train_manifests = sorted(
        str(p)
        for p in [
            corpus / "train_st_nl_en.tsv",
            corpus / "train_st_cs_en.tsv",
            corpus / "train_mt.tsv",
            corpus / "train_text.tsv",
        ]
    )
    compare = [
        sys.executable,
        str(EXAMPLES / "finetune" / "compare.py"),
        "--configs",
        str(ft / "configs"),
        "--pretrained",
        str(pre / "checkpoints" / "checkpoint_last.pt"),
        "--out",
        str(ft),
        "--runs",
        "pretrained,scratch"
        + (",mslam" if mslam else "")
        + (",s2t_conformer" if reference else ""),
        "--stage1-updates",
        str(budget.stage1_updates),
        "--stage2-updates",
        f"ast:{budget.stage2_ast_updates},asr:{budget.stage2_asr_updates}",
        "--batch-size",
        str(budget.batch_size),
        "--stage2-batch-size",
        str(budget.stage2_batch_size),
        # CTC beside the decoder at full weight on ASR speech, as in the recipe that learned
        # from this corpus's real speech (README, "Does it listen?")
        "--ctc-weight",
        "1.0",
        "--stage2",
        "ast,asr",
        "--equal-time",
        "--stage1-validations",
        str(budget.stage1_validations),
        "--stage2-validations",
        str(budget.stage2_validations),
        "--test-shards",
        str(budget.test_shards),
        "--mt-test",
        "mt:test_mt_fillets",
        "--warmup",
        str(max(1, budget.stage1_updates // 6)),
        "--max-tokens",
        str(2 * budget.max_tokens),
        "--log-interval",
        str(budget.log_interval),
        *on_cpu,  # compare.py's --cpu: its training and generation on the CPU
    ]
    if mslam:
        compare += ["--mslam", str(work / "mslam" / "checkpoints" / "checkpoint_last.pt")]
    if quick:  # the attention beam's ASR scores only in full runs (minutes of decoding)
        compare += ["--asr-decodings", "joint,ctc"]
    if noise_study:
        compare += ["--noise-ratios", ",".join(f"{r:g}" for r in budget.noise_ratios)]
    compare += ["--extra", *autocast, "--num-workers", "0"]
    return [
        Stage(
            "corpus",
            [str(bindir / "mu2slam-prep-default-corpus"), "--out", str(corpus)],
            [corpus / "train_speech.tsv", corpus / "test_st_nl_en.tsv"],
        ),
        Stage(
            "vocab",
            [
                str(bindir / "mu2slam-build-vocab"),
                *train_manifests,
                "--out",
                str(vocab),
                "--kind",
                "char",
                "--units",
                str(budget.units),
            ],
            [vocab / "dict.txt", vocab / "spm.model"],
        ),
        Stage(
            "cmvn",
            [
                str(bindir / "mu2slam-cmvn"),
                str(corpus / "train_speech.tsv"),
                "--out",
                str(vocab / "cmvn.npz"),
            ],
            [vocab / "cmvn.npz"],
        ),
        *tokenizer_stages(corpus, vocab, work, budget, tokenizer, quick, on_cpu),
        Stage(
            "pretrain",
            [
                str(bindir / "fairseq-train"),
                str(pre),
                "--user-dir",
                str(PLUGIN),
                "--task",
                "mu2slam_pretrain",
                "--criterion",
                "mu2slam",
                "--arch",
                "mu2slam_tiny",
                *adam_flags("2e-3", budget.pretrain_warmup),
                "--max-update",
                str(budget.pretrain_updates),
                "--max-tokens",
                str(budget.max_tokens),
                *device,
                "--save-dir",
                str(pre / "checkpoints"),
                "--no-epoch-checkpoints",
                "--save-interval-updates",
                "100",
                "--keep-interval-updates",
                "1",
                "--validate-interval-updates",
                str(budget.pretrain_updates),
                *log_flags(budget, pre / "train.log"),
            ],
            [pre / "checkpoints" / "checkpoint_last.pt"],
            {pre / "data.yaml": yaml.safe_dump(pretrain_config(), sort_keys=False)},
        ),
        Stage(
            "pretrain-curves",
            [
                str(bindir / "mu2slam-train-curves"),
                str(pre / "train.log"),
                "--out",
                str(work / "plots" / "pretrain_losses.png"),
            ],
            [work / "plots" / "pretrain_losses.png"],
        ),
        *([mslam_stage(work, budget, device)] if mslam else []),
        Stage(
            "finetune-configs",
            [
                str(bindir / "mu2slam-finetune-configs"),
                "--corpus",
                str(corpus),
                "--vocab",
                str(vocab),
                "--out",
                str(ft / "configs"),
                "--no-valid",
                "mt",
            ],
            [ft / "configs" / "multitask_noisy.yaml"],
        ),
        Stage(
            "finetune",
            compare,
            [ft / "results.json"] + ([ft / "noise_study.json"] if noise_study else []),
        ),
    ]


def main(argv=None) -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--work",
        type=Path,
        default=Path("work/demo"),
        help="folder for every output (default: work/demo)",
    )
    p.add_argument(
        "--quick", action="store_true", help="a small run of every stage (minutes, for testing)"
    )
    p.add_argument(
        "--long",
        action="store_true",
        help="the longer recipe: 2000 pre-training updates, 1000 multi-task, 1500 AST and 3000 ASR "
        "fine-tuning updates (about three hours of a 2-core CPU for the Mu2SLAM path)",
    )
    p.add_argument(
        "--noise-study",
        action="store_true",
        help="also the paper's noise-ratio study (Figure 2): AST fine-tuning at synonym-noise ratios "
        f"{', '.join(f'{r:g}' for r in NOISE_RATIOS)} ({', '.join(f'{r:g}' for r in QUICK_NOISE_RATIOS)} with "
        "--quick), plotted in plots/noise_study.png",
    )
    p.add_argument(
        "--tokenizer",
        choices=("kmeans", "w2vbert"),
        default="kmeans",
        help="the speech tokenizer: k-means on log-Mel frames (default), or the quantizer of a "
        "w2v-BERT model pre-trained on the corpus's speech first (mSLAM's way)",
    )
    p.add_argument(
        "--mslam",
        action="store_true",
        help="also the mSLAM-CTC baseline: an encoder of the same size pre-trained the mSLAM way "
        "for as long as Mu2SLAM's pre-training took, fine-tuned with a new decoder by the same recipe, "
        "as a column",
    )
    p.add_argument(
        "--reference",
        action="store_true",
        help="also fairseq's own s2t_conformer of the same size from scratch, as a reference column",
    )
    p.add_argument(
        "--cpu",
        action="store_true",
        help="train and generate on the CPU even where CUDA is available (by default fairseq "
        "uses the GPU there)",
    )
    a = p.parse_args(argv)
    if a.quick and a.long:
        p.error("--quick and --long are two sizes of one run: give one")
    size = "quick" if a.quick else "long" if a.long else "default"
    # idle OpenMP threads sleep instead of spinning: on a busy CPU, spinning threads of
    # several processes made small operations (decoding steps) up to 20x slower
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    work = a.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    start = time.time()
    try:
        done: List[str] = []
        while True:  # rebuilt after each stage: a stage may be sized by an earlier one's log
            todo = [
                s
                for s in stages(work, size, a.noise_study, a.reference, a.tokenizer, a.mslam, a.cpu)
                if s.name not in done
            ]
            if not todo:
                break
            todo[0].run(work)
            done.append(todo[0].name)
    except KeyboardInterrupt:
        print(
            "[demo] interrupted; re-run the same command to resume where it stopped",
            file=sys.stderr,
        )
        raise SystemExit(130)
    print(report(work, Budget.of(size), time.time() - start))
    print(f"[demo] all stages done; outputs in {a.work}")


if __name__ == "__main__":
    main()
