"""Exact semantics of every view: encoder input, MLM targets, decoder input and target."""

import numpy as np
import pytest
import torch
from fairseq.data import Dictionary

from mu2slam_fairseq.data.pipeline.datasets import DATASET_CLASSES
from mu2slam_fairseq.data.io.features import load_features
from mu2slam_fairseq.data.io.manifest import read_manifest
from mu2slam_fairseq.data.pipeline.masking import mask_count
from mu2slam_fairseq.symbols import MASK, SPEECH, TEXT, lang_symbol, unit_ids
from mu2slam_fairseq.data.pipeline.views import Source, Target, ViewItem, collate_view
from mu2slam_fairseq.grid import grid_length
from pretrain_data import build_corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, fillets_root):
    return build_corpus(tmp_path_factory.mktemp("corpus"), fillets_root)


def dataset(corpus, kind, **kw):
    kw.setdefault("units_for_features", corpus["quantize"])
    return DATASET_CLASSES[kind](
        corpus["paths"][kind], corpus["dict"], corpus["encode"], name=kind, **kw
    )


def batch(ds, n=None):
    sample = ds.collater([ds[i] for i in range(len(ds) if n is None else n)])
    return {v["name"]: v for v in sample["views"]}


def test_worked_example_text_unlabeled_exactly():
    d = Dictionary()
    a, b, c, dd, e, f = (d.add_symbol(s) for s in "abcdef")
    lang = d.add_symbol(lang_symbol("en"))
    M = d.add_symbol(MASK)
    pad, eos = d.pad(), d.eos()
    x = torch.tensor([a, b, c, dd, e, f])
    m = torch.tensor([0, 1, 1, 1, 0, 0], dtype=torch.bool)
    view = collate_view(
        "text_u",
        "text",
        [
            ViewItem(
                7, Source(lang, lang, text=x, text_mask=m), [Target("text_u", x, lang, TEXT, m)]
            )
        ],
        d,
    )
    assert view["net_input"]["src_tokens"].tolist() == [[a, M, M, M, e, f]]
    assert view["mlm_target"].tolist() == [[pad, b, c, dd, pad, pad]]  # positions 2-4 (1-based)
    (dec,) = view["decoders"]
    assert dec["prev_output_tokens"].tolist() == [[eos, M, b, c, dd, M]]  # <bos> M b c d M
    assert dec["target"].tolist() == [
        [pad, b, c, dd, pad, pad]
    ]  # x^¬m = M b c d M M, loss at 2-4 only
    assert view["ntokens"] == 3 and view["n_mlm"] == 3 and view["id"].tolist() == [7]
    assert view["net_input"]["src_speech"] is None and view["net_input"]["speech_mask"] is None
    assert dec["tgt_modality"].tolist() == [TEXT] and dec["tgt_lang"].tolist() == [lang]


def test_full_target_appends_eos_with_loss_everywhere():
    d = Dictionary()
    ids = [d.add_symbol(s) for s in "xyz"]
    lang = d.add_symbol(lang_symbol("en"))
    d.add_symbol(MASK)
    y = torch.tensor(ids)
    src = Source(lang, lang, text=torch.tensor(ids[:2]))
    view = collate_view("mt_fwd", "mt", [ViewItem(0, src, [Target("mt_fwd", y, lang, TEXT)])], d)
    (dec,) = view["decoders"]
    assert dec["prev_output_tokens"].tolist() == [[d.eos()] + ids]
    assert dec["target"].tolist() == [ids + [d.eos()]]
    assert view["mlm_target"].tolist() == [[d.pad(), d.pad()]]  # nothing masked, nothing to predict


def _partition(enc_mask_row, dec_target_row, pad):
    """Positions with loss in the decoder target are exactly the masked encoder positions."""
    return np.array_equal(np.asarray(enc_mask_row), np.asarray(dec_target_row) != pad)


