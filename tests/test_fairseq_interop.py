"""Our manifests load in fairseq's own speech_to_text task, and fairseq's load in ours."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
from fairseq import options, tasks

from mu2slam_fairseq.data.io.features import load_features
from mu2slam_fairseq.data.io.manifest import read_manifest
from mu2slam_fairseq.data.io.s2t_config import write_s2t_config
from mu2slam_fairseq.data.io.vocab import TextEncoder, build_vocab
from real_clips import st_manifest

REPO = Path(__file__).resolve().parents[1]


def test_fairseq_speech_to_text_task_reads_our_manifest(tmp_path, fillets_root):
    manifest = st_manifest(fillets_root, tmp_path, limit=4)
    d = build_vocab([manifest], tmp_path, kind="char", vocab_size=200, n_units=8)
    write_s2t_config(
        tmp_path / "config.yaml", tmp_path / "dict.txt", tmp_path / "spm.model", tmp_path
    )
    parser = options.get_training_parser()
    args = options.parse_args_and_arch(
        parser,
        [
            str(tmp_path),
            "--task",
            "speech_to_text",
            "--config-yaml",
            "config.yaml",
            "--arch",
            "s2t_transformer_s",
        ],
    )
    task = tasks.setup_task(args)
    task.load_dataset("st_nl_en_train")
    ds = task.datasets["st_nl_en_train"]
    rows = read_manifest(manifest)
    assert len(ds) == len(rows)
    enc = TextEncoder(tmp_path / "spm.model", d)
    for i, row in enumerate(rows):
        item = ds[i]
        np.testing.assert_array_equal(item.source.numpy(), load_features(row["audio"], tmp_path))
        assert ds.n_frames[i] == int(row["n_frames"]) == item.source.shape[0]
        assert item.target.tolist() == enc.encode(row["tgt_text"]) + [d.eos()]


def test_we_read_a_manifest_as_fairseqs_prep_scripts_write_it(tmp_path):
    # fairseq's prep scripts write with pandas: to_csv(sep="\t", index=False, quoting=QUOTE_NONE,
    # escapechar="\\"), columns id audio n_frames tgt_text speaker (ASR adds nothing, ST adds
    # src_text in multitask setups); features live in fbank80.zip.
    text = (
        "id\taudio\tn_frames\ttgt_text\tspeaker\n"
        'common_voice_nl_1\tfbank80.zip:12345:67890\t512\tHij zei \\"nee\\".\tclient1\n'
        "common_voice_nl_2\tfbank80.zip:80235:1280\t4\tKort\tclient2\n"
    )
    path = tmp_path / "train_st_nl_en.tsv"
    path.write_text(text, encoding="utf-8")
    rows = read_manifest(path, required=("id", "audio", "n_frames", "tgt_text"))
    assert [r["id"] for r in rows] == ["common_voice_nl_1", "common_voice_nl_2"]
    assert rows[0]["audio"] == "fbank80.zip:12345:67890" and rows[0]["n_frames"] == "512"
    assert rows[0]["tgt_text"] == 'Hij zei \\"nee\\".'  # verbatim, as fairseq itself reads it
    assert rows[1]["src_lang"] == "" and rows[1]["speaker"] == "client2"


def test_fairseq_train_help_runs_with_the_plugin():
    out = subprocess.run(
        [sys.executable, "-m", "fairseq_cli.train", "--user-dir", "mu2slam_fairseq", "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "usage: " in out.stdout and "--user-dir" in out.stdout


def test_checkpoint_globals_are_allowed_but_code_is_not(tmp_path):
    import argparse
    import os

    import mu2slam_fairseq  # noqa: F401  (installs the allow-list)

    ckpt = tmp_path / "c.pt"
    torch.save({"args": argparse.Namespace(lr=[0.1]), "loss": np.float64(1.5)}, ckpt)
    state = torch.load(ckpt)  # the default: weights_only=True
    assert state["args"].lr == [0.1] and float(state["loss"]) == 1.5

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    torch.save({"x": Evil()}, tmp_path / "evil.pt")
    try:
        torch.load(tmp_path / "evil.pt")
    except Exception as e:
        assert "Weights only load failed" in str(e) or "Unsupported global" in str(e)
    else:
        raise AssertionError("a pickled os.system call was loaded")
