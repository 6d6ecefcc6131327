"""Data config, the combined dataset and the per-update multi-type batch sampler."""

from collections import Counter

import numpy as np
import pytest
import torch
import yaml

from mu2slam_fairseq.data.pipeline.batching import (
    TypeBudget,
    build_batch_sampler,
    epoch_batch_iterator,
    type_budgets,
)
from mu2slam_fairseq.data.pipeline.multitype import build_dataset
from mu2slam_fairseq.data.pipeline.data_config import (
    PAPER_SHARES,
    BatchingConfig,
    DataConfigError,
    load_data_config,
)
from pretrain_data import build_corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, fillets_root):
    return build_corpus(tmp_path_factory.mktemp("corpus"), fillets_root)


def write_config(
    corpus, name, types=("speech", "text", "asr", "ast", "mt"), batching=None, **extra
):
    base = corpus["base"]
    cfg = {
        "vocab": {"dict": "dict.txt"},
        "masking": {"speech_ratio": 0.5, "speech_span": 10, "text_ratio": 0.5, "mt_ratio": 0.25},
        "batching": batching
        if batching is not None
        else {"shares": dict(PAPER_SHARES), "sentences_per_share": 1},
        "corpora": [
            {"name": f"{t}_corpus", "type": t, "splits": {"train": corpus["paths"][t].name}}
            for t in types
        ],
        **extra,
    }
    path = base / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return path


def load(corpus, path, seed=1):
    cfg = load_data_config(path)
    data = build_dataset(
        cfg,
        "train",
        corpus["dict"],
        corpus["encode"],
        seed=seed,
        units_for_features=corpus["quantize"],
    )
    return cfg, data


def types_of(data, batch):
    return Counter(data.type_of(i) for i in batch)


def test_config_loads_with_defaults_and_relative_paths(corpus):
    cfg = load_data_config(write_config(corpus, "full"))
    assert cfg.vocab.dict == corpus["base"] / "dict.txt" and cfg.vocab.spm is None
    assert [c.type for c in cfg.corpora] == ["speech", "text", "asr", "ast", "mt"]
    assert {c.type: c.temperature for c in cfg.corpora} == {
        "speech": 1.0,
        "text": 3.0,
        "asr": 1.0,
        "ast": 1.0,
        "mt": 2.0,
    }
    assert cfg.corpora[0].splits["train"] == (corpus["paths"]["speech"],)
    assert (
        cfg.types_for("train") == ["speech", "text", "asr", "ast", "mt"]
        and cfg.types_for("valid") == []
    )
    assert cfg.masking.mt_ratio == 0.25 and cfg.batching.shares == PAPER_SHARES


@pytest.mark.parametrize(
    "edit, key",
    [
        (lambda c: c.update(corpus_list=[]), "corpus_list"),
        (lambda c: c["corpora"][1].update(type="audio"), "corpora[1] (text_corpus).type"),
        (
            lambda c: c["corpora"][0]["splits"].update(train="missing.tsv"),
            "corpora[0] (speech_corpus).splits.train",
        ),
        (lambda c: c["batching"]["shares"].update(video=2), "batching.shares.video"),
        (lambda c: c["batching"].update(max_tokens="lots"), "batching.max_tokens"),
        (lambda c: c["masking"].update(text_ratio=2.0), "masking"),
        (lambda c: c["vocab"].pop("dict"), "vocab.dict"),
        (
            lambda c: c["corpora"][4].update(views=["mt_fwd", "asr_s2t"]),
            "corpora[4] (mt_corpus).views",
        ),
        (lambda c: c["corpora"].append(dict(c["corpora"][0])), "corpora[5] (speech_corpus).name"),
    ],
)
def test_config_errors_name_file_and_key(corpus, edit, key):
    path = write_config(corpus, "bad")
    raw = yaml.safe_load(path.read_text())
    edit(raw)
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(DataConfigError) as e:
        load_data_config(path)
    assert str(e.value).startswith(f"{path}: {key}:"), str(e.value)


def test_budgets_from_shares():
    b = BatchingConfig(max_tokens=1500)
    got = type_budgets(b, ["speech", "text", "mt"])  # shares 4 : 8 : 1 of the present types
    assert {t: g.max_tokens for t, g in got.items()} == {"speech": 461, "text": 923, "mt": 115}
    assert all(g.max_sentences is None for g in got.values())
    got = type_budgets(
        BatchingConfig(sentences_per_share=2, max_tokens_per_type={"asr": 300}), ["asr", "text"]
    )
    assert got["asr"] == TypeBudget(300, 2) and got["text"] == TypeBudget(None, 16)
    assert type_budgets(BatchingConfig(), ["ast"])["ast"] == TypeBudget(
        None, 1
    )  # the paper's per-device counts