def test_speech_unlabeled_on_the_grid_with_complementary_masks(corpus):
    ds = dataset(corpus, "speech")
    d, pad, M = corpus["dict"], corpus["dict"].pad(), corpus["dict"].index(MASK)
    table = unit_ids(d)
    view = batch(ds)["speech_u"]
    ni, (dec,) = view["net_input"], view["decoders"]
    rows = read_manifest(corpus["paths"]["speech"])
    assert ni["src_tokens"].shape == (len(rows), 0) and ni["src_lengths"].tolist() == [0] * len(
        rows
    )
    for i, row in enumerate(rows):
        n = int(row["n_frames"])
        steps = grid_length(n)
        units = [table[int(u)] for u in row["units"].split()]
        assert len(units) == steps and ni["src_speech_lengths"][i] == n
        assert torch.equal(
            ni["src_speech"][i, :n], torch.from_numpy(load_features(row["audio"], corpus["base"]))
        )
        assert not ni["src_speech"][i, n:].any() and not ni["speech_mask"][i, steps:].any()
        m = ni["speech_mask"][i, :steps]
        assert _partition(m, dec["target"][i, :steps], pad)
        assert (dec["target"][i, steps:] == pad).all() and (
            view["mlm_target"][i, steps:] == pad
        ).all()
        z = torch.tensor(units)
        assert torch.equal(view["mlm_target"][i, :steps], torch.where(m, z, torch.tensor(pad)))
        comp = torch.where(m, z, torch.tensor(M))  # z^¬m
        assert dec["prev_output_tokens"][i, 0] == d.eos()
        assert torch.equal(dec["prev_output_tokens"][i, 1:steps], comp[:-1])
        assert torch.equal(dec["target"][i, :steps][m], z[m])
    assert (dec["tgt_modality"] == SPEECH).all()
    assert (dec["tgt_lang"] == d.index(lang_symbol("nl"))).all()


def test_units_from_column_and_from_tokenizer_agree(corpus):
    with_column = dataset(corpus, "ast", units_for_features=None)
    on_the_fly = dataset(corpus, "asr")  # no units column: the tokenizer callable runs
    a, b = batch(with_column)["ast_t2s"]["decoders"][0], batch(on_the_fly)["asr_t2s"]["decoders"][0]
    assert torch.equal(a["target"], b["target"])  # units + eos, same grid, same ids
    with pytest.raises(Exception, match="no units and no speech tokenizer"):
        dataset(corpus, "asr", units_for_features=None)


def test_asr_views(corpus):
    ds = dataset(corpus, "asr")
    d, pad, M, eos = (
        corpus["dict"],
        corpus["dict"].pad(),
        corpus["dict"].index(MASK),
        corpus["dict"].eos(),
    )
    table = unit_ids(d)
    quantize = corpus["quantize"]
    views = batch(ds)
    assert list(views) == ["asr_s2t", "asr_t2s", "asr_align"]
    rows = read_manifest(corpus["paths"]["asr"])
    nl = d.index(lang_symbol("nl"))
    s2t, t2s, align = views["asr_s2t"], views["asr_t2s"], views["asr_align"]
    for i, row in enumerate(rows):
        t = torch.tensor(corpus["encode"](row["src_text"], "nl"))
        feats = torch.from_numpy(load_features(row["audio"], corpus["base"]))
        z = torch.tensor(table)[quantize(feats)]
        steps, L = len(z), len(t)
        assert steps == grid_length(int(row["n_frames"]))
        # forward ℓ_p: S^m -> t + eos, loss everywhere; MLM on masked steps; CTC on t
        dec = s2t["decoders"][0]
        assert dec["target"][i, : L + 1].tolist() == t.tolist() + [eos]
        assert dec["prev_output_tokens"][i, : L + 1].tolist() == [eos] + t.tolist()
        m = s2t["net_input"]["speech_mask"][i, :steps]
        assert 0 < m.sum() < steps
        assert torch.equal(s2t["mlm_target"][i, :steps], torch.where(m, z, torch.tensor(pad)))
        assert (
            s2t["ctc"]["target"][i, :L].tolist() == t.tolist()
            and s2t["ctc"]["target_lengths"][i] == L
        )
        assert dec["tgt_modality"][i] == TEXT and dec["tgt_lang"][i] == nl
        # backward ℓ_p: t^m -> z + eos (units of the speech's language)
        dec = t2s["decoders"][0]
        mt = t2s["net_input"]["src_tokens"][i, :L] == M
        assert mt.sum() == mask_count(L, 0.5)
        idx = mt.nonzero().flatten()
        assert (idx[-1] - idx[0] + 1) == len(idx)  # one contiguous span
        assert torch.equal(t2s["net_input"]["src_tokens"][i, :L][~mt], t[~mt])
        assert torch.equal(t2s["mlm_target"][i, :L], torch.where(mt, t, torch.tensor(pad)))
        assert dec["target"][i, : steps + 1].tolist() == z.tolist() + [eos]
        assert dec["tgt_modality"][i] == SPEECH and dec["tgt_lang"][i] == nl
        # ℓ_a: [S, t]^m, one encoder pass; two decoder passes, loss at masked positions only
        ni = align["net_input"]
        ms = ni["speech_mask"][i, :steps]
        mt = ni["src_tokens"][i, :L] == M
        enc_mask = torch.cat([ms, mt])
        assert torch.equal(
            align["mlm_target"][i, : steps + L],
            torch.where(enc_mask, torch.cat([z, t]), torch.tensor(pad)),
        )
        assert (align["mlm_target"][i, steps + L :] == pad).all()
        units_dec, text_dec = align["decoders"]
        assert units_dec["name"] == "asr_align_units" and text_dec["name"] == "asr_align_text"
        assert _partition(ms, units_dec["target"][i, :steps], pad) and _partition(
            mt, text_dec["target"][i, :L], pad
        )
        assert (
            units_dec["prev_output_tokens"][i, 1:steps].tolist()
            == torch.where(ms, z, torch.tensor(M))[:-1].tolist()
        )
        assert (
            text_dec["prev_output_tokens"][i, 1:L].tolist()
            == torch.where(mt, t, torch.tensor(M))[:-1].tolist()
        )
        assert units_dec["tgt_modality"][i] == SPEECH and text_dec["tgt_modality"][i] == TEXT
    assert align["net_input"]["src_lengths"].tolist() == s2t["ctc"]["target_lengths"].tolist()
    assert views["asr_t2s"]["ctc"] is None and views["asr_align"]["ctc"] is None


