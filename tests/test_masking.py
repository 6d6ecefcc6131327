"""Mask samplers: exact counts and shapes, measured ratios on real batches, reproducibility."""

import numpy as np
import pytest
import torch

from mu2slam_fairseq.data.pipeline.datasets import DATASET_CLASSES
from mu2slam_fairseq.data.pipeline.masking import (
    MaskConfig,
    apply_complement,
    apply_mask,
    contiguous_mask,
    item_rng,
    mask_count,
    measured_ratio,
    span_mask,
)
from mu2slam_fairseq.symbols import MASK
from pretrain_data import build_corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, fillets_root):
    return build_corpus(tmp_path_factory.mktemp("corpus"), fillets_root)


def runs(mask):
    """(start, length) of every run of True."""
    padded = np.concatenate([[False], mask, [False]]).astype(int)
    starts = np.flatnonzero(np.diff(padded) == 1)
    ends = np.flatnonzero(np.diff(padded) == -1)
    return list(zip(starts, ends - starts))


def test_mask_count():
    assert [mask_count(n, 0.5) for n in (0, 1, 2, 3, 4, 5)] == [0, 1, 1, 2, 2, 3]
    assert mask_count(10, 0.25) == 3 and mask_count(7, 0.25) == 2
    assert mask_count(10, 0.0) == 0 and mask_count(10, 1.0) == 10


@pytest.mark.parametrize("n", [1, 7, 20, 73, 109, 400])
def test_span_mask_exact_count_and_separated_runs(n):
    rng = np.random.default_rng(n)
    for _ in range(50):
        m = span_mask(n, 0.5, 10, rng)
        assert m.sum() == mask_count(n, 0.5)
        spans = runs(m)
        assert all(length <= 10 for _, length in spans)
        # spans of 10 and one remainder; the random cut of the circle may split one more
        assert sum(length < 10 for _, length in spans) <= 3
        assert sum(length == 10 for _, length in spans) >= mask_count(n, 0.5) // 10 - 1


def test_span_mask_covers_positions_uniformly():
    rng = np.random.default_rng(0)
    hits = np.mean([span_mask(60, 0.5, 10, rng) for _ in range(4000)], axis=0)
    # every step, the first and last included, is masked with probability k / n = 0.5;
    # 0.04 is 5 binomial standard deviations over 4000 draws
    assert np.all(np.abs(hits - 0.5) < 0.04)


def test_contiguous_mask_is_one_span():
    rng = np.random.default_rng(0)
    starts = set()
    for _ in range(200):
        m = contiguous_mask(9, 0.5, rng)
        ((start, length),) = runs(m)
        assert length == mask_count(9, 0.5) == 5
        starts.add(int(start))
    assert starts == set(range(5))  # every start in [0, n - k] occurs
    assert not contiguous_mask(9, 0.0, rng).any() and not span_mask(9, 0.0, 10, rng).any()


def test_complementary_masks_partition_positions():
    x = torch.arange(10, 30)
    m = torch.from_numpy(span_mask(20, 0.5, 4, np.random.default_rng(3)))
    masked, comp = apply_mask(x, m, 99), apply_complement(x, m, 99)
    assert ((masked == 99) ^ (comp == 99)).all()  # every position masked on exactly one side
    assert torch.equal(torch.where(masked == 99, comp, masked), x)  # together they give x back


def test_reproducible_from_seed_epoch_index():
    def draw(seed, epoch, index):
        rng = item_rng(seed, epoch, index)
        return np.concatenate([span_mask(200, 0.5, 10, rng), contiguous_mask(50, 0.5, rng)])

    assert np.array_equal(draw(1, 1, 5), draw(1, 1, 5))
    assert not np.array_equal(draw(1, 1, 5), draw(1, 2, 5))
    assert not np.array_equal(draw(1, 1, 5), draw(2, 1, 5))
    assert not np.array_equal(draw(1, 1, 5), draw(1, 1, 6))


def test_config_validates_ratios():
    with pytest.raises(ValueError, match="text_ratio"):
        MaskConfig(text_ratio=1.5)
    with pytest.raises(ValueError, match="speech_span"):
        MaskConfig(speech_span=0)


def _dataset(corpus, kind, **kw):
    return DATASET_CLASSES[kind](
        corpus["paths"][kind],
        corpus["dict"],
        corpus["encode"],
        units_for_features=corpus["quantize"],
        name=kind,
        **kw,
    )


@pytest.mark.parametrize("ratio", [0.5, 0.3])
def test_measured_ratios_on_real_batches(corpus, ratio):
    M = corpus["dict"].index(MASK)
    cfg = MaskConfig(speech_ratio=ratio, text_ratio=ratio, mt_ratio=ratio / 2)
    speech = _dataset(corpus, "speech", masking=cfg)
    (view,) = speech.collater([speech[i] for i in range(len(speech))])["views"]
    steps = [int(n) for n in speech.sizes]
    masks = [view["net_input"]["speech_mask"][i, :n].numpy() for i, n in enumerate(steps)]
    assert abs(measured_ratio(masks) - ratio) <= 0.05
    assert view["n_mlm"] == sum(int(m.sum()) for m in masks)

    text = _dataset(corpus, "text", masking=cfg)
    (view,) = text.collater([text[i] for i in range(len(text))])["views"]
    lengths = view["net_input"]["src_lengths"].tolist()
    masks = [(view["net_input"]["src_tokens"][i, :n] == M).numpy() for i, n in enumerate(lengths)]
    assert abs(measured_ratio(masks) - ratio) <= 0.05

    mt = _dataset(corpus, "mt", masking=cfg)
    view = mt.collater([mt[i] for i in range(len(mt))])["views"][0]
    assert view["name"] == "mt_fwd"
    lengths = view["net_input"]["src_lengths"].tolist()
    masks = [(view["net_input"]["src_tokens"][i, :n] == M).numpy() for i, n in enumerate(lengths)]
    assert abs(measured_ratio(masks) - ratio / 2) <= 0.05


def test_dataset_masks_follow_seed_and_epoch(corpus):
    a, b = _dataset(corpus, "asr", seed=3), _dataset(corpus, "asr", seed=3)

    def masks(ds, index):
        v = ds[index]["views"]
        return torch.cat(
            [
                v["asr_s2t"].source.speech_mask,
                v["asr_t2s"].source.text_mask,
                v["asr_align"].source.speech_mask,
            ]
        )

    assert torch.equal(masks(a, 2), masks(b, 2))
    b.set_epoch(2)
    assert not torch.equal(masks(a, 2), masks(b, 2))
    # a second draw of the same example in one epoch (virtual index) gets its own masks
    assert not torch.equal(masks(a, 2), masks(a, 2 + len(a)))
    assert torch.equal(
        a[2 + len(a)]["views"]["asr_s2t"].source.speech, a[2]["views"]["asr_s2t"].source.speech
    )
    # choosing fewer views leaves the others' masks unchanged
    c = _dataset(corpus, "asr", seed=3, views=["asr_align"])
    assert list(c[2]["views"]) == ["asr_align"]
    assert torch.equal(
        c[2]["views"]["asr_align"].source.text_mask, a[2]["views"]["asr_align"].source.text_mask
    )
