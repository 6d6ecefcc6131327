"""Sharded corpora: one shard per epoch, temperature and shares across shards, resuming in
the right shard, and two data-parallel ranks on a sharded, binarized corpus.

``mu2slam-binarize --shards N`` deals each language's rows round-robin over N shards; a
data config names the shards as one split (the folder, ``a:b``, or a list), and epoch e
reads shard (e - 1) mod N.
"""

import json
import math
from collections import Counter
from pathlib import Path
from typing import Dict, List

import pytest
import yaml
from fairseq.data import Dictionary

from mu2slam_fairseq.data.io.binarized import BinarizedManifest
from mu2slam_fairseq.data.io.manifest import read_manifest, write_manifest
from mu2slam_fairseq.data.pipeline.batching import build_batch_sampler
from mu2slam_fairseq.data.pipeline.binarize import binarize, main
from mu2slam_fairseq.data.pipeline.data_config import (
    PAPER_SHARES,
    DataConfigError,
    load_data_config,
)
from mu2slam_fairseq.data.pipeline.multitype import build_dataset
from mu2slam_fairseq.data.pipeline.sampling import Group, group_probabilities
from pretrain_corpus import build
from pretrain_data import MT_COUNTS, TEXT_COUNTS, build_corpus, formula
from test_distributed import assert_lockstep, train


# ---- binarized shards --------------------------------------------------------------


