"""Temperature sampling across languages: exact probabilities, observed shares, even repetition."""

import math
from collections import Counter

import numpy as np
import pytest

from mu2slam_fairseq.data.pipeline.batching import MultiTypeBatchSampler, TypeBudget
from mu2slam_fairseq.data.pipeline.multitype import MultiTypeDataset
from mu2slam_fairseq.data.pipeline.datasets import DATASET_CLASSES
from mu2slam_fairseq.data.pipeline.sampling import Group, LanguageSampler, group_probabilities
from pretrain_data import MT_COUNTS, TEXT_COUNTS, build_corpus, formula


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, fillets_root):
    return build_corpus(tmp_path_factory.mktemp("corpus"), fillets_root)


def groups(counts, corpus="c", start=0):
    out = []
    for lang, n in counts.items():
        out.append(Group(corpus, lang, np.arange(start, start + n)))
        start += n
    return out


def test_group_probabilities_exact():
    counts = {"de": 240, "fr": 60, "cs": 15}
    p = group_probabilities(groups(counts), {"c": 3.0})
    expected = formula(counts, 3.0)
    assert np.allclose(p, [expected[k] for k in counts])
    assert np.allclose(
        group_probabilities(groups(counts), {"c": 1.0}), np.array(list(counts.values())) / 315
    )
    # two corpora of one type: mixed by size, each with its own temperature inside
    two = groups({"de": 100, "fr": 100}, "a") + groups({"de": 150, "cs": 50}, "b", start=200)
    p = group_probabilities(two, {"a": 2.0, "b": 1.0})
    assert np.allclose(p, [0.5 * 0.5, 0.5 * 0.5, 0.5 * 0.75, 0.5 * 0.25])


def chi_square(observed, expected_probs, n):
    return sum((observed.get(k, 0) - n * p) ** 2 / (n * p) for k, p in expected_probs.items())


def test_language_sampler_matches_temperature_within_sampling_error():
    counts = {"de": 240, "fr": 60, "cs": 15}
    expected = formula(counts, 3.0)
    lang_of = {}
    for g in groups(counts):
        lang_of.update({int(p): g.lang for p in g.positions})
    sampler = LanguageSampler(groups(counts), {"c": 3.0}, period=315, rng=np.random.default_rng(0))
    n = 315 * 40
    drawn = sampler.draw(n)
    observed = Counter(lang_of[int(v) % 315] for v in drawn)
    for lang, p in expected.items():  # binomial bounds: 4.5 standard deviations
        assert abs(observed[lang] - n * p) <= 4.5 * math.sqrt(n * p * (1 - p)), (
            lang,
            observed,
            expected,
        )
    assert chi_square(observed, expected, n) < 13.8  # chi-square, 2 dof, p = 0.001
    # virtual indices are unique; an up-sampled language repeats its examples evenly
    assert len(set(drawn.tolist())) == n
    cs_hits = Counter(int(v) % 315 for v in drawn if lang_of[int(v) % 315] == "cs")
    assert max(cs_hits.values()) - min(cs_hits.values()) <= 1


def test_text_and_mt_batches_follow_the_temperature_over_many_epochs(corpus):
    d, enc = corpus["dict"], corpus["encode"]
    text = DATASET_CLASSES["text"](corpus["paths"]["text"], d, enc, name="text")
    mt = DATASET_CLASSES["mt"](corpus["paths"]["mt"], d, enc, name="mt")
    data = MultiTypeDataset([text, mt], {"text": 3.0, "mt": 2.0})
    sampler = MultiTypeBatchSampler(
        data, {"text": TypeBudget(None, 8), "mt": TypeBudget(None, 2)}, seed=5
    )
    seen = {"text": Counter(), "mt": Counter()}
    for epoch in range(1, 31):
        for batch in sampler(data, epoch):
            for i in batch:
                ds, row = data.locate(i)
                seen[ds.data_type][ds.lang_keys[row]] += 1
    for t, counts, T, keys in (
        ("text", TEXT_COUNTS, 3.0, lambda k: k),
        ("mt", MT_COUNTS, 2.0, lambda k: f"{k}-en"),
    ):
        expected = {keys(k): p for k, p in formula(counts, T).items()}
        n = sum(seen[t].values())
        for lang, p in expected.items():
            assert abs(seen[t][lang] - n * p) <= 4.5 * math.sqrt(n * p * (1 - p)), (
                t,
                seen[t],
                expected,
            )
        assert chi_square(seen[t], expected, n) < 13.8
    # the skew is really corrected: cs is 1/21 of the text but gets about 1/5.3 of the draws
    assert seen["text"]["cs"] / sum(seen["text"].values()) > 0.15
