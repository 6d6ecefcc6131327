"""Pre-trained vs from scratch, same architecture and fine-tuning budget; an mSLAM encoder
fine-tuned alike with a new decoder (``mslam``) and fairseq's own ``s2t_conformer`` of
similar size from scratch as references. Every step is an ordinary
``fairseq-train`` / ``fairseq-generate`` command, printed before it runs and written to
``OUT/commands.sh``; the scores go to ``OUT/results.md`` and ``OUT/results.json``.

    python examples/finetune/compare.py --configs CONFIGS --pretrained pretrain/checkpoint_last.pt \\
        --out work/compare --stage1-updates 3000 --stage2-updates 1500

CONFIGS holds ``multitask_noisy.yaml``, ``ast_noisy.yaml``, ``asr_noisy.yaml`` and ``mt.yaml``
(noisy fine-tuning: SpecAugment, and ``--synonym-noise`` 0.06), or with ``--clean`` the same
without ``_noisy`` and without synonym noise; ``mu2slam-finetune-configs`` writes them for
the default corpus. For each initialisation (``pretrained``: from ``--pretrained``;
``scratch``: random) the recipe is gradual fine-tuning: stage 1 on multitask.yaml (AST 4 :
ASR 2 : MT 2) for ``--stage1-updates``, then, for each task of ``--stage2``, a run from
stage 1's last checkpoint on that task alone for ``--stage2-updates`` (the best checkpoint
by validation BLEU / WER), then ``fairseq-generate`` on every test manifest: AST and MT by
BLEU, ASR by WER, each with its stage-2 model or else the stage-1 model. ``mslam`` runs
the same recipe on ``mu2slam_slam_seq2seq`` (``--mslam-arch``), its encoder and CTC head
from the ``mu2slam_slam`` checkpoint ``--mslam``.
``s2t_conformer`` trains fairseq's speech_to_text task on the same manifests, vocabulary
and features (Conv2d front end via ``--conv-version convtransformer``, the mu2slam_tiny
sizes by default) for ``stage1 + stage2`` updates, once for AST and once for ASR.
``--noise-ratios`` adds the paper's noise-ratio study (``noise_study.json``). A finished
step (its output exists) is skipped when the script runs again.
"""

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import yaml

from mu2slam_fairseq import train_log
from mu2slam_fairseq.data.io.manifest import atomic_write_text
from mu2slam_fairseq.scoring.corpus_scores import asr_scores, bleu_scores, compare, format_score
from mu2slam_fairseq.scoring.generate_output import Generated, read_generate_output

RUNS = ("pretrained", "scratch", "mslam", "s2t_conformer")
# fairseq's batch_by_size drops the examples that do not fill a multiple of
# --required-batch-size-multiple (default 8): a test set of 13 would be scored on 8
ALL_EXAMPLES = ["--required-batch-size-multiple", "1"]
# mu2slam_tiny's sizes, for a reference model of similar size
TINY_S2T = [
    "--encoder-embed-dim",
    "192",
    "--encoder-ffn-embed-dim",
    "768",
    "--encoder-layers",
    "4",
    "--encoder-attention-heads",
    "4",
    "--decoder-embed-dim",
    "192",
    "--decoder-ffn-embed-dim",
    "768",
    "--decoder-layers",
    "2",
    "--decoder-attention-heads",
    "4",
    "--depthwise-conv-kernel-size",
    "15",
    "--conv-out-channels",
    "64",
]


