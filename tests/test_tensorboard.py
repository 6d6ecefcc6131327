"""fairseq's ``--tensorboard-logdir`` shows every term the criteria log: a short pre-training
and a short fine-tuning on the small real corpus, their event files read back and compared
with the keys of fairseq's own log lines."""

import re
import struct
from pathlib import Path
from typing import Dict, Set

import pytest
from tensorboardX.proto.event_pb2 import Event

import finetune_corpus
from finetune_corpus import FINETUNE_ARGS, train
from test_pretrain import TERM_NAMES

UPDATES = ("--max-update", "20", "--log-interval", "5", "--no-save")


def scalar_tags(folder: Path) -> Set[str]:
    """The scalar tags of the event files in ``folder``. Each TFRecord is: the length
    (u64), its CRC (u32), a serialized ``Event``, its CRC (u32)."""
    tags = set()
    for path in folder.glob("events.out.tfevents.*"):
        data, i = path.read_bytes(), 0
        while i < len(data):
            (n,) = struct.unpack_from("<Q", data, i)
            event = Event.FromString(data[i + 12 : i + 12 + n])
            i += 12 + n + 4
            tags |= {v.tag for v in event.summary.value if v.WhichOneof("value") == "simple_value"}
    return tags


def logged_keys(log: str, tag: str) -> Set[str]:
    """The keys of fairseq's simple-format log lines of ``tag``: "key=value, ..." per log
    interval (train_inner), "| key value" per epoch (train) and validation (valid)."""
    keys = set()
    for line in log.splitlines():
        if f"| {tag} |" in line:
            keys |= set(re.findall(r"([\w/]+)=", line))  # train_inner
            keys |= set(re.findall(r"\| ([\w/]+) [\d.]", line))  # train, valid
    return keys - {"epoch", "num_updates"}


def assert_tensorboard_matches_log(log: str, logdir: Path) -> Dict[str, Set[str]]:
    """TensorBoard's train_inner, train and valid scalars are exactly the keys of the log."""
    tags = {tag: scalar_tags(logdir / tag) for tag in ("train_inner", "train", "valid")}
    for tag, seen in tags.items():
        keys = logged_keys(log, tag)
        assert keys and keys == seen, (
            f"{tag}: log only {keys - seen}, TensorBoard only {seen - keys}"
        )
    return tags


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, fillets_root) -> Path:
    return finetune_corpus.corpus(tmp_path_factory, fillets_root)


@pytest.mark.slow
def test_pretraining_terms_and_validation_in_tensorboard(corpus, tmp_path):
    out = train(
        corpus,
        tmp_path / "ckpt",
        *("--task", "mu2slam_pretrain", "--criterion", "mu2slam", "--arch", "mu2slam_tiny"),
        *("--optimizer", "adam", "--lr", "1e-3", "--max-tokens", "4000"),
        *UPDATES,
        *("--tensorboard-logdir", str(tmp_path / "tb")),
    )
    tags = assert_tensorboard_matches_log(out.stdout + out.stderr, tmp_path / "tb")
    terms = {f"{t}_loss" for t in TERM_NAMES} | {
        f"{t}_acc" for t in TERM_NAMES if not t.endswith("/ctc")
    }
    assert terms <= tags["train_inner"] and terms <= tags["train"]
    # the data config has a valid split for AST only
    assert {"loss", "ast_s2t/dec_loss", "ast_align/mlm_acc"} <= tags["valid"]


@pytest.mark.slow
def test_finetuning_terms_and_scores_in_tensorboard(corpus, tmp_path):
    out = train(
        corpus,
        tmp_path / "ckpt",
        *FINETUNE_ARGS,
        *UPDATES,
        *("--ctc-weight", "0.3", "--eval-bleu", "--eval-wer"),
        *("--eval-gen-args", '{"beam": 1, "max_len_b": 12}'),
        *("--tensorboard-logdir", str(tmp_path / "tb")),
    )
    tags = assert_tensorboard_matches_log(out.stdout + out.stderr, tmp_path / "tb")
    terms = {"loss", "nll_loss", "ppl", "asr_s2t/ctc_loss"} | {
        f"{t}/dec_{m}" for t in ("asr_s2t", "ast_s2t", "mt_fwd") for m in ("loss", "acc")
    }
    assert terms <= tags["train_inner"] and terms <= tags["train"]
    assert terms | {"bleu", "ast_bleu", "mt_bleu", "wer", "cer"} <= tags["valid"]