def test_ast_uses_translation_and_has_no_ctc(corpus):
    ds = dataset(corpus, "ast")
    d, eos = corpus["dict"], corpus["dict"].eos()
    views = batch(ds)
    rows = read_manifest(corpus["paths"]["ast"])
    en, nl = d.index(lang_symbol("en")), d.index(lang_symbol("nl"))
    for i, row in enumerate(rows):
        y = corpus["encode"](row["tgt_text"], "en")
        assert views["ast_s2t"]["decoders"][0]["target"][i, : len(y) + 1].tolist() == y + [eos]
        assert views["ast_s2t"]["decoders"][0]["tgt_lang"][i] == en
        assert views["ast_t2s"]["net_input"]["text_lang"][i] == en
        assert views["ast_t2s"]["decoders"][0]["tgt_lang"][i] == nl
        assert (
            views["ast_align"]["net_input"]["speech_lang"][i] == nl
            and views["ast_align"]["net_input"]["text_lang"][i] == en
        )
    assert views["ast_s2t"]["ctc"] is None


def test_mt_views_and_per_token_languages(corpus):
    ds = dataset(corpus, "mt")
    d, pad, M, eos = (
        corpus["dict"],
        corpus["dict"].pad(),
        corpus["dict"].index(MASK),
        corpus["dict"].eos(),
    )
    views = batch(ds, 12)
    rows = read_manifest(corpus["paths"]["mt"])[:12]
    en = d.index(lang_symbol("en"))
    masked = total = 0
    for i, row in enumerate(rows):
        v = torch.tensor(corpus["encode"](row["src_text"], row["src_lang"]))
        t = torch.tensor(corpus["encode"](row["tgt_text"], "en"))
        lv = d.index(lang_symbol(row["src_lang"]))
        fwd, bwd, al = views["mt_fwd"], views["mt_bwd"], views["mt_align"]
        assert fwd["decoders"][0]["target"][i, : len(t) + 1].tolist() == t.tolist() + [eos]
        assert bwd["decoders"][0]["target"][i, : len(v) + 1].tolist() == v.tolist() + [eos]
        assert fwd["net_input"]["text_lang"][i] == lv and bwd["net_input"]["text_lang"][i] == en
        assert bwd["decoders"][0]["tgt_lang"][i] == lv
        # [v, t]^m: the two texts joined, each token with its own text's language
        enc = al["net_input"]["src_tokens"][i]
        assert al["net_input"]["src_lengths"][i] == len(v) + len(t)
        langs = al["net_input"]["text_lang"][i]
        assert langs.tolist() == [lv] * len(v) + [en] * len(t) + [-1] * (len(enc) - len(v) - len(t))
        mv, mt = enc[: len(v)] == M, enc[len(v) : len(v) + len(t)] == M
        src_dec, tgt_dec = al["decoders"]
        assert _partition(mv, src_dec["target"][i, : len(v)], pad) and _partition(
            mt, tgt_dec["target"][i, : len(t)], pad
        )
        assert src_dec["tgt_lang"][i] == lv and tgt_dec["tgt_lang"][i] == en
        masked += int((fwd["net_input"]["src_tokens"][i, : len(v)] == M).sum())
        total += len(v)
    assert abs(masked / total - 0.25) < 0.05