class Runner:
    """Runs commands, logs them to commands.sh and each one's output to a log file."""

    def __init__(self, out: Path, dry_run: bool):
        self.out, self.dry_run = out, dry_run
        out.mkdir(parents=True, exist_ok=True)
        self.script = out / "commands.sh"
        self.generated: Dict[
            tuple, List[Generated]
        ] = {}  # (run, corpus, decoding label, metric) -> examples
        self.script.write_text(
            "#!/usr/bin/env bash\nset -euo pipefail\nexport OMP_WAIT_POLICY=PASSIVE\n"
        )

    def run(self, name: str, cmd: List[str], done: Optional[Path] = None) -> Optional[str]:
        """Run ``cmd`` unless its log shows it finished (training: ``done`` exists and fairseq
        said "done training"; generation: a score line), so an interrupted run resumes."""
        with open(self.script, "a", encoding="utf-8") as f:
            f.write(
                f"# {name}\n{shlex.join(cmd)} > {shlex.quote(str(self.out / 'logs' / (name + '.log')))} 2>&1\n"
            )
        log = self.out / "logs" / f"{name}.log"
        text = log.read_text(encoding="utf-8") if log.exists() else ""
        if (
            (done.exists() and "done training in" in text)
            if done is not None
            else SCORE_LINE.search(text)
        ):
            print(f"[compare] {name}: done already", flush=True)
            return text
        print(f"[compare] {name}: {shlex.join(cmd)}", flush=True)
        if self.dry_run:
            return None
        log.parent.mkdir(parents=True, exist_ok=True)
        start = time.time()
        with open(log, "w", encoding="utf-8") as f:
            code = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT).returncode
        text = log.read_text(encoding="utf-8")
        if code != 0:
            raise SystemExit(f"[compare] {name} failed (exit {code}); see {log}:\n{text[-2000:]}")
        print(f"[compare] {name}: {time.time() - start:.0f} s", flush=True)
        return text


def test_subsets(config: Path) -> Dict[str, str]:
    """{corpus name: stem of its test manifest} of a data config."""
    cfg = yaml.safe_load(config.read_text(encoding="utf-8"))
    return {
        c["name"]: Path(c["splits"]["test"]).stem
        for c in cfg["corpora"]
        if "test" in c.get("splits", {})
    }


SCORE_LINE = re.compile(r"^Generate .* with beam=\d+: (BLEU|WER)", re.M)
# ASR decodings and the labels that mark their result keys (their flags: ``decoding_flags``)
DECODINGS = {"beam": "attention beam", "joint": "joint CTC/attention", "ctc": "CTC greedy"}


def decoding_flags(a) -> Dict[str, List[str]]:
    """fairseq-generate flags of each ASR decoding."""
    return {
        "beam": [],
        "joint": ["--ctc-decoding-weight", str(a.decoding_ctc_weight)],
        "ctc": ["--ctc-greedy"],
    }


def scores(examples: Sequence[Generated], metric: str) -> Dict[str, object]:
    """Corpus scores of a generation run's lines (see ``mu2slam_fairseq.scoring``)."""
    return asr_scores(examples) if metric == "wer" else bleu_scores(examples)


def optimizer_flags(a) -> List[str]:
    """Optimiser and learning-rate schedule, the same for the mu2slam runs and s2t_conformer."""
    return ["--optimizer", "adam", "--adam-betas", "(0.9,0.98)", "--weight-decay", "0.01",
            "--lr", str(a.lr), "--lr-scheduler", "inverse_sqrt", "--warmup-updates", str(a.warmup),
            "--warmup-init-lr", "1e-7", "--clip-norm", "1.0"]  # fmt: skip


def batch_flags(batch_size: Optional[int]) -> List[str]:
    """Examples per training update (none: --max-tokens alone); validation batches stay large."""
    return ["--batch-size", str(batch_size), "--batch-size-valid", "64"] if batch_size else []


