"""The GPU path: mixed precision, gradient accumulation and activation checkpointing on
CUDA, fine-tuning and fairseq-generate on one GPU, and one update of mu2slam_base at the
paper's per-device batch.

Every test here is marked ``gpu`` and skipped without CUDA (``pytest -m gpu`` selects
them; ``tests/run_gpu.sh`` runs them on a machine that has one). Lines starting with
``[gpu]`` are the figures a run reports (with ``-s``): step times and peak memory.
"""

import math
import re
import time
from pathlib import Path
from typing import List, Sequence

import pytest
import torch

import finetune_corpus
from finetune_corpus import FINETUNE_ARGS
from test_generate import generate
from test_paper_recipes import PAPER, compose_recipe, overrides_for, work  # noqa: F401  (fixture)

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
]

PRETRAIN_ARGS = (
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
    "--lr-scheduler",
    "inverse_sqrt",
    "--warmup-updates",
    "10",
    "--clip-norm",
    "1.0",
    "--max-tokens",
    "4000",
    "--num-workers",
    "0",
    "--disable-validation",
)
UPDATES = 40  # enough for the loss to fall on the small corpus (as in test_pretrain.py)


def report(line: str) -> None:
    print(f"[gpu] {line}", flush=True)


def losses(log: str) -> List[float]:
    """The total loss of every logged update (``--log-interval 1``)."""
    lines = [line for line in log.splitlines() if "train_inner" in line]
    return [
        float(v) for line in lines for v in re.findall(r"(?<![\w/])loss=([\d.]+|nan|inf)", line)
    ]


def assert_falls(series: Sequence[float], what: str, window: int = 10) -> None:
    assert series and all(math.isfinite(v) for v in series), f"{what}: {series}"
    first, last = sum(series[:window]) / window, sum(series[-window:]) / window
    assert last < first, f"{what}: the loss did not fall ({first:.3f} -> {last:.3f})"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, fillets_root) -> Path:
    """The small real corpus with its pre-training (data.yaml) and fine-tuning
    (finetune.yaml) data configs."""
    return finetune_corpus.corpus(tmp_path_factory, fillets_root)


@pytest.mark.parametrize(
    "flags",
    [
        ["--fp16"],
        ["--autocast-bf16"],
        ["--amp"],
        ["--fp16", "--update-freq", "2", "--checkpoint-activations"],
        ["--autocast-bf16", "--update-freq", "2", "--checkpoint-activations"],
    ],
    ids=["fp16", "bf16", "amp", "fp16-accumulate-checkpoint", "bf16-accumulate-checkpoint"],
)
def test_tiny_pretraining(corpus, tmp_path, flags):
    start = time.perf_counter()
    out = finetune_corpus.train(
        corpus,
        tmp_path / "ckpt",
        *PRETRAIN_ARGS,
        "--max-update",
        str(UPDATES),
        "--no-save",
        *flags,
        cpu=False,
    )
    wall = time.perf_counter() - start
    log = out.stdout + out.stderr
    assert "training on 1 devices (GPUs/TPUs)" in log, log[-2000:]
    assert re.search(rf"num_updates: {UPDATES} >= max_update: {UPDATES}", log)
    series = losses(log)
    assert len(series) >= UPDATES - 5  # fp16 may skip a few overflowing steps
    assert_falls(series, " ".join(flags))
    report(
        f"mu2slam_tiny pre-training {' '.join(flags)}: {UPDATES} updates in {wall:.0f} s "
        f"(process included), loss {series[0]:.2f} -> {series[-1]:.2f}"
    )


@pytest.fixture(scope="module")
def pretrained(corpus, tmp_path_factory) -> Path:
    save = tmp_path_factory.mktemp("gpu_pretrained")
    finetune_corpus.train(
        corpus,
        save,
        *PRETRAIN_ARGS,
        "--max-update",
        "4",
        "--autocast-bf16",
        "--no-epoch-checkpoints",
        cpu=False,
    )
    return save / "checkpoint_last.pt"


@pytest.fixture(scope="module")
def finetuned(corpus, pretrained, tmp_path_factory) -> Path:
    """checkpoint_best.pt of fp16 multi-task fine-tuning on the GPU, validated by BLEU."""
    save = tmp_path_factory.mktemp("gpu_finetuned")
    out = finetune_corpus.train(
        corpus,
        save,
        *FINETUNE_ARGS,
        "--fp16",
        "--finetune-from-model",
        str(pretrained),
        "--max-update",
        str(UPDATES),
        "--lr-scheduler",
        "inverse_sqrt",
        "--warmup-updates",
        "10",
        "--synonym-noise",
        "0.06",
        "--eval-bleu",
        "--eval-wer",
        "--eval-gen-args",
        '{"beam": 1, "max_len_b": 12}',
        "--best-checkpoint-metric",
        "bleu",
        "--maximize-best-checkpoint-metric",
        "--validate-interval",
        "1000",  # validated once, at the end
        "--no-epoch-checkpoints",
        cpu=False,
    )
    log = out.stdout + out.stderr
    assert_falls(losses(log), "fp16 fine-tuning")
    assert re.search(r"valid on 'valid' subset .* bleu ", log), log[-2000:]
    return save / "checkpoint_best.pt"