def test_sentence_budget_splits_by_share():
    """fairseq's --batch-size counts examples per update, split 4 : 2 : 2 like the tokens;
    a type's own cap in the config still wins, and it overrides sentences_per_share."""
    b = BatchingConfig(shares={"ast": 4, "asr": 2, "mt": 2}, sentences_per_share=1)
    got = type_budgets(b, ["ast", "asr", "mt"], max_tokens=12000, max_sentences=32)
    assert got == {
        "ast": TypeBudget(6000, 16),
        "asr": TypeBudget(3000, 8),
        "mt": TypeBudget(3000, 8),
    }
    b.max_sentences_per_type = {"mt": 30}
    assert type_budgets(b, ["ast", "mt"], max_sentences=18) == {
        "ast": TypeBudget(None, 12),
        "mt": TypeBudget(None, 30),
    }


def test_every_update_holds_every_type_in_its_share(corpus):
    cfg, data = load(corpus, write_config(corpus, "shares"))
    sampler = build_batch_sampler(cfg, data, seed=1)
    batches = sampler(data, 1)
    assert len(batches) == 160  # the longest type, MT (160 pairs, 1 per update), is seen once
    for batch in batches:  # every update: every type, in exactly its share
        assert types_of(data, batch) == PAPER_SHARES
    # the smaller corpora cycled: the 315 text lines 4 times, the 10 utterances 64 times
    text = Counter(int(i) % len(data) for b in batches for i in b if data.type_of(i) == "text")
    assert len(text) == 315 and sum(text.values()) == 8 * 160


def test_token_budgets_bucket_each_type(corpus):
    cfg, data = load(
        corpus,
        write_config(
            corpus, "tokens", batching={"max_tokens": 3000, "max_tokens_per_type": {"mt": 400}}
        ),
    )
    budgets = type_budgets(cfg.batching, data.types)
    sampler = build_batch_sampler(cfg, data, seed=2)
    padded = Counter()
    for batch in sampler(data, 1):
        by_type = {}
        for i in batch:
            by_type.setdefault(data.type_of(i), []).append(data.num_tokens(i))
        assert set(by_type) == set(data.types)
        for t, sizes in by_type.items():
            assert max(sizes) * len(sizes) <= budgets[t].max_tokens
            padded[t] += max(sizes) * len(sizes)
    # each type fills most of its own budget on average (length bucketing keeps padding low)
    n = len(sampler(data, 1))
    for t in data.types:
        assert padded[t] / n > 0.5 * budgets[t].max_tokens, (t, padded[t] / n, budgets[t])


def test_absent_type_is_simply_absent(corpus):
    cfg, data = load(corpus, write_config(corpus, "no_mt_no_ast", types=("speech", "text", "asr")))
    assert data.types == ["speech", "text", "asr"]
    batches = build_batch_sampler(cfg, data)(data, 1)
    assert all(set(types_of(data, b)) == {"speech", "text", "asr"} for b in batches)
    sample = data.collater([data[i] for i in batches[0]])
    assert [v["name"] for v in sample["views"]] == [
        "speech_u",
        "text_u",
        "asr_s2t",
        "asr_t2s",
        "asr_align",
    ]
    assert sample["types"] == {"speech": 4, "text": 8, "asr": 1}


def test_exhausted_corpus_cycles_with_fresh_masks(corpus):
    cfg, data = load(corpus, write_config(corpus, "cycle", types=("text", "asr")))
    batches = build_batch_sampler(cfg, data)(data, 1)
    asr = [int(i) for b in batches for i in b if data.type_of(i) == "asr"]
    n_asr = len(data.positions("asr"))
    assert (
        len(batches) == 40 and len(asr) == 40 > n_asr
    )  # 10 utterances, one per update, cycled 4 times
    rows = Counter(i % len(data) for i in asr)
    assert (
        set(rows) == set(int(p) for p in data.positions("asr"))
        and max(rows.values()) - min(rows.values()) <= 1
    )
    assert len(set(asr)) == len(asr)  # every draw has its own virtual index ...
    row = asr[0] % len(data)
    draws = [i for i in asr if i % len(data) == row]
    masks = [data[i]["views"]["asr_s2t"].source.speech_mask for i in draws]
    assert not all(torch.equal(masks[0], m) for m in masks[1:])  # ... hence its own masks