def test_manifest_problems_name_file_line_and_id(corpus):
    from mu2slam_fairseq.data.io.manifest import ManifestError, write_manifest

    rows = read_manifest(corpus["paths"]["speech"])
    base = corpus["base"]
    bad = [dict(r) for r in rows]
    bad[2]["units"] = " ".join(bad[2]["units"].split()[:-1])
    path = base / "bad_units.tsv"
    write_manifest(path, bad)
    with pytest.raises(
        ManifestError, match=rf"bad_units.tsv:4: id '{bad[2]['id']}': .* units for .* frames"
    ):
        DATASET_CLASSES["speech"](path, corpus["dict"], name="bad")
    bad = [dict(r, src_lang="xx") for r in rows]
    write_manifest(path, bad)
    with pytest.raises(
        ManifestError, match=r"bad_units.tsv:2: .*language 'xx' has no tag <lang_xx>"
    ):
        DATASET_CLASSES["speech"](path, corpus["dict"], name="bad")
    # a corpus-level default fills an empty language column
    write_manifest(path, [dict(r, src_lang="") for r in rows])
    ds = DATASET_CLASSES["speech"](path, corpus["dict"], name="bad", src_lang="nl")
    assert set(ds.lang_keys) == {"nl"}


def test_paired_targets_complementary_masked_option(corpus):
    """Eq. 6's ℓ_p(S^m, t^¬m): with ``paired_target_ratio`` the forward and backward
    targets are masked, the decoder reads y^¬m and predicts y at the masked positions only;
    encoder inputs and alignment views are unchanged."""
    from mu2slam_fairseq.data.pipeline.masking import MaskConfig

    plain = batch(dataset(corpus, "asr"))
    views = batch(dataset(corpus, "asr", masking=MaskConfig(paired_target_ratio=0.5)))
    d, pad, M, eos = (
        corpus["dict"],
        corpus["dict"].pad(),
        corpus["dict"].index(MASK),
        corpus["dict"].eos(),
    )
    table = unit_ids(d)
    for i, row in enumerate(read_manifest(corpus["paths"]["asr"])):
        t = torch.tensor(corpus["encode"](row["src_text"], "nl"))
        feats = torch.from_numpy(load_features(row["audio"], corpus["base"]))
        z = torch.tensor(table)[corpus["quantize"](feats)]
        for name, y in (("asr_s2t", t), ("asr_t2s", z)):
            dec = views[name]["decoders"][0]
            target, m = dec["target"][i, : len(y)], dec["target"][i, : len(y)] != pad
            assert int(m.sum()) == mask_count(len(y), 0.5)
            assert (dec["target"][i, len(y) :] == pad).all()  # no end-of-sequence
            assert torch.equal(target[m], y[m])
            prev = dec["prev_output_tokens"][i, : len(y)]
            assert prev[0] == eos and torch.equal(prev[1:], torch.where(m, y, torch.tensor(M))[:-1])
        # the encoder side draws the same masks as without the option
        assert torch.equal(
            views["asr_s2t"]["net_input"]["speech_mask"][i],
            plain["asr_s2t"]["net_input"]["speech_mask"][i],
        )
    assert not views["asr_s2t"]["seq2seq"] and plain["asr_s2t"]["seq2seq"]
