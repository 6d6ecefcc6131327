import math
from collections import Counter

from mu2slam_fairseq.data.io.manifest import read_manifest
from mu2slam_fairseq.symbols import MASK, is_special, lang_symbol, languages, unit_ids, unit_symbol
from mu2slam_fairseq.data.io.vocab import (
    TextEncoder,
    build_vocab,
    sample_sentences,
    temperature_probs,
)
from real_clips import st_manifest


def test_temperature_formula_exact():
    p = temperature_probs({"en": 900, "nl": 100}, 3.0)
    a, b = 0.9 ** (1 / 3), 0.1 ** (1 / 3)
    assert math.isclose(p["en"], a / (a + b)) and math.isclose(p["nl"], b / (a + b))
    assert temperature_probs({"en": 900, "nl": 100}, 1.0) == {"en": 0.9, "nl": 0.1}


def test_sample_follows_temperature_shares():
    texts = {"en": [f"e{i}" for i in range(900)], "nl": [f"n{i}" for i in range(100)]}
    sample = sample_sentences(texts, 3.0, 1000, seed=0)
    got = Counter(s[0] for s in sample)
    p = temperature_probs({"en": 900, "nl": 100}, 3.0)
    assert got == {"e": round(p["en"] * 1000), "n": round(p["nl"] * 1000)}


def test_joint_dictionary_layout_and_roundtrip(tmp_path, fillets_root):
    manifest = st_manifest(fillets_root, tmp_path, limit=8)
    d = build_vocab([manifest], tmp_path / "vocab", kind="char", vocab_size=200, n_units=16)
    assert [d[i] for i in unit_ids(d)] == [unit_symbol(k) for k in range(16)]
    assert languages(d) == ["en", "nl"]
    assert d.index(MASK) == len(d) - 1
    assert d.index(lang_symbol("nl")) == unit_ids(d)[-1] + 2  # tags follow the units
    assert all(is_special(d, i) for i in unit_ids(d)) and not is_special(d, unit_ids(d)[0] - 1)
    enc = TextEncoder(tmp_path / "vocab" / "spm.model", d)
    for row in read_manifest(manifest):
        ids = enc.encode(row["src_text"])
        assert d.unk() not in ids
        assert enc.decode(ids) == row["src_text"]
    reloaded = type(d).load(str(tmp_path / "vocab" / "dict.txt"))
    assert reloaded.symbols == d.symbols
