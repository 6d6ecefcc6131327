"""Fine-tuning fixtures: the small real pre-training corpus, a short pre-training run on it,
and a fine-tuning data config (nl->en AST, nl ASR, de/fr->en MT) over the same vocabulary.

Built once per test session (module-level cache), whichever test module asks first.
"""

import subprocess
import sys
from pathlib import Path
from typing import Dict

import yaml

from mu2slam_fairseq.data.io.manifest import read_manifest, write_manifest
from pretrain_corpus import build

REPO = Path(__file__).resolve().parents[1]
_CACHE: Dict[str, Path] = {}

FINETUNE_CONFIG = {
    "vocab": {"dict": "vocab/dict.txt", "spm": "vocab/spm.model"},
    "batching": {"shares": {"ast": 4, "asr": 2, "mt": 2}, "sentences_per_share": 1},
    "corpora": [
        {
            "name": "st_nl_en",
            "type": "ast",
            "splits": {
                "train": "train_st_nl_en.tsv",
                "valid": "valid_st_nl_en.tsv",
                "test": "test_st_nl_en.tsv",
            },
        },
        {
            "name": "asr_nl",
            "type": "asr",
            "splits": {
                "train": "train_asr_nl.tsv",
                "valid": "valid_asr_nl.tsv",
                "test": "test_asr_nl.tsv",
            },
        },
        {"name": "mt", "type": "mt", "splits": {"train": "train_mt.tsv", "valid": "valid_mt.tsv"}},
    ],
}


def corpus(tmp_path_factory, fillets_root: Path) -> Path:
    """The pre-training corpus plus fine-tuning splits and ``finetune.yaml``; returns its folder."""
    if "corpus" not in _CACHE:
        base = tmp_path_factory.mktemp("finetune")
        build(base, fillets_root)
        st = read_manifest(base / "train_st_nl_en.tsv")
        asr = read_manifest(base / "train_asr_nl.tsv")
        mt = read_manifest(base / "train_mt.tsv")
        write_manifest(base / "test_st_nl_en.tsv", st[4:10])
        write_manifest(base / "valid_asr_nl.tsv", asr[:4])
        write_manifest(base / "test_asr_nl.tsv", asr[4:10])
        write_manifest(base / "valid_mt.tsv", mt[:6])
        (base / "finetune.yaml").write_text(yaml.safe_dump(FINETUNE_CONFIG, sort_keys=False))
        _CACHE["corpus"] = base
    return _CACHE["corpus"]


def train(
    data: Path, save_dir: Path, *args: str, timeout: int = 600, cpu: bool = True
) -> subprocess.CompletedProcess:
    """``python -m fairseq_cli.train DATA --user-dir mu2slam_fairseq ... --cpu`` (without
    ``--cpu`` when ``cpu`` is False: on the GPU); fails the test on error.

    The log (fairseq writes it to stdout or stderr, depending on who set logging up first)
    is ``out.stdout + out.stderr``."""
    cmd = [
        sys.executable,
        "-m",
        "fairseq_cli.train",
        str(data),
        "--user-dir",
        "mu2slam_fairseq",
        *(["--cpu"] if cpu else []),
        "--save-dir",
        str(save_dir),
        "--log-format",
        "simple",
        "--log-interval",
        "1",
        "--seed",
        "1",
        *args,
    ]
    out = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, out.stderr[-4000:]
    return out


def pretrained(tmp_path_factory, fillets_root: Path) -> Path:
    """checkpoint_last.pt of a few mu2slam_pretrain updates on the corpus."""
    if "pretrained" not in _CACHE:
        data = corpus(tmp_path_factory, fillets_root)
        save = tmp_path_factory.mktemp("pretrained")
        train(
            data,
            save,
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
            "--max-update",
            "2",
            "--max-tokens",
            "3000",
            "--disable-validation",
            "--no-epoch-checkpoints",
        )
        _CACHE["pretrained"] = save / "checkpoint_last.pt"
    return _CACHE["pretrained"]


NOISY_UPDATES = 2


def finetuned(tmp_path_factory, fillets_root: Path) -> Path:
    """checkpoint_best.pt of a short noisy multi-task fine-tuning of ``pretrained``, selected by BLEU."""
    if "finetuned" not in _CACHE:
        data = corpus(tmp_path_factory, fillets_root)
        config = {
            **FINETUNE_CONFIG,
            "specaugment": {
                "freq_mask_N": 1,
                "freq_mask_F": 10,
                "time_mask_N": 1,
                "time_mask_T": 20,
                "time_mask_p": 1.0,
            },
        }
        config["batching"] = {**config["batching"], "updates_per_epoch": NOISY_UPDATES}
        (data / "noisy.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        save = tmp_path_factory.mktemp("finetuned")
        out = train(
            data,
            save,
            *FINETUNE_ARGS,
            "--data-config",
            "noisy.yaml",
            "--finetune-from-model",
            str(pretrained(tmp_path_factory, fillets_root)),
            "--max-update",
            str(NOISY_UPDATES),
            "--synonym-noise",
            "0.06",
            "--eval-bleu",
            "--eval-wer",
            "--eval-gen-args",
            '{"beam": 1, "max_len_b": 12}',
            "--best-checkpoint-metric",
            "bleu",
            "--maximize-best-checkpoint-metric",
            "--no-epoch-checkpoints",
        )
        _CACHE["finetuned"] = save / "checkpoint_best.pt"
        _CACHE["finetune_log"] = out.stdout + out.stderr
    return _CACHE["finetuned"]


def finetune_log() -> str:
    return _CACHE["finetune_log"]


FINETUNE_ARGS = (
    "--data-config",
    "finetune.yaml",
    "--task",
    "mu2slam_finetune",
    "--criterion",
    "mu2slam_seq2seq",
    "--arch",
    "mu2slam_tiny",
    "--optimizer",
    "adam",
    "--lr",
    "1e-3",
    "--max-tokens",
    "4000",
)
