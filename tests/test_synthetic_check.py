"""mu2slam-prep-synthetic-check: each split's own sentences, one espeak-ng voice, valid features."""

import shutil

import pytest

from mu2slam_fairseq.data.io.features import load_features
from mu2slam_fairseq.data.io.manifest import read_manifest, write_manifest
from mu2slam_manifests.synthetic_check import main

pytestmark = pytest.mark.skipif(
    shutil.which("espeak-ng") is None, reason="espeak-ng is installed by examples/install.sh"
)

SENTENCES = {
    "train": ["Wat is dit voor raar schip?", "Dat is een vis."],
    "dev": ["Kijk eens hier."],
    "test": ["Waar is de sleutel?", "Ik weet het niet."],
}


def test_each_split_reads_out_its_own_sentences(tmp_path):
    corpus, out = tmp_path / "corpus", tmp_path / "synth"
    for split, texts in SENTENCES.items():
        write_manifest(
            corpus / f"{split}_asr_nl.tsv",
            [
                {
                    "id": f"nl/l/{split}{i}",
                    "audio": "x.zip:0:1",
                    "n_frames": "1",
                    "src_text": t,
                    "tgt_text": t,
                    "src_lang": "nl",
                    "tgt_lang": "nl",
                    "speaker": "m",
                }
                for i, t in enumerate(texts)
            ],
        )
    assert main(["--corpus", str(corpus), "--out", str(out), "--no-progress"]) == 0
    for split, texts in SENTENCES.items():
        rows = read_manifest(out / f"{split}_asr_nl.tsv")
        assert [r["src_text"] for r in rows] == texts and all(
            r["id"].startswith("synth/nl/l/") for r in rows
        )
        assert {r["speaker"] for r in rows} == {"espeak-nl"}
        for r in rows:
            feats = load_features(r["audio"], out)
            assert feats.shape == (int(r["n_frames"]), 80) and feats.shape[0] > 50


def test_missing_split_is_a_clear_error(tmp_path, capsys):
    assert main(["--corpus", str(tmp_path), "--out", str(tmp_path / "o"), "--no-progress"]) == 1
    assert "train_asr_nl.tsv: no such manifest" in capsys.readouterr().err
