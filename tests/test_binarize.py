"""mu2slam-binarize: a binarized manifest trains exactly like its TSV, read lazily.

On the small real pre-training corpus (every pre-training data type): the same items and
batches, token ids, lengths, languages and features included; bad rows refused at
binarize time with the manifest's file and line; and a short fairseq-train run on the
binarized corpus.
"""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from fairseq import options, tasks
from fairseq.data import Dictionary

import mu2slam_fairseq  # noqa: F401  (registers the task, model and criterion)
from mu2slam_fairseq.data.pipeline.binarize import binarize, default_output, main
from mu2slam_fairseq.data.io.binarized import BinarizedManifest, is_binarized
from mu2slam_fairseq.data.io.manifest import ManifestError, read_manifest, write_manifest
from mu2slam_fairseq.data.pipeline.datasets import TextDataset
from mu2slam_fairseq.data.pipeline.examples import BinarizedExamples
from pretrain_corpus import build

REPO = Path(__file__).resolve().parents[1]
BINARIZED_CONFIG = "data_bin.yaml"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, fillets_root):
    """The pre-training corpus, plus every manifest binarized and a data config naming them."""
    base = tmp_path_factory.mktemp("binarize")
    build(base, fillets_root)
    cfg = yaml.safe_load((base / "data.yaml").read_text())
    for c in cfg["corpora"]:
        for split, manifest in c["splits"].items():
            main(
                [
                    str(base / manifest),
                    "--type",
                    c["type"],
                    "--spm",
                    str(base / "vocab/spm.model"),
                    "--dict",
                    str(base / "vocab/dict.txt"),
                ]
            )
            c["splits"][split] = default_output(base / manifest).name
    (base / BINARIZED_CONFIG).write_text(yaml.safe_dump(cfg, sort_keys=False))
    return base


def task_of(corpus: Path, config: str):
    parser = options.get_training_parser()
    args = options.parse_args_and_arch(
        parser,
        [str(corpus), "--user-dir", str(REPO / "mu2slam_fairseq"), "--task", "mu2slam_pretrain"]
        + ["--criterion", "mu2slam", "--arch", "mu2slam_tiny", "--seed", "3"]
        + ["--data-config", config],
    )
    task = tasks.setup_task(args)
    task.load_dataset("train")
    task.load_dataset("valid")
    return task


def assert_same(a, b, where="batch"):
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype, where
        assert torch.equal(a, b), where
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            assert_same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


def test_binarized_corpus_gives_the_same_items_and_batches(corpus):
    tsv, binarized = task_of(corpus, "data.yaml"), task_of(corpus, BINARIZED_CONFIG)
    for split in ("train", "valid"):
        a, b = tsv.datasets[split], binarized.datasets[split]
        assert [d.data_type for d in b.datasets] == [d.data_type for d in a.datasets]
        for da, db in zip(a.datasets, b.datasets):
            assert isinstance(db.examples, BinarizedExamples)
            assert is_binarized(corpus / default_output(da.manifest).name)
            assert db.manifest == da.manifest.resolve()  # messages name the TSV
            assert len(da) == len(db) and list(da.lang_keys) == list(db.lang_keys)
            for ea, eb in zip(da.examples, db.examples):
                for k in ("id", "line", "audio", "n_frames", "src_lang", "tgt_lang"):
                    assert getattr(ea, k) == getattr(eb, k), (da.name, ea.id, k)
                for k in ("src", "tgt"):  # token ids, identical encoding
                    x, y = getattr(ea, k), getattr(eb, k)
                    assert (x is None) == (y is None) and (x is None or np.array_equal(x, y))
        np.testing.assert_array_equal(a.sizes, b.sizes)
        np.testing.assert_array_equal(a.target_sizes, b.target_sizes)
        for i in range(len(a)):  # views: token ids, masks, languages and features
            assert_same(a.collater([a[i]]), b.collater([b[i]]), f"{split} item {i}")
        batches = [
            list(t.get_batch_iterator(t.datasets[split], max_tokens=4000, seed=3).next_epoch_itr())
            for t in (tsv, binarized)
        ]
        assert len(batches[0]) == len(batches[1]) > 0
        assert_same(batches[0], batches[1], split)
        types = {t for batch in batches[0] for t in batch["types"]}
        assert types == ({"speech", "text", "asr", "ast", "mt"} if split == "train" else {"ast"})


def test_binarized_arrays_are_memory_mapped(corpus):
    c = BinarizedManifest(corpus / "train_text-bin")
    assert isinstance(c.lang_codes("src_lang"), np.memmap)
    rows = read_manifest(corpus / "train_text.tsv")
    assert len(c) == len(rows) and c.id(0) == rows[0]["id"] and c.line(len(c) - 1) == len(rows) + 1


def bad_manifest(corpus: Path, tmp_path: Path, field: str, value: str, line: int) -> Path:
    rows = read_manifest(corpus / "train_asr_nl.tsv")
    rows[line - 2][field] = value
    write_manifest(tmp_path / "bad.tsv", rows)
    return tmp_path / "bad.tsv"


@pytest.mark.parametrize(
    "field, value, problem",
    [("n_frames", "12x", "n_frames '12x' is not a positive integer"), ("src_lang", "xx", "xx")],
)
def test_a_bad_row_names_the_manifest_and_line_at_binarize_time(
    corpus, tmp_path, field, value, problem
):
    manifest = bad_manifest(corpus, tmp_path, field, value, line=5)
    with pytest.raises(ManifestError) as e:
        binarize(
            manifest,
            "asr",
            corpus / "vocab/spm.model",
            Dictionary.load(str(corpus / "vocab/dict.txt")),
        )
    assert e.value.path == str(manifest) and e.value.line == 5 and problem in str(e.value)
    assert not default_output(manifest).exists()  # no half-written corpus left behind
    assert not list(tmp_path.glob(".*tmp"))


def test_another_dictionary_is_refused(corpus, tmp_path):
    d = Dictionary.load(str(corpus / "vocab/dict.txt"))
    d.add_symbol("<extra>")
    with pytest.raises(ValueError, match="another dictionary"):
        TextDataset(corpus / "train_text-bin", d)


@pytest.mark.slow
def test_fairseq_train_on_binarized_data(corpus, tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "fairseq_cli.train", str(corpus), "--data-config", BINARIZED_CONFIG]
        + ["--user-dir", "mu2slam_fairseq", "--task", "mu2slam_pretrain", "--criterion", "mu2slam"]
        + ["--arch", "mu2slam_tiny", "--optimizer", "adam", "--lr", "1e-3", "--max-update", "3"]
        + ["--max-tokens", "4000", "--cpu", "--save-dir", str(tmp_path / "ckpt"), "--no-save"]
        + ["--log-interval", "1", "--log-format", "simple", "--seed", "1"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    log = out.stdout + out.stderr
    assert "train_inner" in log and "num_updates=3" in log, log[-3000:]