@pytest.fixture(scope="module")
def binarized(tmp_path_factory, fillets_root):
    """The pre-training corpus (text: 40 de + 40 fr lines; MT: 30 + 30 pairs) with text in
    4 binarized shards, MT in 2, and a data config of text and MT naming them."""
    base = tmp_path_factory.mktemp("shards")
    build(base, fillets_root)
    vocab = ["--spm", str(base / "vocab/spm.model"), "--dict", str(base / "vocab/dict.txt")]
    main([str(base / "train_text.tsv"), "--type", "text", "--shards", "4", *vocab])
    main([str(base / "train_mt.tsv"), "--type", "mt", "--shards", "2", *vocab])
    cfg = yaml.safe_load((base / "data.yaml").read_text())
    cfg["corpora"] = [c for c in cfg["corpora"] if c["type"] in ("text", "mt")]
    cfg["corpora"][0]["splits"]["train"] = "train_text-bin"  # the folder: its shards.json
    cfg["corpora"][1]["splits"]["train"] = "train_mt-bin/shard0:train_mt-bin/shard1"
    cfg["batching"]["updates_per_epoch"] = 4
    (base / "sharded.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    return base


def test_binarize_deals_each_language_round_robin_over_the_shards(binarized):
    folder = binarized / "train_text-bin"
    assert json.loads((folder / "shards.json").read_text())["shards"] == [
        f"shard{k}" for k in range(4)
    ]
    rows = read_manifest(binarized / "train_text.tsv")
    line_of = {r["id"]: i + 2 for i, r in enumerate(rows)}
    seen = []
    for k in range(4):
        shard = BinarizedManifest(folder / f"shard{k}")
        ids = [shard.id(i) for i in range(len(shard))]
        # every shard: 10 of the 40 de lines and 10 of the 40 fr, in manifest order
        assert Counter(shard.lang("src_lang", i) for i in range(len(shard))) == {"de": 10, "fr": 10}
        assert [shard.line(i) for i in range(len(shard))] == sorted(line_of[i] for i in ids)
        assert shard.manifest == (binarized / "train_text.tsv").resolve()  # messages name the TSV
        # de (the first language seen) is dealt from shard 0, fr from shard 1
        assert set(ids) == {f"de{i}" for i in range(k, 40, 4)} | {
            f"fr{i}" for i in range((k - 1) % 4, 40, 4)
        }
        seen += ids
    assert sorted(seen) == sorted(line_of)  # every row once, in exactly one shard
    assert not list(binarized.glob(".*tmp"))


def test_a_split_names_its_shards_three_ways(binarized):
    cfg = load_data_config(binarized / "sharded.yaml")
    text, mt = cfg.corpora
    assert text.splits["train"] == tuple(
        binarized / "train_text-bin" / f"shard{k}" for k in range(4)
    )
    assert mt.splits["train"] == tuple(binarized / "train_mt-bin" / f"shard{k}" for k in range(2))
    assert [text.shard("train", e).name for e in range(1, 7)] == [
        "shard0",
        "shard1",
        "shard2",
        "shard3",
        "shard0",
        "shard1",
    ]
    assert [mt.shard("train", e).name for e in (1, 2, 3)] == ["shard0", "shard1", "shard0"]
    assert cfg.sharded("train")
    raw = yaml.safe_load((binarized / "sharded.yaml").read_text())
    raw["corpora"][1]["splits"]["train"] = ["train_mt-bin/shard0", "train_mt-bin/shard1"]
    (binarized / "listed.yaml").write_text(yaml.safe_dump(raw))
    assert load_data_config(binarized / "listed.yaml").corpora[1].splits == mt.splits
    raw["corpora"][1]["splits"]["train"] = "train_mt-bin/shard0:train_mt-bin/shard9"
    (binarized / "missing.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(DataConfigError) as e:
        load_data_config(binarized / "missing.yaml")
    assert str(e.value) == (
        f"{binarized / 'missing.yaml'}: corpora[1] (mt).splits.train[1]: "
        f"file {binarized / 'train_mt-bin/shard9'} does not exist"
    )


def test_a_failing_sharded_binarization_leaves_the_old_folder_whole(binarized, tmp_path):
    rows = read_manifest(binarized / "train_text.tsv")
    rows[30]["src_lang"] = "xx"  # no tag in the dictionary: refused at line 32
    write_manifest(tmp_path / "bad.tsv", rows)
    d = Dictionary.load(str(binarized / "vocab/dict.txt"))
    out = tmp_path / "out-bin"
    binarize(binarized / "train_text.tsv", "text", binarized / "vocab/spm.model", d, out, shards=2)
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    with pytest.raises(ValueError, match=r"bad.tsv:32: .*'xx'"):
        binarize(tmp_path / "bad.tsv", "text", binarized / "vocab/spm.model", d, out, shards=3)
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


# ---- temperature and shares across shards -------------------------------------------


@pytest.fixture(scope="module")
def tsv_shards(tmp_path_factory, fillets_root):
    """The skewed text (240 de : 60 fr : 15 cs) in 3 TSV shards and MT (120 : 30 : 10) in 2,
    each language dealt round-robin, and a config with every type (speech, ASR, AST whole)."""
    corpus = build_corpus(tmp_path_factory.mktemp("corpus"), fillets_root)
    base = corpus["base"]
    names = {}
    for t, n in (("text", 3), ("mt", 2)):
        rows = read_manifest(corpus["paths"][t])
        by_lang: Dict[str, List[dict]] = {}
        for r in rows:
            by_lang.setdefault(r["src_lang"], []).append(r)
        names[t] = []
        for k in range(n):
            write_manifest(
                base / f"{t}_shard{k}.tsv", [r for rs in by_lang.values() for r in rs[k::n]]
            )
            names[t].append(f"{t}_shard{k}.tsv")
    cfg = {
        "vocab": {"dict": "dict.txt"},
        "batching": {"shares": dict(PAPER_SHARES), "sentences_per_share": 1},
        "corpora": [
            {
                "name": t,
                "type": t,
                "splits": {"train": ":".join(names[t]) if t in names else corpus["paths"][t].name},
            }
            for t in ("speech", "text", "asr", "ast", "mt")
        ],
    }
    (base / "tsv_shards.yaml").write_text(yaml.safe_dump(cfg))
    return corpus, load_data_config(base / "tsv_shards.yaml")


def epoch_dataset(corpus, cfg, epoch: int):
    return build_dataset(
        cfg,
        "train",
        corpus["dict"],
        corpus["encode"],
        seed=5,
        units_for_features=corpus["quantize"],
        epoch=epoch,
    )


def test_temperature_and_shares_hold_across_shards(tsv_shards):
    """Over 30 epochs (10 passes over the 3 text shards, 15 over the 2 MT shards) the
    languages follow the temperature formula of the whole corpora's counts, every update
    holds every type in its share, and epoch e reads only shard (e - 1) mod n."""
    corpus, cfg = tsv_shards
    seen = {"text": Counter(), "mt": Counter()}
    for epoch in range(1, 31):
        data = epoch_dataset(corpus, cfg, epoch)
        sources = {d.data_type: d.manifest.name for d in data.datasets}
        assert sources["text"] == f"text_shard{(epoch - 1) % 3}.tsv"
        assert sources["mt"] == f"mt_shard{(epoch - 1) % 2}.tsv"
        for batch in build_batch_sampler(cfg, data, seed=5)(data, epoch):
            assert Counter(data.type_of(i) for i in batch) == PAPER_SHARES
            for i in batch:
                d, row = data.locate(i)
                if d.data_type in seen:
                    seen[d.data_type][d.lang_keys[row]] += 1
    for t, counts, T, key in (
        ("text", TEXT_COUNTS, 3.0, lambda k: k),
        ("mt", MT_COUNTS, 2.0, lambda k: f"{k}-en"),
    ):
        n = sum(seen[t].values())
        for lang, p in formula(counts, T).items():  # binomial bounds: 4.5 standard deviations
            assert abs(seen[t][key(lang)] - n * p) <= 4.5 * math.sqrt(n * p * (1 - p)), (t, seen)
    assert seen["text"]["cs"] / sum(seen["text"].values()) > 0.15  # the skew corrected


def test_a_sharded_corpus_weighs_all_its_shards():
    """Two text corpora of one type mix by whole size: a shard of 25 rows of a corpus in 4
    shards weighs as much as an unsharded corpus of 100."""
    a = [Group("a", "de", list(range(25)))]
    b = [Group("b", "de", list(range(25, 125)))]
    assert list(group_probabilities(a + b, {}, {"a": 4})) == [0.5, 0.5]
    assert list(group_probabilities(a + b, {})) == [0.2, 0.8]


# ---- fairseq-train over shards ------------------------------------------------------


def sources(record: dict) -> set:
    """The manifests or shards (``train_text-bin/shard0``) of a record's examples."""
    return {r.rsplit(":", 1)[0] for r in record["rows"]}


def epoch_shards(epoch: int) -> set:
    """What epoch ``epoch`` reads: text shard (e - 1) mod 4 and MT shard (e - 1) mod 2."""
    return {f"train_text-bin/shard{(epoch - 1) % 4}", f"train_mt-bin/shard{(epoch - 1) % 2}"}


def shard_rows(base: Path, name: str, k: int) -> set:
    shard = BinarizedManifest(base / f"train_{name}-bin" / f"shard{k}")
    return {f"train_{name}-bin/shard{k}:{shard.id(i)}" for i in range(len(shard))}


@pytest.mark.slow
def test_training_reads_one_shard_per_epoch_and_resumes_in_its_shard(binarized, tmp_path):
    """4 updates per epoch: 12 updates are 3 epochs over text shards 0, 1, 2 (MT: 0, 1, 0).
    A run stopped at update 6 (mid-epoch 2) and resumed from its checkpoint trains updates
    7-12 on exactly the rows of an uninterrupted run, in the same shards."""
    whole = train(binarized, tmp_path / "whole", "sharded.yaml", updates=12, world_size=1)[0]
    assert [x["epoch"] for x in whole[1:]] == [1] * 4 + [2] * 4 + [3] * 4
    for x in whole[1:]:
        assert sources(x) == epoch_shards(x["epoch"]), x["update"]
        text = {r for r in x["rows"] if r.startswith("train_text")}
        assert text and text <= shard_rows(binarized, "text", (x["epoch"] - 1) % 4)
    run = tmp_path / "resumed"
    first = train(binarized, run, "sharded.yaml", updates=6, world_size=1, save=True)[0]
    resumed = train(binarized, run, "sharded.yaml", updates=12, world_size=1, save=True)[0]
    assert [x["update"] for x in resumed] == list(range(6, 13))
    assert resumed[0]["params"] == first[-1]["params"]  # it started from the checkpoint
    assert [x["rows"] for x in first[1:]] == [x["rows"] for x in whole[1:7]]
    assert [(x["epoch"], x["rows"]) for x in resumed[1:]] == [
        (x["epoch"], x["rows"]) for x in whole[7:]
    ]


@pytest.mark.slow
def test_two_ranks_on_a_sharded_binarized_corpus(binarized, tmp_path):
    """Two gloo ranks, 2 updates per epoch each (the epoch's 4 batches split between
    them), 4 updates: epochs 1 and 2 on their shards, identical parameters after every
    update, and no draw on both ranks within an epoch (a draw is an example with its
    masks; temperature may draw a line twice, and the two draws may fall on either rank)."""
    ranks = train(binarized, tmp_path, "sharded.yaml", updates=4)
    assert_lockstep(ranks, 4)
    for records in ranks:
        assert [x["epoch"] for x in records[1:]] == [1, 1, 2, 2]
        for x in records[1:]:
            assert sources(x) == epoch_shards(x["epoch"]), x["update"]
    for epoch in (1, 2):
        draws = [[i for x in rs[1:] if x["epoch"] == epoch for i in x["ids"]] for rs in ranks]
        assert len(draws[0]) == len(draws[1]) == 2 * 5  # 4 text lines and 1 MT pair per update
        assert len(set(draws[0] + draws[1])) == 20, epoch
