"""Data-parallel pre-training and multi-task fine-tuning on CPU, with a data type missing
from one rank's batches and a non-finite loss on one rank.

Two ``fairseq-train`` processes form one data-parallel run the way ENVIRONMENT.md says works
on CPU (``--distributed-backend gloo --ddp-backend legacy_ddp --distributed-no-spawn``, one
process per rank, TCP rendezvous on a free local port). Each rank runs ``ddp_worker.py``,
which records a digest of the parameters after every update; the ranks must finish (no
hang: both are killed at a deadline) and hold bit-identical parameters after every update,
since each applies the same all-reduced gradients to the same initial weights.
"""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import pytest
import yaml
from fairseq import options, tasks

import mu2slam_fairseq  # noqa: F401  (registers the task, model and criterion)
from mu2slam_fairseq.data.io.manifest import read_manifest, write_manifest
from pretrain_corpus import build

REPO = Path(__file__).resolve().parents[1]
WORKER = Path(__file__).resolve().parent / "ddp_worker.py"
DEADLINE = 300  # seconds for a whole run; a hung collective never returns by itself
ALL_TYPES = ["speech", "text", "asr", "ast", "mt"]
PRETRAIN = ("--task", "mu2slam_pretrain", "--criterion", "mu2slam")
FINETUNE = ("--task", "mu2slam_finetune", "--criterion", "mu2slam_seq2seq")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, fillets_root):
    base = tmp_path_factory.mktemp("distributed")
    build(base, fillets_root)
    return base


