"""Checkpoints and speech-tokenizer files from elsewhere: loading never runs code from them,
and a truncated, empty or tampered file is an error that names it.

The tampered files carry a pickled ``os.system`` call that would create a marker file if
anything unpickled it unsafely. Entry points: resuming (fairseq's
``load_checkpoint_to_cpu``, what the trainer calls), ``--finetune-from-model`` (the
fine-tuning task's check of the checkpoint, the first thing that reads it),
``fairseq-generate --path``, and the data config's ``speech_tokenizer``.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from fairseq import checkpoint_utils, options, tasks
from fairseq.dataclass.utils import convert_namespace_to_omegaconf
from fairseq.file_io import PathManager
from fairseq.trainer import Trainer

import mu2slam_fairseq  # noqa: F401  (registers the tasks; installs the checkpoint guards)
from mu2slam_fairseq import atomic
from mu2slam_fairseq.checkpoint_safety import CheckpointFileError
from mu2slam_fairseq.speech_tokenizer import TokenizerFileError
from pretrain_corpus import build

REPO = Path(__file__).resolve().parents[1]


class RunsCode:
    """Pickles as a call of ``os.system``."""

    def __init__(self, command: str):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, fillets_root) -> Path:
    base = tmp_path_factory.mktemp("untrusted")
    build(base, fillets_root)
    return base


def parse(corpus: Path, *extra: str, task: str = "mu2slam_pretrain", criterion: str = "mu2slam"):
    return options.parse_args_and_arch(
        options.get_training_parser(),
        [
            str(corpus),
            "--user-dir",
            str(REPO / "mu2slam_fairseq"),
            "--task",
            task,
            "--criterion",
            criterion,
            "--arch",
            "mu2slam_tiny",
            "--optimizer",
            "adam",
            "--lr",
            "1e-3",
            "--cpu",
            *extra,
        ],
    )


@pytest.fixture(scope="module")
def files(corpus, tmp_path_factory):
    """{kind: path}: a real checkpoint written by fairseq's trainer, and damaged versions of it."""
    out = tmp_path_factory.mktemp("checkpoints")
    cfg = convert_namespace_to_omegaconf(parse(corpus, "--save-dir", str(out)))
    task = tasks.setup_task(cfg.task)
    trainer = Trainer(cfg, task, task.build_model(cfg.model), task.build_criterion(cfg.criterion))
    good = out / "checkpoint_last.pt"
    trainer.consolidate_optimizer()  # as fairseq's save_checkpoint does first
    trainer.save_checkpoint(str(good), {"train_iterator": {"epoch": 1}, "val_loss": None})
    data = good.read_bytes()
    paths = {
        "good": good,
        "truncated": out / "truncated.pt",
        "empty": out / "empty.pt",
        "tampered": out / "tampered.pt",
    }
    paths["truncated"].write_bytes(data[: len(data) * 2 // 3])
    paths["empty"].write_bytes(b"")
    state = torch.load(good)
    state["extra_state"]["note"] = RunsCode(f"touch {out / 'ran'}")
    torch.save(state, paths["tampered"])
    return paths


PROBLEMS = {
    "truncated": "truncated or corrupt checkpoint",
    "empty": "empty file, not a checkpoint",
    "tampered": "refused to load: it holds the global posix.system, which is not on the allow-list",
}


@pytest.mark.parametrize("kind", sorted(PROBLEMS))
def test_resuming_from_a_bad_checkpoint(files, kind):
    """What the trainer calls on --restore-file / checkpoint_last.pt."""
    assert "model" in checkpoint_utils.load_checkpoint_to_cpu(str(files["good"]))
    with pytest.raises(CheckpointFileError) as e:
        checkpoint_utils.load_checkpoint_to_cpu(str(files[kind]))
    assert str(e.value).startswith(f"{files[kind]}: {PROBLEMS[kind]}")
    assert not (files["good"].parent / "ran").exists()


@pytest.mark.parametrize("kind", sorted(PROBLEMS))
def test_finetuning_from_a_bad_checkpoint(corpus, files, kind):
    cfg = yaml.safe_load((corpus / "data.yaml").read_text())
    cfg["corpora"] = [c for c in cfg["corpora"] if c["type"] in ("asr", "ast", "mt")]
    (corpus / "ft.yaml").write_text(yaml.safe_dump(cfg))
    args = parse(
        corpus,
        "--data-config",
        "ft.yaml",
        "--finetune-from-model",
        str(files[kind]),
        task="mu2slam_finetune",
        criterion="mu2slam_seq2seq",
    )
    task = tasks.setup_task(args)
    with pytest.raises(CheckpointFileError, match=rf"^{files[kind]}: {PROBLEMS[kind]}"):
        task.build_model(args)
    assert not (files["good"].parent / "ran").exists()


def test_fairseq_generate_refuses_a_tampered_checkpoint(corpus, files):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "fairseq_cli.generate",
            str(corpus),
            "--user-dir",
            "mu2slam_fairseq",
            "--task",
            "mu2slam_pretrain",
            "--gen-subset",
            "valid",
            "--path",
            str(files["tampered"]),
            "--cpu",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode != 0
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith(
        f"mu2slam_fairseq.checkpoint_safety.CheckpointFileError: {files['tampered']}: {PROBLEMS['tampered']}"
    )
    assert not (files["good"].parent / "ran").exists()


@pytest.mark.parametrize("kind", ["tampered", "truncated"])
def test_speech_tokenizer_from_the_data_config(corpus, tmp_path, kind):
    """Training loads the data config's tokenizer file weights-only, with its own checks."""
    tok = tmp_path / "tokenizer.pt"
    if kind == "tampered":
        state = torch.load(corpus / "tokenizer.pt")
        state["kind"] = RunsCode(f"touch {tmp_path / 'ran'}")
        torch.save(state, tok)
    else:
        data = (corpus / "tokenizer.pt").read_bytes()
        tok.write_bytes(data[: len(data) // 2])
    cfg = yaml.safe_load((corpus / "data.yaml").read_text())
    cfg["speech_tokenizer"] = str(tok)
    (corpus / f"tok_{kind}.yaml").write_text(yaml.safe_dump(cfg))
    args = parse(corpus, "--data-config", f"tok_{kind}.yaml")
    task = tasks.setup_task(args)
    with pytest.raises(TokenizerFileError) as e:
        task.load_dataset("train")
    expected = (
        "holds objects other than plain tensors" if kind == "tampered" else "corrupt or truncated"
    )
    assert str(e.value).startswith(f"{tok}: ") and expected in str(e.value)
    assert not (tmp_path / "ran").exists()


def test_checkpoint_copies_are_all_or_nothing(files, tmp_path, monkeypatch):
    """fairseq copies the saved checkpoint to checkpoint_last.pt with PathManager.copy: a
    copy that dies half-way leaves the previous checkpoint_last.pt as it was."""
    last = tmp_path / "checkpoint_last.pt"
    last.write_bytes(files["good"].read_bytes())
    before = last.read_bytes()

    def dies_half_way(source, target, length=0):
        data = source.read()
        target.write(data[: len(data) // 2])
        target.flush()
        raise KeyboardInterrupt

    monkeypatch.setattr(atomic.shutil, "copyfileobj", dies_half_way)
    with pytest.raises(KeyboardInterrupt):
        PathManager.copy(str(files["truncated"]), str(last), overwrite=True)
    assert last.read_bytes() == before
    monkeypatch.undo()
    assert PathManager.copy(str(files["good"]), str(tmp_path / "copy.pt"), overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint_last.pt", "copy.pt"]
    assert "model" in checkpoint_utils.load_checkpoint_to_cpu(str(tmp_path / "copy.pt"))