def finetune_command(
    a,
    data_config: str,
    updates: int,
    save: Path,
    start: Optional[Path],
    noise: float,
    validations: int,
    metrics: Sequence[str],
    best: Optional[str],
    seconds: Optional[float] = None,
    batch_size: Optional[int] = None,
    model: Sequence[str] = (),
) -> List[str]:
    """One mu2slam_finetune run: ``validations`` validations with ``metrics``, best by ``best``;
    with ``seconds``, it trains for that long (fairseq's --stop-time-hours) instead of ``updates``;
    ``batch_size`` examples per update (split over the types by share); ``model``: the
    architecture arguments (default ``--arch`` ARCH)."""
    save.mkdir(parents=True, exist_ok=True)  # fairseq opens --log-file before it makes --save-dir
    cmd = [
        sys.executable,
        "-m",
        "fairseq_cli.train",
        str(a.configs),
        "--user-dir",
        str(a.user_dir),
        "--task",
        "mu2slam_finetune",
        "--data-config",
        data_config,
        "--criterion",
        "mu2slam_seq2seq",
        *(model or ["--arch", a.arch]),
        *optimizer_flags(a),
        "--max-tokens",
        str(a.max_tokens),
        *batch_flags(batch_size),
        "--label-smoothing",
        "0.1",
        "--synonym-noise",
        str(noise),
        "--max-update",
        str(updates),
        "--ctc-weight",
        str(a.ctc_weight),
        "--save-dir",
        str(save),
        "--log-format",
        "simple",
        "--log-interval",
        str(a.log_interval),
        "--log-file",
        str(save / "train.log"),
        "--no-epoch-checkpoints",
        "--seed",
        str(a.seed),
        "--save-interval",
        "1000000",
        "--validate-interval",
        "1000000",
        *a.extra,
    ]
    if start is not None:
        cmd += ["--finetune-from-model", str(start)]
    if seconds is not None:
        cmd[cmd.index("--max-update") + 1] = "1000000"
        cmd += ["--stop-time-hours", f"{seconds / 3600:.6f}"]
    if validations > 0:
        every = str(max(1, updates // validations))
        cmd += [
            "--validate-interval-updates",
            every,
            "--save-interval-updates",
            every,
            "--keep-interval-updates",
            "1",
            "--eval-gen-args",
            json.dumps({"beam": 1, "max_len_a": 0.5, "max_len_b": 10}),
        ]
        cmd += [f"--eval-{m}" for m in metrics]
        if best:
            cmd += ["--best-checkpoint-metric", best] + (
                ["--maximize-best-checkpoint-metric"] if best == "bleu" else []
            )
    else:
        cmd.append("--disable-validation")
    if a.cpu:
        cmd.append("--cpu")
    return cmd


def generate(
    a,
    runner: Runner,
    name: str,
    data_config: str,
    subset: str,
    checkpoint: Path,
    metric: str,
    extra: Sequence[str] = (),
) -> List[Generated]:
    """fairseq-generate on one test set: its examples (none in a dry run)."""
    cmd = [
        sys.executable,
        "-m",
        "fairseq_cli.generate",
        str(a.configs),
        "--user-dir",
        str(a.user_dir),
        "--task",
        "mu2slam_finetune",
        "--data-config",
        data_config,
        "--gen-subset",
        subset,
        "--path",
        str(checkpoint),
        "--beam",
        str(a.beam),
        "--max-len-a",
        "0.5",
        "--max-len-b",
        "10",
        "--max-tokens",
        "20000",
        "--scoring",
        "sacrebleu" if metric == "bleu" else "wer",
        *extra,
    ]
    cmd += shard_args(a)
    if a.cpu:
        cmd.append("--cpu")
    if runner.run(name, cmd) is None:
        return []
    return read_generate_output(runner.out / "logs" / f"{name}.log")


def keyed(corpus: str, result: Dict[str, object], label: str = "") -> Dict[str, object]:
    """Result keys "CORPUS METRIC" (e.g. "asr_nl cer"), "+ (LABEL)" for a non-default decoding."""
    return {
        f"{corpus} {k}" + (f" ({label})" if label else ""): v for k, v in result.items() if k != "n"
    }


def shard_args(a) -> List[str]:
    """fairseq-generate shards its batches by the data-parallel world size and rank;
    batches of 8 sentences make the first shard about 1/N of the sentences."""
    if a.test_shards <= 1:
        return []
    return [
        "--batch-size",
        "8",
        "--distributed-world-size",
        str(a.test_shards),
        "--distributed-rank",
        "0",
    ]


METRIC = {"ast": "bleu", "asr": "wer", "mt": "bleu"}


def stage2_updates(spec: str) -> Dict[str, int]:
    """{task: stage-2 updates} from "N" (every task) or "ast:400,asr:800" (unnamed tasks: the largest)."""
    if ":" not in spec:
        return dict.fromkeys(METRIC, int(spec))
    given = {}
    for part in spec.split(","):
        task, _, n = part.partition(":")
        if task not in METRIC or not n.isdigit():
            raise ValueError(
                f"expected N or TASK:N,... with TASK among {', '.join(METRIC)}, got {part!r}"
            )
        given[task] = int(n)
    return {t: given.get(t, max(given.values())) for t in METRIC}


def training_seconds(log: Path) -> float:
    """The wall time fairseq-train reports at its end; an unfinished training is an error."""
    seconds = train_log.training_seconds(log)
    if seconds is None:
        raise SystemExit(
            f"[compare] {log} has no 'done training in ... seconds' line: is that training finished?"
        )
    return seconds


def training_step_seconds(log: Path) -> float:
    """Seconds fairseq-train spent in update steps (``train_wall`` of its epoch lines), without
    the validations, which differ in cost between a trained and an untrained model."""
    walls = re.findall(r"\| train \|.*?\| train_wall ([\d.]+)", log.read_text(encoding="utf-8"))
    if not walls:
        raise SystemExit(
            f"[compare] {log} has no epoch line with train_wall: is that training finished?"
        )
    return sum(float(w) for w in walls)


def mu2slam_runs(a, runner: Runner, init: str, results: Dict) -> None:
    """Gradual fine-tuning: multi-task stage 1, then one task per stage-2 run, then the test sets.

    A task without a stage-2 run is scored with the stage-1 model (it was trained on it).
    """
    work = a.out / init
    stage1 = work / "stage1"
    start = a.pretrained if init == "pretrained" else None
    model = ["--arch", a.mslam_arch] if init == "mslam" else []
    encoder = ["--load-pretrained-encoder-from", str(a.mslam)] if init == "mslam" else []
    seconds, updates = None, a.stage1_updates
    if (
        init == "scratch" and a.equal_time
    ):  # stage 1 as long as pre-training and the pre-trained stage 1
        stage1_log = a.out / "logs" / "pretrained_stage1.log"
        seconds = training_seconds(a.pretrain_log) + training_seconds(stage1_log)
        # the updates that time holds at the pre-trained stage 1's pace, without its
        # validations: spaces scratch's validations as many as the pre-trained model had
        updates = round(a.stage1_updates * seconds / max(1.0, training_step_seconds(stage1_log)))
    runner.run(
        f"{init}_stage1",
        finetune_command(
            a,
            f"multitask{a.suffix}.yaml",
            updates,
            stage1,
            start,
            a.synonym_noise,
            a.stage1_validations,
            ("bleu", "wer"),
            None,
            seconds,
            a.batch_size,
            model + encoder,
        ),
        stage1 / "checkpoint_last.pt",
    )
    scored = results.setdefault(init, {})
    for task in ("ast", "asr", "mt"):
        metric = METRIC[task]
        if task in a.stage2:
            save = work / f"stage2_{task}"
            runner.run(
                f"{init}_stage2_{task}",
                finetune_command(
                    a,
                    f"{task}{a.suffix}.yaml",
                    a.stage2_updates_of[task],
                    save,
                    stage1 / "checkpoint_last.pt",
                    a.synonym_noise,
                    a.stage2_validations,
                    (metric,),
                    metric,
                    batch_size=a.stage2_batch_size,
                    model=model,
                ),
                save / "checkpoint_best.pt",
            )
            checkpoint = save / "checkpoint_best.pt"
        else:
            checkpoint = stage1 / "checkpoint_last.pt"
        subsets = test_subsets(a.configs / f"{task}.yaml")
        if task == "mt" and a.mt_test:
            subsets = {s.split(":")[-1]: s for s in a.mt_test.split(",")}
        for corpus, subset in subsets.items():
            for i, decoding in enumerate(a.asr_decodings if task == "asr" else ["beam"]):
                name = f"{init}_generate_{subset.replace(':', '_')}" + (
                    "" if decoding == "beam" else f"_{decoding}"
                )
                examples = generate(
                    a,
                    runner,
                    name,
                    f"{task}.yaml",
                    subset,
                    checkpoint,
                    metric,
                    decoding_flags(a)[decoding],
                )
                if examples:
                    label = "" if i == 0 else DECODINGS[decoding]
                    scored.update(keyed(corpus, scores(examples, metric), label))
                    runner.generated[(init, corpus, label, metric)] = examples
    if not runner.dry_run:  # wall clock of its training, pre-training included: the compute it had
        logs = [a.out / "logs" / f"{init}_stage1.log"] + [
            a.out / "logs" / f"{init}_stage2_{t}.log" for t in a.stage2
        ]
        pretraining = {"pretrained": a.pretrain_log, "mslam": a.mslam_log}.get(init)
        if pretraining and pretraining.exists():
            logs.append(pretraining)
        scored["training minutes"] = sum(training_seconds(log) for log in logs) / 60


def noise_study(a, runner: Runner) -> Dict[str, Dict[str, Optional[float]]]:
    """The paper's Figure 2: stage-2 AST from the pre-trained stage-1 model at each synonym-noise ratio."""
    stage1 = a.out / "pretrained" / "stage1" / "checkpoint_last.pt"
    out: Dict[str, Dict[str, Optional[float]]] = {}
    for ratio in a.noise_ratios:
        save = a.out / "noise_study" / f"ratio_{ratio:g}"
        runner.run(
            f"noise_{ratio:g}_stage2_ast",
            finetune_command(
                a,
                f"ast{a.suffix}.yaml",
                a.stage2_updates_of["ast"],
                save,
                stage1,
                ratio,
                a.stage2_validations,
                ("bleu",),
                "bleu",
                batch_size=a.stage2_batch_size,
            ),
            save / "checkpoint_best.pt",
        )
        for corpus, subset in test_subsets(a.configs / "ast.yaml").items():
            examples = generate(
                a,
                runner,
                f"noise_{ratio:g}_generate_{subset}",
                "ast.yaml",
                subset,
                save / "checkpoint_best.pt",
                "bleu",
            )
            out.setdefault(f"{ratio:g}", {})[f"{corpus} bleu"] = (
                scores(examples, "bleu")["bleu"] if examples else None
            )
    return out


def s2t_runs(a, runner: Runner, results: Dict) -> None:
    """fairseq's speech_to_text with s2t_conformer on the same manifests, from scratch."""
    from mu2slam_fairseq.data.io.s2t_config import write_s2t_config

    work = a.out / "s2t_conformer"
    for task, metric in (("ast", "bleu"), ("asr", "wer")):
        cfg = yaml.safe_load((a.configs / f"{task}.yaml").read_text(encoding="utf-8"))
        base = a.configs
        paths = {
            s: Path(p) if Path(p).is_absolute() else base / p
            for c in cfg["corpora"]
            for s, p in c["splits"].items()
        }
        folders = {p.parent.resolve() for p in paths.values()}
        if len(folders) != 1:
            raise SystemExit(
                f"[compare] s2t_conformer needs the {task} manifests in one folder, got {sorted(folders)}"
            )
        data = folders.pop()
        vocab = cfg["vocab"]
        dict_txt = (
            Path(vocab["dict"]) if Path(vocab["dict"]).is_absolute() else base / vocab["dict"]
        )
        spm = Path(vocab["spm"]) if Path(vocab["spm"]).is_absolute() else base / vocab["spm"]
        cmvn = (cfg.get("features") or {}).get("global_cmvn")
        config = write_s2t_config(
            work / f"config_{task}.yaml",
            dict_txt,
            spm,
            data,
            Path(cmvn) if cmvn else None,
            specaugment=not a.clean,
        )

        def subsets(split):
            return ",".join(
                Path(c["splits"][split]).stem for c in cfg["corpora"] if split in c["splits"]
            )

        save = work / task
        best = ["--best-checkpoint-metric", "loss"]
        # --user-dir: fairseq loads its own checkpoints with torch's weights-only loader, which
        # refuses them (argparse.Namespace) unless the plugin's allow-list is installed: without
        # it an interrupted run could not resume, and generation could not read the model
        cmd = [
            sys.executable,
            "-m",
            "fairseq_cli.train",
            str(data),
            "--user-dir",
            str(a.user_dir),
            "--task",
            "speech_to_text",
            "--config-yaml",
            str(config.resolve()),
            "--train-subset",
            subsets("train"),
            "--valid-subset",
            subsets("valid").split(",")[0],
            "--arch",
            "s2t_conformer",
            "--conv-version",
            "convtransformer",
            *TINY_S2T,
            "--criterion",
            "label_smoothed_cross_entropy",
            "--label-smoothing",
            "0.1",
            *optimizer_flags(a),
            "--max-tokens",
            str(a.max_tokens * 4),
            "--max-update",
            str(a.s2t_updates),
            "--save-dir",
            str(save),
            "--no-epoch-checkpoints",
            "--log-format",
            "simple",
            "--log-interval",
            "50",
            "--seed",
            str(a.seed),
            "--validate-interval-updates",
            str(max(1, a.s2t_updates // 4)),
            "--validate-interval",
            "1000000",
            "--save-interval",
            "1000000",
            "--save-interval-updates",
            str(max(1, a.s2t_updates // 4)),
            "--keep-interval-updates",
            "1",
            *best,
            *ALL_EXAMPLES,
        ]
        cmd += batch_flags(
            a.stage2_batch_size
        )  # as many examples per update as the mu2slam runs of one task
        if a.cpu:
            cmd.append("--cpu")
        runner.run(f"s2t_conformer_{task}", cmd, save / "checkpoint_best.pt")
        for corpus, subset in test_subsets(a.configs / f"{task}.yaml").items():
            gen = [
                sys.executable,
                "-m",
                "fairseq_cli.generate",
                str(data),
                "--user-dir",
                str(a.user_dir),
                "--task",
                "speech_to_text",
                "--config-yaml",
                str(config.resolve()),
                "--gen-subset",
                subset,
                "--path",
                str(save / "checkpoint_best.pt"),
                "--beam",
                str(a.beam),
                "--max-len-a",
                "0.1",
                "--max-len-b",
                "10",
                "--max-tokens",
                "50000",
                "--scoring",
                "sacrebleu" if metric == "bleu" else "wer",
                *ALL_EXAMPLES,
                *shard_args(a),
            ]
            if a.cpu:
                gen.append("--cpu")
            name = f"s2t_conformer_generate_{subset}"
            if runner.run(name, gen) is not None:
                examples = read_generate_output(runner.out / "logs" / f"{name}.log")
                results.setdefault("s2t_conformer", {}).update(
                    keyed(corpus, scores(examples, metric))
                )


def table(results: Dict, a) -> str:
    """One row per result key (test set, metric, decoding), one column per model."""
    keys = sorted(
        {k for r in results.values() for k in r if "_ci" not in k}, key=lambda k: (k.split()[0], k)
    )
    runs = list(results)
    lines = [
        f"Fine-tuning budget: stage 1 {a.stage1_updates} + stage 2 {a.stage2_updates} updates"
        + (f" of {a.batch_size} examples" if a.batch_size else "")
        + " "
        f"(s2t_conformer: {a.s2t_updates}), arch {a.arch}"
        + (f" (mslam: {a.mslam_arch})" if "mslam" in results else "")
        + f", beam {a.beam}; WER and CER with bootstrap 95% "
        "intervals, distinct = % of distinct hypotheses, p = paired bootstrap against scratch.",
        "",
        "| test set, metric | " + " | ".join(runs) + " |",
        "|---" * (len(runs) + 1) + "|",
    ]
    for key in keys:
        lines.append(f"| {key} | " + " | ".join(format_score(results[r], key) for r in runs) + " |")
    return "\n".join(lines) + "\n"


def paired_tests(runner: Runner, results: Dict) -> None:
    """p-values of the pre-trained runs (pretrained, mslam) against scratch on every test set
    and decoding both generated (paired bootstrap; keys "CORPUS METRIC p", e.g. "st_nl_en bleu p")."""
    for (init, corpus, label, metric), system in runner.generated.items():
        base = runner.generated.get(("scratch", corpus, label, metric))
        if init not in ("pretrained", "mslam") or base is None:
            continue
        for m in ("wer", "cer") if metric == "wer" else ("bleu",):
            results[init].update(
                keyed(corpus, {f"{m} p": compare(system, base, m)["p_value"]}, label)
            )


def main(argv: Optional[List[str]] = None) -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--configs", type=Path, required=True, help="folder of the data configs (see above)"
    )
    p.add_argument(
        "--pretrained", type=Path, help="the pre-trained checkpoint (needed for the pretrained run)"
    )
    p.add_argument(
        "--out", type=Path, required=True, help="work folder (checkpoints, logs, results)"
    )
    p.add_argument(
        "--runs", default=",".join(RUNS), help=f"comma-separated subset of {','.join(RUNS)}"
    )
    p.add_argument(
        "--arch", default="mu2slam_tiny", help="mu2slam architecture of the pre-trained checkpoint"
    )
    p.add_argument(
        "--mslam", type=Path, help="a mu2slam_slam checkpoint (mSLAM), needed for the mslam run"
    )
    p.add_argument(
        "--mslam-arch",
        default="mu2slam_slam_seq2seq_tiny",
        help="mu2slam_slam_seq2seq architecture of the mslam run; its encoder sizes are --mslam's",
    )
    p.add_argument(
        "--mslam-log",
        type=Path,
        default=None,
        help="mSLAM pre-training's fairseq-train log, for its training time (default: train.log "
        "beside --mslam's folder)",
    )
    p.add_argument("--stage1-updates", type=int, default=3000)
    p.add_argument(
        "--stage2-updates",
        default="1500",
        help="updates of each stage-2 run: N, or per task, e.g. ast:400,asr:800 (default 1500)",
    )
    p.add_argument(
        "--s2t-updates",
        type=int,
        help="updates of each s2t_conformer run (default: stage-1 + stage-2 updates)",
    )
    p.add_argument(
        "--max-tokens", type=int, default=12000, help="mu2slam budget in 40 ms steps and tokens"
    )
    p.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="examples per stage-1 update, split over the data types by share (AST 4 : ASR 2 : MT 2, "
        "so 32 gives 16 : 8 : 8); default: --max-tokens alone. Small updates learn far more per "
        "epoch of speech",
    )
    p.add_argument(
        "--stage2-batch-size",
        type=int,
        default=None,
        help="examples per stage-2 (and noise-study) update (default: --batch-size)",
    )
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--warmup", type=int, default=500)
    p.add_argument("--synonym-noise", type=float, default=0.06)
    p.add_argument(
        "--ctc-weight",
        type=float,
        default=0.3,
        help="weight of CTC on ASR speech in fine-tuning (mu2slam_seq2seq's --ctc-weight; default 0.3)",
    )
    p.add_argument(
        "--asr-decodings",
        default="joint,beam,ctc",
        help="ASR test decodings, comma-separated of joint (joint CTC/attention beam search), beam "
        "(attention beam search), ctc (CTC greedy); the first gives the plain keys (e.g. 'asr_nl cer'), "
        "the others '... (LABEL)' keys (default joint,beam,ctc)",
    )
    p.add_argument(
        "--decoding-ctc-weight",
        type=float,
        default=0.3,
        help="CTC weight of the joint decoding (fairseq-generate --ctc-decoding-weight; default 0.3)",
    )
    p.add_argument(
        "--clean",
        action="store_true",
        help="no noisy fine-tuning: the clean data configs (no SpecAugment), no synonym noise; "
        "by default the *_noisy.yaml configs and SpecAugment for s2t_conformer too",
    )
    p.add_argument(
        "--stage2",
        default="ast,asr",
        help="tasks fine-tuned alone in stage 2 (comma-separated of ast,asr,mt; default ast,asr); "
        "the others are scored with the stage-1 model",
    )
    p.add_argument(
        "--stage1-validations",
        type=int,
        default=0,
        help="validations (BLEU and WER) during stage 1, for its curves (default 0: none)",
    )
    p.add_argument(
        "--stage2-validations",
        type=int,
        default=4,
        help="validations during each stage-2 run; the best one is scored (default 4)",
    )
    p.add_argument(
        "--test-shards",
        type=int,
        default=1,
        help="score 1/N of each test set (every Nth batch), for quick runs",
    )
    p.add_argument(
        "--mt-test",
        default="",
        help="MT generation subsets (comma-separated, e.g. mt:test_mt_fillets; default: mt.yaml's test)",
    )
    p.add_argument(
        "--noise-ratios",
        type=lambda s: [float(x) for x in s.split(",") if x],
        default=[],
        help="also run the noise-ratio study (stage-2 AST from the pre-trained stage 1 at each "
        "synonym-noise ratio, e.g. 0,0.06,0.12,0.24,0.48): noise_study.json",
    )
    p.add_argument(
        "--equal-time",
        action="store_true",
        help="scratch's stage 1 trains as long as pre-training (--pretrain-log) and the pretrained "
        "run's stage 1 together (wall clock), instead of --stage1-updates; run pretrained first",
    )
    p.add_argument(
        "--pretrain-log",
        type=Path,
        default=None,
        help="pre-training's fairseq-train log, for --equal-time (default: train.log beside --pretrained's folder)",
    )
    p.add_argument(
        "--log-interval", type=int, default=50, help="fairseq --log-interval of every run"
    )
    p.add_argument("--beam", type=int, default=5)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--cpu", action="store_true", help="pass --cpu to fairseq")
    p.add_argument(
        "--extra",
        nargs=argparse.REMAINDER,
        default=[],
        help="further fairseq-train arguments for the mu2slam runs (e.g. --autocast-bf16)",
    )
    p.add_argument("--dry-run", action="store_true", help="print and record the commands only")
    a = p.parse_args(argv)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see examples/demo.py
    a.user_dir = Path(__file__).resolve().parents[2] / "mu2slam_fairseq"
    a.stage2_batch_size = a.stage2_batch_size or a.batch_size
    try:
        a.stage2_updates_of = stage2_updates(a.stage2_updates)
    except ValueError as e:
        p.error(f"--stage2-updates: {e}")
    a.s2t_updates = a.s2t_updates or a.stage1_updates + max(a.stage2_updates_of.values())
    a.suffix = "" if a.clean else "_noisy"
    a.synonym_noise = 0.0 if a.clean else a.synonym_noise
    a.stage2 = [t for t in a.stage2.split(",") if t]
    a.asr_decodings = [d for d in a.asr_decodings.split(",") if d]
    if set(a.asr_decodings) - set(DECODINGS) or not a.asr_decodings:
        p.error(f"--asr-decodings: choose among {', '.join(DECODINGS)}, got {a.asr_decodings}")
    if a.ctc_weight <= 0 and set(a.asr_decodings) & {"joint", "ctc"}:
        p.error(
            "--asr-decodings joint and ctc need a trained CTC head: --ctc-weight > 0, or --asr-decodings beam"
        )
    if set(a.stage2) - set(METRIC):
        p.error(
            f"--stage2: unknown task(s) {sorted(set(a.stage2) - set(METRIC))}; choose among ast, asr, mt"
        )
    a.configs, a.out = a.configs.resolve(), a.out.resolve()
    runs = [r for r in a.runs.split(",") if r]
    if ("pretrained" in runs or a.noise_ratios) and a.pretrained is None:
        p.error("--pretrained is needed for the pretrained run and the noise-ratio study")
    a.pretrained = a.pretrained.resolve() if a.pretrained else None
    if a.equal_time:
        if (
            a.pretrained is None
            or "pretrained" not in runs
            or ("scratch" in runs and runs.index("pretrained") > runs.index("scratch"))
        ):
            p.error(
                "--equal-time needs --pretrained and the pretrained run before scratch in --runs"
            )
    if a.pretrained and not a.pretrain_log:
        a.pretrain_log = a.pretrained.parent.parent / "train.log"
    if "mslam" in runs and a.mslam is None:
        p.error("--mslam is needed for the mslam run")
    a.mslam = a.mslam.resolve() if a.mslam else None
    if a.mslam and not a.mslam_log:
        a.mslam_log = a.mslam.parent.parent / "train.log"
    runner = Runner(a.out, a.dry_run)
    # runs of earlier invocations into the same --out stay in the table (e.g. --runs s2t_conformer later)
    earlier = a.out / "results.json"
    results: Dict[str, Dict[str, Optional[float]]] = (
        json.loads(earlier.read_text()) if earlier.exists() else {}
    )
    for run in runs:
        if run == "s2t_conformer":
            s2t_runs(a, runner, results)
        else:
            mu2slam_runs(a, runner, run, results)
    if a.noise_ratios:
        if "pretrained" not in runs:
            mu2slam_runs(a, runner, "pretrained", {})
        study = noise_study(a, runner)
        atomic_write_text(a.out / "noise_study.json", json.dumps(study, indent=1))
    if "scratch" in results:
        paired_tests(runner, results)
    atomic_write_text(a.out / "results.json", json.dumps(results, indent=1))
    atomic_write_text(a.out / "results.md", table(results, a))
    print(table(results, a))
    print(f"[compare] commands in {runner.script}")


if __name__ == "__main__":
    main()