def write_config(
    corpus: Path,
    name: str,
    types: Sequence[str] = ALL_TYPES,
    valid: Optional[Dict[str, int]] = None,
) -> str:
    """A variant of the corpus's data.yaml with only ``types``, and ``valid`` {corpus name:
    rows} as valid splits (the first rows of its training manifest); returns its file name."""
    cfg = yaml.safe_load((corpus / "data.yaml").read_text())
    cfg["corpora"] = [c for c in cfg["corpora"] if c["type"] in types]
    for c in cfg["corpora"]:
        c["splits"].pop("valid", None)
        if valid and c["name"] in valid:
            rows = read_manifest(corpus / c["splits"]["train"])[: valid[c["name"]]]
            write_manifest(corpus / f"{name}_valid_{c['name']}.tsv", rows)
            c["splits"]["valid"] = f"{name}_valid_{c['name']}.tsv"
    (corpus / f"{name}.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    return f"{name}.yaml"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def train(
    corpus: Path,
    out: Path,
    config: str,
    updates: int,
    world_size: int = 2,
    withhold: Optional[str] = None,
    extra: Sequence[str] = (),
    task: Sequence[str] = PRETRAIN,
    nan_at: int = 0,
    save: bool = False,
) -> List[List[dict]]:
    """Runs ``world_size`` ranks to ``updates`` updates; returns each rank's records.
    ``save`` keeps checkpoints in ``out/ckpt``, so a second run there resumes.

    A rank that fails ends the run soon after (the other may wait for it forever)."""
    args = [
        str(corpus),
        "--user-dir",
        str(REPO / "mu2slam_fairseq"),
        "--data-config",
        config,
        *task,
        "--arch",
        "mu2slam_tiny",
        "--optimizer",
        "adam",
        "--lr",
        "1e-3",
        "--clip-norm",
        "1.0",
        "--max-update",
        str(updates),
        "--max-tokens",
        "4000",
        "--num-workers",
        "0",
        "--seed",
        "1",
        "--cpu",
        *([] if save else ["--no-save"]),
        "--save-dir",
        str(out / "ckpt"),
        "--log-interval",
        "1",
        "--log-format",
        "simple",
        *extra,
    ]
    if "--validate-interval-updates" not in extra:
        args.append("--disable-validation")
    out.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    procs, logs = [], []
    for rank in range(world_size):
        dist = (
            []
            if world_size == 1
            else [
                "--distributed-world-size",
                str(world_size),
                "--distributed-rank",
                str(rank),
                "--distributed-init-method",
                f"tcp://127.0.0.1:{port}",
                "--distributed-no-spawn",
                "--distributed-backend",
                "gloo",
                "--ddp-backend",
                "legacy_ddp",
            ]
        )
        own = ["--digests", str(out / f"rank{rank}.jsonl")] + (
            ["--withhold", withhold] if withhold else []
        )
        own += ["--nan-at", str(nan_at)] if nan_at else []
        log = open(out / f"rank{rank}.log", "w")
        logs.append(log)
        procs.append(
            subprocess.Popen(
                [sys.executable, str(WORKER), *own, "--", *args, *dist],
                cwd=REPO,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
    end, hung = time.monotonic() + DEADLINE, False
    try:
        while any(p.poll() is None for p in procs):
            if any(p.returncode not in (None, 0) for p in procs):
                end = min(end, time.monotonic() + 10)  # the others may never return: a short grace
            elif time.monotonic() >= end:
                hung = True
            if time.monotonic() >= end:
                break
            time.sleep(0.5)
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        for log in logs:
            log.close()
    codes = [p.returncode for p in procs]
    assert codes == [0] * world_size, (
        (f"no exit within {DEADLINE} s (hang)" if hung else f"exit codes {codes}")
        + (
            " (-9: killed after another rank failed)"
            if -signal.SIGKILL in codes and not hung
            else ""
        )
        + "\n"
        + "\n".join(tail(out, r) for r in range(world_size))
    )
    return [
        [json.loads(line) for line in (out / f"rank{r}.jsonl").read_text().splitlines()]
        for r in range(world_size)
    ]


def tail(out: Path, rank: int, lines: int = 15) -> str:
    """The end of a rank's log (without the ``[rankN]:`` prefix torch puts on tracebacks)."""
    text = (out / f"rank{rank}.log").read_text().replace(f"[rank{rank}]:", "").splitlines()
    return f"--- rank {rank} ---\n" + "\n".join(text[-lines:])


def assert_lockstep(ranks: List[List[dict]], updates: int, skipped: Sequence[int] = ()) -> None:
    """Every rank recorded updates 0..``updates`` with the same parameters at each, the
    parameters moved at every update but the ``skipped`` ones, and the ranks trained on
    different examples."""
    for r, records in enumerate(ranks):
        assert [x["update"] for x in records] == list(range(updates + 1)), f"rank {r}"
    for step in zip(*ranks):
        u = step[0]["update"]
        assert len({x["params"] for x in step}) == 1, (
            f"parameters differ after update {u}: norms {[x['norm'] for x in step]}"
        )
        assert len({x["buffers"] for x in step}) == 1, f"buffers differ after update {u}"
    moved = [u for u in range(1, updates + 1) if ranks[0][u]["params"] != ranks[0][u - 1]["params"]]
    assert moved == [u for u in range(1, updates + 1) if u not in skipped], (
        f"updates that changed the parameters: {moved}"
    )
    assert any(a["ids"] != b["ids"] for a, b in zip(*ranks[:2])), (
        "the ranks trained on the same batches"
    )


def test_two_ranks_keep_identical_parameters_after_every_update(corpus, tmp_path):
    """The recipe of ENVIRONMENT.md, every data type in every update of both ranks."""
    ranks = train(corpus, tmp_path, write_config(corpus, "all"), updates=4)
    assert_lockstep(ranks, 4)
    for records in ranks:
        assert all(x["types"] == sorted(ALL_TYPES) for x in records[1:])


@pytest.mark.slow
def test_a_rank_training_on_batches_that_lack_a_type(corpus, tmp_path):
    """Rank 1's batches lack MT while rank 0's hold it.

    The sampler never builds such a training batch (a type that runs out draws another
    round, so every update holds every present type: ``data/pipeline/batching.py``), so the worker
    withholds MT from rank 1. This is the case mu2slam_fairseq/DESIGN.md "Scale" guards against: rank 1
    computes and logs no MT term, so its gradients and logging outputs cover less than rank
    0's, and the ranks must still reduce both together, without hanging or drifting apart.
    """
    ranks = train(corpus, tmp_path, write_config(corpus, "all"), updates=4, withhold="mt")
    assert_lockstep(ranks, 4)
    assert all("mt" in x["types"] for x in ranks[0][1:])
    assert all("mt" not in x["types"] for x in ranks[1][1:])


@pytest.mark.slow
def test_validation_where_one_rank_has_a_type_the_other_lacks(corpus, tmp_path):
    """Validation batches zip each type's sub-batches until that type is exhausted, so with
    3 ASR and 8 MT validation examples (one of each per batch) batches 0-2 hold ASR and
    3-7 do not; sharded over two ranks, the second validation step gives rank 0 batch 2
    (ASR and MT) and rank 1 batch 3 (MT only). Training continues after each validation,
    with parameters still identical."""
    config = write_config(corpus, "uneven_valid", valid={"asr_nl": 3, "mt": 8})
    steps = list(zip(*valid_types(corpus, config, shards=2)))
    assert ["asr", "mt"] in steps[1] and ["mt"] in steps[1], steps
    ranks = train(corpus, tmp_path, config, updates=4, extra=["--validate-interval-updates", "2"])
    assert_lockstep(ranks, 4)
    log = (tmp_path / "rank0.log").read_text()
    assert log.count("valid on 'valid' subset") == 2, tail(tmp_path, 0)


@pytest.mark.parametrize(
    "types,world_size",
    [
        (["speech", "text", "asr", "ast"], 1),
        (["text", "mt"], 2),
    ],
    ids=["no_mt", "text_and_mt_only_two_ranks"],
)
def test_an_update_works_with_a_type_absent_from_the_config(corpus, tmp_path, types, world_size):
    """A config without some data types trains: every update holds exactly the present
    types, logs no term of the absent ones, and changes the parameters. Without any speech
    type the speech parts of the model get no gradient; with two ranks they must still be
    reduced (as zeros) and stay identical."""
    ranks = train(
        corpus,
        tmp_path,
        write_config(corpus, "_".join(types), types),
        updates=2,
        world_size=world_size,
    )
    if world_size > 1:
        assert_lockstep(ranks, 2)
    for records in ranks:
        assert [x["update"] for x in records] == [0, 1, 2]
        assert len({x["params"] for x in records}) == 3
        assert all(x["types"] == sorted(types) for x in records[1:])
    log = (tmp_path / "rank0.log").read_text()
    logged = {name.split("_")[0] for name in _terms(log)}
    assert logged == set(types), log[-3000:]


def valid_types(corpus: Path, config: str, shards: int) -> List[List[List[str]]]:
    """The data types of each validation batch of each rank, as fairseq's trainer shards them."""
    args = options.parse_args_and_arch(
        options.get_training_parser(),
        [
            str(corpus),
            "--user-dir",
            str(REPO / "mu2slam_fairseq"),
            "--data-config",
            config,
            "--task",
            "mu2slam_pretrain",
            "--criterion",
            "mu2slam",
            "--arch",
            "mu2slam_tiny",
        ],
    )
    task = tasks.setup_task(args)
    task.load_dataset("valid")
    return [
        [
            sorted(batch.get("types", {}))
            for batch in task.get_batch_iterator(
                task.dataset("valid"),
                max_tokens=4000,
                seed=1,
                num_shards=shards,
                shard_id=r,
            ).next_epoch_itr(shuffle=False)
        ]
        for r in range(shards)
    ]


def _terms(log: str) -> set:
    """Views named by the loss terms of the train_inner lines, e.g. 'asr_s2t'."""
    return {
        m
        for line in log.splitlines()
        if "train_inner" in line
        for m in re.findall(r"(\w+)/\w+_loss=", line)
    }


@pytest.mark.slow
def test_multitask_finetuning_with_a_type_missing_and_a_nonfinite_loss_on_one_rank(
    corpus, tmp_path
):
    """Gradual fine-tuning's first stage (AST + ASR + MT, shares 4:2:2) from a pre-trained
    checkpoint that every rank loads. Rank 1's batches lack MT, and at update 2 its loss is
    NaN (poisoned features): both ranks skip that update together and stay identical."""
    pretrained, expected = pretrained_checkpoint(corpus, tmp_path / "pretrained.pt")
    config = {
        **yaml.safe_load((corpus / "data.yaml").read_text()),
        "batching": {"shares": {"ast": 4, "asr": 2, "mt": 2}, "sentences_per_share": 1},
    }
    config["corpora"] = [c for c in config["corpora"] if c["type"] in ("ast", "asr", "mt")]
    (corpus / "finetune.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    ranks = train(
        corpus,
        tmp_path,
        "finetune.yaml",
        updates=3,
        withhold="mt",
        task=FINETUNE,
        nan_at=2,
        extra=["--finetune-from-model", str(pretrained), "--load-checkpoint-on-all-dp-ranks"],
    )
    assert_lockstep(ranks, 3, skipped=[2])
    assert ranks[0][0]["params"] == ranks[1][0]["params"] == expected, (
        "a rank did not start from the checkpoint"
    )
    assert all(x["types"] == ["asr", "ast", "mt"] for x in ranks[0][1:])
    assert all(x["types"] == ["asr", "ast"] for x in ranks[1][1:])
    assert f"loading pretrained model from {pretrained}" in (tmp_path / "rank0.log").read_text(), (
        tail(tmp_path, 0)
    )
    for rank in range(2):  # fairseq logs warnings only on ranks above 0
        log = (tmp_path / f"rank{rank}.log").read_text()
        assert (
            "update 2 skipped: 1 batch(es) with a non-finite loss (1 update(s) skipped so far)"
            in log
        ), tail(tmp_path, rank)


def pretrained_checkpoint(corpus: Path, path: Path):
    """A pre-training checkpoint written by fairseq's own trainer (initial weights), and the
    digest the workers compute of its parameters."""
    from fairseq.dataclass.utils import convert_namespace_to_omegaconf
    from fairseq.trainer import Trainer

    from ddp_worker import digest

    args = options.parse_args_and_arch(
        options.get_training_parser(),
        [
            str(corpus),
            "--user-dir",
            str(REPO / "mu2slam_fairseq"),
            *PRETRAIN,
            "--arch",
            "mu2slam_tiny",
            "--optimizer",
            "adam",
            "--lr",
            "1e-3",
            "--cpu",
            "--seed",
            "7",
            "--save-dir",
            str(path.parent),
        ],
    )
    cfg = convert_namespace_to_omegaconf(args)
    task = tasks.setup_task(cfg.task)
    model = task.build_model(cfg.model)
    trainer = Trainer(cfg, task, model, task.build_criterion(cfg.criterion))
    trainer.consolidate_optimizer()
    trainer.save_checkpoint(str(path), {"train_iterator": {"epoch": 1}, "val_loss": None})
    return path, digest(model.named_parameters())
