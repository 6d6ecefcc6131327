"""The embedded default corpus: sizes, level/campaign splits, hold-out, determinism, validity."""

import gettext
import json
import os
import re
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from mu2slam_fairseq.data.io.audio import speed_perturb
from mu2slam_fairseq.data.io.features import load_features
from mu2slam_fairseq.data.io.manifest import read_manifest
from mu2slam_fairseq.data.io.validate import validate_manifests
from mu2slam_manifests import fillets
from mu2slam_manifests.debian import DEFAULT_CACHE
from mu2slam_manifests.default_corpus import FEATURES, STAMP, Options, build, is_complete, main

SPLITS = ("train", "dev", "test")
GAME = DEFAULT_CACHE / "root/usr/share/games/fillets-ng"
WESNOTH_LOCALE = DEFAULT_CACHE / "root/usr/share/games/wesnoth/1.16/locale"


def norm(text: str) -> str:
    """Whitespace and case normalisation, as a reader comparing sentences would do it."""
    return " ".join(text.split()).lower()


def manifests(root: Path):
    return sorted(p for p in root.glob("*.tsv"))


def training_manifests(root: Path):
    return [p for p in manifests(root) if p.stem.startswith("train_")]


@pytest.fixture(scope="module")
def corpus(default_corpus):
    return default_corpus


@pytest.fixture(scope="module")
def splits(corpus):
    return json.loads((corpus / "splits.json").read_text())


def test_sizes_reach_the_targets(corpus):
    real = sum(
        len(read_manifest(corpus / f"{s}_st_{lang}_en.tsv"))
        for lang in ("cs", "nl")
        for s in SPLITS
    )
    assert real >= 2500
    assert len(read_manifest(corpus / "train_mt.tsv")) >= 20000
    for lang in ("cs", "nl"):
        for s in SPLITS:
            assert len(read_manifest(corpus / f"{s}_asr_{lang}.tsv")) >= 50, (lang, s)
    speech = read_manifest(corpus / "train_speech.tsv")
    assert {r["src_lang"] for r in speech} == {"cs", "nl", "en"}
    assert {r["src_lang"] for r in read_manifest(corpus / "train_text.tsv")} >= {
        "en",
        "de",
        "es",
        "it",
        "ru",
        "cs",
        "nl",
    }
    summary = json.loads((corpus / "summary.json").read_text())
    assert summary["real_utterances_with_translation"] == real
    assert summary["dropped"], "the summary says what was dropped and why"


def test_rows_are_well_formed(corpus):
    for lang in ("cs", "nl"):
        for s in SPLITS:
            asr = read_manifest(corpus / f"{s}_asr_{lang}.tsv")
            st = {r["id"]: r for r in read_manifest(corpus / f"{s}_st_{lang}_en.tsv")}
            for r in asr:
                assert r["src_text"] == r["tgt_text"] and r["src_lang"] == r["tgt_lang"] == lang
                assert r["id"].startswith(f"{lang}/") and ":" not in r["id"]
                assert r["speaker"] == fillets.speaker_of(r["id"].rsplit("/", 1)[1])
                assert r["audio"].startswith(f"{FEATURES}:")
            for r in st.values():
                assert r["tgt_lang"] == "en" and r["tgt_text"] and r["src_text"]
    for r in read_manifest(corpus / "train_mt.tsv")[:2000]:
        assert r["audio"] == "" and r["tgt_lang"] == "en" and r["src_lang"] != "en"
        assert (
            "%" not in r["src_text"] + r["tgt_text"] and "\\" not in r["src_text"] + r["tgt_text"]
        )


def test_one_id_is_one_utterance_across_the_corpus(corpus):
    audio_of = {}
    for p in manifests(corpus):
        rows = read_manifest(p)
        ids = [r["id"] for r in rows]
        assert len(ids) == len(set(ids)), p.name
        for r in rows:
            if r["audio"]:
                assert audio_of.setdefault(r["id"], r["audio"]) == r["audio"], (p.name, r["id"])


def test_n_frames_match_the_stored_features(corpus):
    rows = (
        read_manifest(corpus / "test_asr_nl.tsv")[:20]
        + read_manifest(corpus / "dev_speech.tsv")[-20:]
    )
    for r in rows:
        feats = load_features(r["audio"], corpus)
        assert feats.shape == (int(r["n_frames"]), 80)