@pytest.mark.parametrize(
    "subset,scoring,extra",
    [
        ("test_st_nl_en", "sacrebleu", []),
        ("test_asr_nl", "wer", ["--ctc-decoding-weight", "0.5"]),
        ("test_asr_nl", "wer", ["--ctc-greedy"]),
    ],
    ids=["ast-beam", "asr-joint-ctc", "asr-ctc-greedy"],
)
def test_finetune_and_generate(corpus, finetuned, subset, scoring, extra):
    out = generate(corpus, finetuned, subset, scoring, *extra, prefix=0, cpu=False)
    hyps = re.findall(r"^D-(\d+)\t([^\t]*)\t", out, re.M)
    assert len(hyps) == 6 and all(math.isfinite(float(score)) for _, score in hyps)
    result = re.search(rf"Generate {subset} with beam=\d+: (.*)$", out, re.M)
    assert result, out[-2000:]
    report(f"fairseq-generate {' '.join([subset, *extra])} (fp16): {result.group(1)}")


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two GPUs")
def test_c10d_data_parallel(corpus, tmp_path):
    """fairseq's c10d DDP over two GPUs (fairseq-train spawns one process per GPU)."""
    out = finetune_corpus.train(
        corpus,
        tmp_path / "ckpt",
        *PRETRAIN_ARGS,
        "--max-update",
        "10",
        "--no-save",
        "--fp16",
        "--distributed-world-size",
        "2",
        "--ddp-backend",
        "c10d",
        cpu=False,
    )
    log = out.stdout + out.stderr
    assert "training on 2 devices (GPUs/TPUs)" in log and "num_updates: 10 >= max_update: 10" in log
    assert all(math.isfinite(v) for v in losses(log))


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mu2slam_base_update_at_the_paper_batch(work, precision):  # noqa: F811
    """Two updates of examples/paper/pretrain_char.yaml as it is (mu2slam_base, Adam, the
    data config's per-device shares 4 speech, 8 text, 1 ASR, 1 AST, 1 MT) on one GPU, in
    bf16 autocast or fairseq's fp16; prints the step times and the peak memory."""
    from fairseq import tasks
    from fairseq.trainer import Trainer

    recipe = PAPER / "pretrain_char.yaml"
    cfg = compose_recipe(
        recipe,
        overrides_for(work, recipe, None)
        + [
            "distributed_training.distributed_world_size=1",
            "optimization.update_freq=[1]",
            "dataset.num_workers=0",
            f"common.fp16={str(precision == 'fp16').lower()}",
            f"++task.autocast_bf16={str(precision == 'bf16').lower()}",
        ],
    )
    assert cfg.model._name == "mu2slam_base" and not cfg.common.cpu
    task = tasks.setup_task(cfg.task)
    task.load_dataset(cfg.dataset.train_subset, combine=False, epoch=1)
    model = task.build_model(cfg.model)
    params = sum(p.numel() for p in model.parameters())
    trainer = Trainer(cfg, task, model, task.build_criterion(cfg.criterion))
    assert next(trainer.model.parameters()).is_cuda
    itr = trainer.get_train_iterator(epoch=1, load_dataset=False).next_epoch_itr(shuffle=False)
    probe = next(p for p in trainer.model.parameters() if p.requires_grad)
    before = probe.detach().clone()
    torch.cuda.reset_peak_memory_stats()
    times, logs = [], []
    for _ in range(2):  # the first one also allocates Adam's state and warms up the kernels
        batch = next(itr)
        torch.cuda.synchronize()
        start = time.perf_counter()
        logs.append(trainer.train_step([batch]))
        torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    peak = torch.cuda.max_memory_allocated() / 2**30
    assert trainer.get_num_updates() >= 1 and not torch.equal(before, probe.detach())
    finite = [log["loss"] for log in logs if log and math.isfinite(log["loss"])]
    assert finite, logs
    sentences = {k: v for k, v in logs[-1].items() if k.endswith("_nsentences")}
    report(
        f"mu2slam_base ({params / 1e6:.0f} M parameters), one update at the paper's per-device "
        f"batch ({sentences}), {precision}: step {times[0]:.2f} s (first), {times[1]:.2f} s "
        f"(second), peak memory {peak:.1f} GiB on {torch.cuda.get_device_name()}, loss {finite[-1]:.2f}"
    )