def test_fairseq_epoch_iterator_shards_and_epochs(corpus):
    batching = {"shares": dict(PAPER_SHARES), "sentences_per_share": 1, "updates_per_epoch": 9}
    cfg, data = load(
        corpus, write_config(corpus, "iterator", types=("speech", "text", "mt"), batching=batching)
    )
    sampler = build_batch_sampler(cfg, data, seed=7)
    its = [
        epoch_batch_iterator(data, sampler, seed=7, num_shards=2, shard_id=r, epoch=1)
        for r in range(2)
    ]
    first = [list(it.next_epoch_itr(shuffle=True)) for it in its]
    # 9 updates rounded up to 10 so that both ranks get 5 full batches, none empty
    assert len(first[0]) == len(first[1]) == 5 and len(sampler(data, 1)) == 10
    for sample in first[0] + first[1]:
        assert sample["types"] == {"speech": 4, "text": 8, "mt": 1}
        assert [v["name"] for v in sample["views"]] == [
            "speech_u",
            "text_u",
            "mt_fwd",
            "mt_bwd",
            "mt_align",
        ]
    ids0 = {int(i) for s in first[0] for v in s["views"] for i in v["id"]}
    ids1 = {int(i) for s in first[1] for v in s["views"] for i in v["id"]}
    assert not ids0 & ids1  # the ranks see different updates
    second = list(its[0].next_epoch_itr(shuffle=True))
    assert its[0].epoch == 2
    assert [s["views"][1]["id"].tolist() for s in second] != [
        s["views"][1]["id"].tolist() for s in first[0]
    ]
    # the same seed and epoch rebuild the same epoch (resumption, and agreement across ranks)
    again = build_batch_sampler(cfg, data, seed=7, num_shards=2)
    assert all(np.array_equal(a, b) for a, b in zip(again(data, 1), sampler(data, 1)))


def test_validation_sees_every_example_once(corpus):
    cfg, data = load(corpus, write_config(corpus, "valid", types=("text", "asr", "mt")))
    sampler = build_batch_sampler(cfg, data, train=False)
    batches = sampler(data, 1)
    seen = Counter(int(i) for b in batches for i in b)
    assert sorted(seen) == list(range(len(data))) and set(seen.values()) == {1}
    assert set(types_of(data, batches[0])) == {"text", "asr", "mt"}
    assert set(types_of(data, batches[-1])) == {"mt"}  # the shorter types have run out
    assert all(np.array_equal(a, b) for a, b in zip(batches, sampler(data, 3)))


def test_global_cmvn_normalises_model_input_not_units(corpus):
    from mu2slam_fairseq.data.io.cmvn import global_cmvn, save_cmvn
    from mu2slam_fairseq.data.io.features import load_features

    mean, std = global_cmvn([corpus["paths"]["asr"]])
    save_cmvn(corpus["base"] / "cmvn.npz", mean, std)
    plain_cfg, plain = load(corpus, write_config(corpus, "plain", types=("asr",)))
    cfg, data = load(
        corpus, write_config(corpus, "cmvn", types=("asr",), features={"global_cmvn": "cmvn.npz"})
    )
    assert cfg.features.global_cmvn == corpus["base"] / "cmvn.npz"
    item, raw_item = data[0]["views"]["asr_s2t"], plain[0]["views"]["asr_s2t"]
    raw = torch.from_numpy(load_features(data.datasets[0].examples[0].audio, corpus["base"]))
    assert torch.allclose(
        item.source.speech, (raw - torch.from_numpy(mean)) / torch.from_numpy(std), atol=1e-5
    )
    assert torch.equal(
        item.source.speech_units, raw_item.source.speech_units
    )  # the tokenizer sees raw features


def test_corpus_views_and_language_defaults_reach_the_datasets(corpus):
    path = write_config(corpus, "views", types=("asr", "mt"))
    raw = yaml.safe_load(path.read_text())
    raw["corpora"][0].update(views=["asr_s2t"], src_lang="nl")
    path.write_text(yaml.safe_dump(raw))
    cfg, data = load(corpus, path)
    assert cfg.corpora[0].views == ["asr_s2t"] and data.datasets[0].rows.default_langs == (
        "nl",
        None,
    )
    batch = build_batch_sampler(cfg, data)(data, 1)[0]
    sample = data.collater([data[i] for i in batch])
    assert [v["name"] for v in sample["views"]] == ["asr_s2t", "mt_fwd", "mt_bwd", "mt_align"]