def test_splits_are_disjoint_by_level_and_campaign(corpus, splits):
    levels = splits["fillets_levels"]
    sets = [set(levels[s]) for s in SPLITS]
    assert not (sets[0] & sets[1]) and not (sets[0] & sets[2]) and not (sets[1] & sets[2])
    assert len(sets[1]) >= 5 and len(sets[2]) >= 5 and len(sets[0]) >= 60
    assert sorted(set().union(*sets)) == fillets.levels(GAME)
    camps = splits["wesnoth_campaigns"]
    csets = [set(camps[s]) for s in SPLITS]
    assert not (csets[0] & csets[1]) and not (csets[0] & csets[2]) and not (csets[1] & csets[2])
    assert csets[1] and csets[2]
    assert not set(camps["always_train"]) & (csets[1] | csets[2])

    allowed = {s: set(levels[s]) | set(camps[s]) for s in SPLITS}
    allowed["train"] |= set(levels["always_train"]) | set(camps["always_train"])
    for p in manifests(corpus):
        split = next((s for s in SPLITS if p.stem.startswith(s + "_")), None)
        if split is None:
            continue
        for r in read_manifest(p):
            parts = r["id"].split("/")
            if parts[0] == "text" and parts[1] == "fortunes":
                continue
            # <lang>/<level>/<id>, mt/<corpus>/<lang>/<group>/<id>, text/<corpus>/<lang>/<group>/<id>
            group = parts[1] if parts[0] not in ("mt", "text", "synth") else parts[3]
            assert group in allowed[split], (p.name, r["id"])


def _held_out_sentences(splits) -> set:
    """Independently of the builder: every string of every dev/test level's dialogue files
    (all languages) and every msgid/msgstr of the dev/test campaigns' catalogues."""
    held = set()
    literal = re.compile(r'"((?:[^"\\\n]|\\.)*)"')
    for s in ("dev", "test"):
        for level in splits["fillets_levels"][s]:
            for f in (GAME / "script" / level).glob("*dialogs_*.lua"):
                for m in literal.findall(f.read_text(encoding="utf-8", errors="replace")):
                    held.add(norm(m.replace('\\"', '"')))
        for campaign in splits["wesnoth_campaigns"][s]:
            for mo in WESNOTH_LOCALE.glob(f"*/LC_MESSAGES/wesnoth-{campaign}.mo"):
                with open(mo, "rb") as f:
                    catalog = gettext.GNUTranslations(f)._catalog
                for k, v in catalog.items():
                    if isinstance(k, str):
                        held.add(norm(k.split("\x04")[-1]))
                        held.add(norm(v))
    held.discard("")
    return held


def test_no_dev_or_test_sentence_in_any_training_manifest(corpus, splits):
    held = _held_out_sentences(splits)
    assert len(held) > 10000
    checked = 0
    for p in training_manifests(corpus):
        for r in read_manifest(p):
            for col in ("src_text", "tgt_text"):
                if r[col]:
                    assert norm(r[col]) not in held, (p.name, r["id"], col, r[col])
                    checked += 1
    assert checked > 100000
    # Unlabeled speech has no text: check what its recordings say, in every language.
    lines = {}
    for r in read_manifest(corpus / "train_speech.tsv"):
        lang, level, did = r["id"].split("/")
        assert (
            level in splits["fillets_levels"]["train"]
            or level in splits["fillets_levels"]["always_train"]
        )
        if level not in lines:
            lines[level] = fillets.read_level(GAME, level)
        said = [t for ln in lines[level] if ln.dialogue_id == did for t in (ln.text, ln.english)]
        assert said, r["id"]
        assert not any(norm(t) in held for t in said), r["id"]


def test_manifests_load_and_pass_the_validator(corpus):
    paths = manifests(corpus)
    assert len(paths) >= 21
    for p in paths:
        assert read_manifest(p)
    assert validate_manifests(paths) == []


def test_second_run_is_fast_and_changes_nothing(corpus):
    before = {p.name: p.stat().st_mtime_ns for p in manifests(corpus)}
    t = time.time()
    build(Options(out=corpus, progress=False))
    assert time.time() - t < 30
    assert is_complete(corpus)
    assert {p.name: p.stat().st_mtime_ns for p in manifests(corpus)} == before


def _reuse_features(corpus: Path, out: Path) -> None:
    """Start ``out`` with the finished build's features, so only the manifests are redone."""
    out.mkdir()
    for name in (FEATURES, f".{FEATURES}.index.json"):
        try:
            os.link(corpus / name, out / name)
        except OSError:
            shutil.copy(corpus / name, out / name)


def test_rebuild_gives_byte_identical_manifests(corpus, tmp_path):
    """A fresh build (features reused from the finished one) writes the same bytes."""
    out = tmp_path / "again"
    _reuse_features(corpus, out)
    build(Options(out=out, progress=False, validate=False))
    names = sorted(p.name for p in manifests(corpus)) + ["splits.json", "summary.json"]
    assert sorted(p.name for p in manifests(out)) == names[:-2]
    for name in names:
        assert (out / name).read_bytes() == (corpus / name).read_bytes(), name


def test_incomplete_build_is_redone(corpus, tmp_path):
    out = tmp_path / "broken"
    _reuse_features(corpus, out)
    for p in corpus.iterdir():
        if p.is_file() and not (out / p.name).exists():
            shutil.copy(p, out / p.name)
    assert is_complete(out)
    (out / "dev_mt.tsv").write_text("id\n")  # damaged after the build
    assert not is_complete(out)
    build(Options(out=out, progress=False, validate=False))
    assert (out / "dev_mt.tsv").read_bytes() == (corpus / "dev_mt.tsv").read_bytes()
    assert is_complete(out) and (out / STAMP).exists()


def test_command_line_help(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    text = capsys.readouterr().out
    assert "--out" in text and "--synthetic-langs" in text


@pytest.mark.slow
def test_full_rebuild_is_byte_identical_including_features(corpus, tmp_path):
    out = tmp_path / "fresh"
    build(Options(out=out, progress=False, validate=False))
    for name in [p.name for p in manifests(corpus)] + [FEATURES, "splits.json"]:
        assert (out / name).read_bytes() == (corpus / name).read_bytes(), name


@pytest.mark.slow
def test_synthetic_speech_uses_training_sentences_only(corpus, splits, tmp_path):
    out = tmp_path / "synth"
    _reuse_features(corpus, out)
    build(Options(out=out, progress=False, synthetic_langs=("de",), synthetic_max=40))
    rows = read_manifest(out / "train_asr_synth_de.tsv")
    assert len(rows) == 40
    held = _held_out_sentences(splits)
    for r in rows:
        assert r["audio"].startswith("fbank80_synth.zip:") and r["src_lang"] == "de"
        assert norm(r["src_text"]) not in held
    # The real-speech test sets are untouched by the synthetic option.
    for name in ("test_asr_cs.tsv", "test_st_nl_en.tsv", "train_speech.tsv"):
        assert (out / name).read_bytes() == (corpus / name).read_bytes()


def test_speed_perturbation_changes_tempo_and_pitch_by_the_factor():
    """A 1 kHz tone of 1 s played at 1.1 comes out as 1.1 kHz lasting 1/1.1 s."""
    t = np.arange(16000) / 16000
    tone = np.sin(2 * np.pi * 1000 * t).astype(np.float32)
    for factor, samples, hz in ((1.1, 14546, 1100), (0.9, 17778, 900)):
        out = speed_perturb(tone, factor)
        assert len(out) == samples
        spectrum = np.abs(np.fft.rfft(out[1000:-1000] * np.hanning(len(out) - 2000)))
        peak = np.argmax(spectrum) * 16000 / (len(out) - 2000)
        assert abs(peak - hz) < 2, (factor, peak)
    with pytest.raises(ValueError, match="positive"):
        speed_perturb(tone, 0)


def test_speed_factors_are_checked_on_the_command_line(capsys):
    for bad in ("0.9,1.0", "3", "fast"):
        with pytest.raises(SystemExit):
            main(["--out", "x", "--speed-perturb", bad])
        assert "--speed-perturb" in capsys.readouterr().err


@pytest.mark.slow
def test_speed_perturbed_copies_join_the_training_speech_only(corpus, tmp_path):
    out = tmp_path / "speed"
    _reuse_features(corpus, out)
    build(Options(out=out, progress=False, speed_factors=(0.9, 1.1)))
    for kind in ("asr_nl", "st_cs_en"):
        base = read_manifest(corpus / f"train_{kind}.tsv")
        rows = read_manifest(out / f"train_{kind}.tsv")
        assert len(rows) == 3 * len(base)
        by_id = {r["id"]: r for r in rows}
        for r in base:
            assert by_id[r["id"]] == r
            for f in ("0.9", "1.1"):
                copy = by_id[f"sp{f}/{r['id']}"]
                assert copy["audio"].startswith("fbank80_speed.zip:")
                assert {k: copy[k] for k in ("src_text", "tgt_text", "src_lang", "tgt_lang")} == {
                    k: r[k] for k in ("src_text", "tgt_text", "src_lang", "tgt_lang")
                }
                # 10 ms frames of audio 1/f as long, to within two frames of rounding
                assert abs(int(copy["n_frames"]) - int(r["n_frames"]) / float(f)) <= 2
                feats = load_features(copy["audio"], out)
                assert feats.shape == (int(copy["n_frames"]), 80)
    for name in ("dev_asr_nl.tsv", "test_asr_cs.tsv", "test_st_nl_en.tsv", "train_speech.tsv"):
        assert (out / name).read_bytes() == (corpus / name).read_bytes()
    assert is_complete(out)
