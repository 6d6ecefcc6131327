"""The frozen speech tokenizer: grid lengths, determinism, file errors, fitting, application."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from mu2slam_fairseq.data.io.audio import AudioError, fbank, load_waveform, n_fbank_frames
from mu2slam_fairseq.data.io.features import write_feature_zip
from mu2slam_fairseq.data.io.manifest import read_manifest, write_manifest
from mu2slam_fairseq.grid import grid_length
from mu2slam_fairseq.speech_tokenizer import (
    TokenizerError,
    TokenizerFileError,
    apply_to_manifest,
    fit_tokenizer,
    load_tokenizer,
)
from mu2slam_fairseq.speech_tokenizer import cli
from mu2slam_fairseq.speech_tokenizer.report import stability, usage
from mu2slam_fairseq.speech_tokenizer.sampling import Reservoir, RunningStats
from mu2slam_fairseq.speech_tokenizer.search import nearest
from mu2slam_fairseq.speech_tokenizer.steps import average_pairs, stack_frames

N_SHORTEST = 10
N_REGULAR = 36


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def clips(fillets_root):
    """Real clips: the shortest decodable ones of the game plus a spread of ordinary lines."""
    every = sorted((fillets_root / "sound").glob("*/*/*.ogg"))
    smallest = sorted(every, key=lambda p: p.stat().st_size)[
        :60
    ]  # the shortest clips are among the smallest files
    by_len = sorted(smallest, key=lambda p: sf.info(str(p)).duration)
    shortest = []
    for p in by_len:
        try:
            wav = load_waveform(p)
            feats = fbank(wav)
        except AudioError:  # a few clips hold no samples at all
            continue
        shortest.append((p, wav, feats))
        if len(shortest) == N_SHORTEST:
            break
    regular = []
    for level in ("airplane", "barrel", "bathroom"):
        for lang in ("cs", "nl", "en"):
            for p in sorted((fillets_root / "sound" / level / lang).glob("*.ogg"))[:4]:
                wav = load_waveform(p)
                regular.append((p, wav, fbank(wav)))
    return shortest + regular[:N_REGULAR]


@pytest.fixture(scope="module")
def corpus(clips, tmp_path_factory):
    """A speech manifest with features in a zip, an audio manifest by id, and a mixed manifest."""
    d = tmp_path_factory.mktemp("tok_corpus")
    ids = [f"{p.parent.parent.name}_{p.parent.name}_{p.stem}" for p, _, _ in clips]
    refs = write_feature_zip(d / "fbank80.zip", ((i, f) for i, (_, _, f) in zip(ids, clips)))
    rows = [
        {"id": i, "audio": refs[i], "n_frames": str(len(f)), "src_lang": p.parent.name}
        for i, (p, _, f) in zip(ids, clips)
    ]
    write_manifest(d / "speech.tsv", rows)
    write_manifest(
        d / "audio.tsv",
        [{"id": i, "audio": str(p), "n_frames": str(len(f))} for i, (p, _, f) in zip(ids, clips)],
    )
    return {"dir": d, "speech": d / "speech.tsv", "audio": d / "audio.tsv", "ids": ids}


@pytest.fixture(scope="module")
def kmeans_tok(corpus):
    return fit_tokenizer("kmeans", corpus["speech"], codebook_size=64, seed=3, progress=False)


@pytest.fixture(scope="module")
def bestrq_tok(corpus):
    return fit_tokenizer("bestrq", corpus["speech"], codebook_size=32, seed=3, progress=False)


def make_wav2vec2_checkpoint(path: Path, layers: int = 3, seed: int = 0) -> Path:
    """A tiny randomly initialised wav2vec 2.0 model saved the way fairseq-train saves checkpoints."""
    from fairseq.models.wav2vec.wav2vec2 import Wav2Vec2Config, Wav2Vec2Model
    from omegaconf import OmegaConf

    cfg = Wav2Vec2Config(
        conv_feature_layers="[(32, 10, 5)] + [(32, 3, 2)] * 4 + [(32, 2, 2)] * 2",
        encoder_layers=layers,
        encoder_embed_dim=48,
        encoder_ffn_embed_dim=96,
        encoder_attention_heads=4,
        conv_pos=16,
        conv_pos_groups=4,
        final_dim=16,
        latent_vars=8,
        latent_groups=2,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Wav2Vec2Model(cfg)
    model_cfg = OmegaConf.to_container(OmegaConf.structured(cfg), resolve=True, enum_to_str=True)
    model_cfg["_name"] = "wav2vec2"
    state = {
        "args": None,
        "cfg": {
            "_name": None,
            "model": model_cfg,
            "task": {"_name": "audio_pretraining", "normalize": False, "sample_rate": 16000},
        },
        "model": model.state_dict(),
        "criterion": None,
        "optimizer_history": [
            {
                "criterion_name": "Wav2vecCriterion",
                "optimizer_name": "Adam",
                "lr_scheduler_state": {},
                "num_updates": 0,
            }
        ],
        "task_state": {},
        "extra_state": {"train_iterator": {"epoch": 1}},
        "last_optimizer_state": None,
    }
    torch.save(state, path)
    return path


@pytest.fixture(scope="module")
def w2v_checkpoint(tmp_path_factory):
    return make_wav2vec2_checkpoint(tmp_path_factory.mktemp("w2v") / "checkpoint_tiny.pt")


@pytest.fixture(scope="module")
def w2v_tok(corpus, w2v_checkpoint):
    return fit_tokenizer(
        "w2v-kmeans",
        corpus["speech"],
        codebook_size=16,
        checkpoint=w2v_checkpoint,
        layer=2,
        audio_manifest=corpus["audio"],
        seed=3,
        progress=False,
    )


# ----------------------------------------------------------------------------- the 40 ms grid


def test_stacking_follows_the_grid_and_repeats_the_last_frame():
    frames = torch.arange(5, dtype=torch.float32).unsqueeze(1).repeat(1, 2)  # frame i holds (i, i)
    steps = stack_frames(frames)
    assert steps.shape == (grid_length(5), 8)
    assert steps[0].tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    assert steps[1].tolist() == [4, 4, 4, 4, 4, 4, 4, 4]
    states = torch.arange(5, dtype=torch.float32).unsqueeze(1)
    assert average_pairs(states, 3).squeeze(1).tolist() == [0.5, 2.5, 4.0]
    assert average_pairs(states, 2).squeeze(1).tolist() == [0.5, 2.5]  # extra states are dropped


@pytest.mark.parametrize("kind", ["kmeans", "bestrq"])
def test_synthetic_lengths_1_to_50(kind, kmeans_tok, bestrq_tok):
    tok = kmeans_tok if kind == "kmeans" else bestrq_tok
    g = torch.Generator().manual_seed(0)
    for n in range(1, 51):
        z = tok.units_for_features(torch.randn(n, 80, generator=g) * 3 + 10)
        assert z.dtype == torch.long and len(z) == grid_length(n), n
        assert 0 <= int(z.min()) and int(z.max()) < tok.codebook_size


def test_real_clip_lengths_including_the_shortest(clips, kmeans_tok, bestrq_tok):
    n_frames = [len(f) for _, _, f in clips]
    assert min(n_frames) <= 8, "the shortest clips of the game are a few frames long"
    for tok in (kmeans_tok, bestrq_tok):
        for z, n in zip(tok.units_for_batch([f for _, _, f in clips]), n_frames):
            assert len(z) == grid_length(n)
        for _, wav, f in clips[:N_SHORTEST]:
            assert len(tok.units_for_waveform(wav)) == grid_length(len(f))


def test_w2v_lengths_from_waveforms(clips, w2v_tok):
    rng = np.random.default_rng(0)
    for n_samples in list(range(400, 400 + 160 * 52, 101)) + [
        len(w) for _, w, _ in clips[: N_SHORTEST + 4]
    ]:
        wav = (0.1 * rng.standard_normal(n_samples)).astype(np.float32)
        assert len(w2v_tok.units_for_waveform(wav)) == grid_length(n_fbank_frames(n_samples)), (
            n_samples
        )
    with pytest.raises(TokenizerError, match="shorter than one 25 ms frame"):
        w2v_tok.units_for_waveform(np.zeros(399, dtype=np.float32))
    with pytest.raises(TokenizerError, match="waveform"):
        w2v_tok.units_for_features(torch.zeros(10, 80))


# ----------------------------------------------------------------------------- the search


def test_search_is_exact_and_batch_independent():
    g = torch.Generator().manual_seed(0)
    codebook = torch.randn(50, 12, generator=g)
    codebook[7] = codebook[3]  # an exact tie: the lower index must win
    x = torch.cat(
        [
            torch.randn(500, 12, generator=g),
            codebook[3:4] + 1e-9,
            (codebook[0:1] + codebook[1:2]) / 2,
        ]
    )
    exact = torch.cdist(x.double(), codebook.double()).argmin(dim=1)
    ids = nearest(x, codebook)[0]
    assert torch.equal(ids, exact)
    assert int(ids[500]) == 3
    for chunk in (1, 7, 64):
        assert torch.equal(nearest(x, codebook, chunk_size=chunk)[0], ids)


def test_reservoir_is_bounded_seeded_and_uniform():
    def run(seed):
        r = Reservoir(100, seed)
        for start in range(0, 10_000, 37):
            r.add(np.arange(start, min(start + 37, 10_000), dtype=np.float32)[:, None])
        return r

    a, b = run(5), run(5)
    assert a.sample().shape == (100, 1) and np.array_equal(a.sample(), b.sample())
    assert not np.array_equal(a.sample(), run(6).sample())
    means = [run(s).sample().mean() for s in range(20)]
    assert abs(np.mean(means) - 4999.5) < 400  # a uniform sample of 0..9999
    stats = RunningStats(2)
    data = np.random.default_rng(0).standard_normal((1000, 2)) * [2, 5] + [1, -3]
    for chunk in np.array_split(data, 7):
        stats.add(chunk)
    mean, std = stats.result()
    assert np.allclose(mean, data.mean(0), atol=1e-5) and np.allclose(std, data.std(0), atol=1e-5)


# ----------------------------------------------------------------------------- determinism and files


def test_same_ids_after_save_load_and_in_another_process(
    tmp_path, corpus, clips, kmeans_tok, bestrq_tok
):
    """A fresh process with another thread count reads the features itself and gets the same ids."""
    feats = [f for _, _, f in clips]
    script = (
        "import json, sys, torch\n"
        "torch.set_num_threads(1)\n"
        "from mu2slam_fairseq.data.io.features import load_features\n"
        "from mu2slam_fairseq.data.io.manifest import read_manifest\n"
        "from mu2slam_fairseq.speech_tokenizer import load_tokenizer\n"
        "rows = read_manifest(sys.argv[1])\n"
        "feats = [load_features(r['audio'], sys.argv[2]) for r in rows]\n"
        "print(json.dumps([[load_tokenizer(p).units_for_features(f).tolist() for f in feats] for p in sys.argv[3:]]))\n"
    )
    paths, expected = [], []
    for name, tok in (("kmeans", kmeans_tok), ("bestrq", bestrq_tok)):
        path = tmp_path / f"{name}.pt"
        tok.save(path)
        here = [tok.units_for_features(f).tolist() for f in feats]
        loaded = load_tokenizer(path)
        assert [loaded.units_for_features(f).tolist() for f in feats] == here
        assert loaded.settings == tok.settings and loaded.kind == name
        paths.append(str(path))
        expected.append(here)
    out = subprocess.run(
        [sys.executable, "-c", script, str(corpus["speech"]), str(corpus["dir"]), *paths],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(out.stdout) == expected


def test_fitting_is_seeded(corpus, tmp_path):
    a = fit_tokenizer(
        "kmeans", corpus["speech"], codebook_size=16, seed=7, max_samples=500, progress=False
    )
    b = fit_tokenizer(
        "kmeans", corpus["speech"], codebook_size=16, seed=7, max_samples=500, progress=False
    )
    assert torch.equal(a.codebook, b.codebook) and a.settings["samples"] == 500
    a.save(tmp_path / "a.pt")
    b.save(tmp_path / "b.pt")
    assert (tmp_path / "a.pt").read_bytes() == (tmp_path / "b.pt").read_bytes()


def _torch_archive(tmp_path, name, obj):
    path = tmp_path / name
    torch.save(obj, path)
    return path


@pytest.mark.parametrize(
    "case",
    [
        "random",
        "truncated",
        "cut_short",
        "empty",
        "foreign",
        "checkpoint",
        "text",
        "bit_flip",
        "newer",
        "inconsistent",
        "missing",
        "folder",
    ],
)
def test_bad_files_give_a_clear_error(case, tmp_path, kmeans_tok, w2v_checkpoint):
    good = tmp_path / "good.pt"
    kmeans_tok.save(good)
    data = good.read_bytes()
    path = tmp_path / f"{case}.pt"
    if case == "random":
        path.write_bytes(np.random.default_rng(0).bytes(4096))
    elif case == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif case == "cut_short":
        path.write_bytes(data[:100])
    elif case == "empty":
        path.write_bytes(b"")
    elif case == "foreign":
        _torch_archive(tmp_path, path.name, {"weight": torch.zeros(3), "note": "something else"})
    elif case == "checkpoint":
        path = w2v_checkpoint
    elif case == "text":
        path.write_text("id\taudio\tn_frames\n", encoding="utf-8")
    elif case == "bit_flip":
        # flip one bit inside the codebook's bytes: the archive still unpickles
        import zipfile

        info = max(zipfile.ZipFile(good).infolist(), key=lambda i: i.file_size)
        at = (
            info.header_offset
            + 30
            + len(info.filename.encode())
            + len(info.extra)
            + info.file_size // 2
        )
        flipped = bytearray(data)
        flipped[at] ^= 0x04
        path.write_bytes(bytes(flipped))
    elif case == "newer":
        state = kmeans_tok.state()
        state["version"] = 99
        from mu2slam_fairseq.speech_tokenizer.storage import save_state

        save_state(state, path)
    elif case == "inconsistent":
        state = kmeans_tok.state()
        state["codebook"] = state["codebook"][:, :10]
        from mu2slam_fairseq.speech_tokenizer.storage import save_state

        save_state(state, path)
    elif case == "folder":
        path = tmp_path
    with pytest.raises(TokenizerFileError) as err:
        load_tokenizer(path)
    assert str(path) in str(err.value)
    assert "Traceback" not in str(err.value) and len(str(err.value)) < 400


@pytest.mark.parametrize("kind", ["w2v-kmeans", "w2vbert"])
@pytest.mark.parametrize("case", ["missing", "random"])
def test_a_missing_or_unreadable_checkpoint_is_named(kind, case, tmp_path):
    path = tmp_path / "model.pt"
    if case == "random":
        path.write_bytes(np.random.default_rng(0).bytes(4096))
    expected = (
        "no such checkpoint file" if case == "missing" else "cannot load as a fairseq checkpoint"
    )
    with pytest.raises(TokenizerError, match=f"^{path}: {expected}"):
        fit_tokenizer(kind, tmp_path / "speech.tsv", checkpoint=path, layer=1, progress=False)


def test_cli_reports_a_bad_file_without_a_traceback(tmp_path, corpus, capsys):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(SystemExit) as stop:
        cli.main(["apply", "--tokenizer", str(bad), "--manifest", str(corpus["speech"]), "--quiet"])
    assert stop.value.code == 1
    err = capsys.readouterr().err
    assert str(bad) in err and "Traceback" not in err


def test_save_is_atomic_and_leaves_no_temporary_files(tmp_path, kmeans_tok):
    path = tmp_path / "tok.pt"
    kmeans_tok.save(path)
    kmeans_tok.save(path)  # overwriting in place
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tok.pt"]


# ----------------------------------------------------------------------------- the kinds


def test_kmeans_uses_most_of_a_small_codebook_on_real_clips(corpus, kmeans_tok):
    use = usage(kmeans_tok, corpus["speech"], progress=False)
    assert use.utterances == len(corpus["ids"])
    assert use.used / use.codebook_size > 0.9, use
    assert 1 < use.perplexity <= use.codebook_size


def test_bestrq_is_random_projection_with_normalised_codebook(bestrq_tok, corpus):
    assert bestrq_tok.projection.shape == (320, 16)
    assert torch.allclose(bestrq_tok.codebook.norm(dim=1), torch.ones(32), atol=1e-5)
    again = fit_tokenizer(
        "bestrq", corpus["speech"], codebook_size=32, seed=3, max_utterances=3, progress=False
    )
    # nothing but the statistics depends on the data
    assert torch.equal(again.projection, bestrq_tok.projection) and torch.equal(
        again.codebook, bestrq_tok.codebook
    )


def test_w2v_kmeans_file_runs_without_the_checkpoint(
    tmp_path, corpus, clips, w2v_tok, w2v_checkpoint
):
    assert w2v_tok.needs_audio and w2v_tok.settings["layer"] == 2
    assert w2v_tok.hidden["config"]["encoder_layers"] == 2 and w2v_tok.hidden["total_layers"] == 3
    assert not any(k.startswith("encoder.layers.2.") for k in w2v_tok.hidden["weights"])
    here = [w2v_tok.units_for_waveform(w).tolist() for _, w, _ in clips[-5:]]
    # the same hidden states as fairseq's own model at that layer
    from fairseq import checkpoint_utils

    models, _, _ = checkpoint_utils.load_model_ensemble_and_task([str(w2v_checkpoint)])
    model = models[0].eval()
    wav = torch.from_numpy(clips[-1][1]).unsqueeze(0)
    with torch.inference_mode():
        ref = model.extract_features(wav, None, mask=False, layer=1)["x"][0]
        ours = w2v_tok.hidden_model()(wav[0])
    assert torch.allclose(ref, ours, atol=1e-5)
    moved = tmp_path / "w2v_tok.pt"
    w2v_tok.save(moved)
    loaded = load_tokenizer(moved)
    assert [loaded.units_for_waveform(w).tolist() for _, w, _ in clips[-5:]] == here
    with pytest.raises(TokenizerError, match="outside 1..3"):
        fit_tokenizer(
            "w2v-kmeans", corpus["speech"], checkpoint=w2v_checkpoint, layer=4, progress=False
        )


def test_hubert_checkpoint_gives_fairseqs_hidden_states(tmp_path):
    import torch.nn.functional as F
    from fairseq.data import Dictionary
    from fairseq.models.hubert.hubert import HubertConfig, HubertModel
    from fairseq.tasks.hubert_pretraining import HubertPretrainingConfig
    from omegaconf import OmegaConf

    from mu2slam_fairseq.speech_tokenizer.hidden import HiddenStates, read_checkpoint

    cfg = HubertConfig(
        conv_feature_layers="[(32, 10, 5)] + [(32, 3, 2)] * 4 + [(32, 2, 2)] * 2",
        encoder_layers=3,
        encoder_embed_dim=48,
        encoder_ffn_embed_dim=96,
        encoder_attention_heads=4,
        conv_pos=16,
        conv_pos_groups=4,
        final_dim=16,
        label_rate=50,
    )
    task = HubertPretrainingConfig(data=str(tmp_path), labels=["km"], label_rate=50, normalize=True)
    labels = Dictionary()
    for i in range(20):
        labels.add_symbol(str(i))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = HubertModel(cfg, task, [labels]).eval()
    plain = {
        name: dict(
            OmegaConf.to_container(OmegaConf.structured(c), resolve=True, enum_to_str=True), _name=n
        )
        for name, c, n in (("model", cfg, "hubert"), ("task", task, "hubert_pretraining"))
    }
    torch.save(
        {
            "args": None,
            "cfg": plain,
            "model": model.state_dict(),
            "extra_state": {"train_iterator": {}},
            "optimizer_history": [
                {
                    "criterion_name": "hubert",
                    "optimizer_name": "adam",
                    "lr_scheduler_state": {},
                    "num_updates": 0,
                }
            ],
        },
        tmp_path / "hubert.pt",
    )
    payload = read_checkpoint(tmp_path / "hubert.pt", 2)
    assert payload["architecture"] == "hubert" and payload["normalize_waveform"]
    wav = torch.from_numpy(np.random.default_rng(0).standard_normal(16000).astype(np.float32)) * 0.1
    with torch.inference_mode():
        ref, _ = model.extract_features(
            F.layer_norm(wav, wav.shape).unsqueeze(0), None, mask=False, output_layer=2
        )
    assert torch.allclose(HiddenStates(payload)(wav), ref[0], atol=1e-5)


def test_w2v_kmeans_needs_audio_for_stored_features(corpus, w2v_checkpoint):
    with pytest.raises(TokenizerError, match="audio-manifest"):
        fit_tokenizer(
            "w2v-kmeans",
            corpus["speech"],
            codebook_size=4,
            checkpoint=w2v_checkpoint,
            layer=1,
            progress=False,
        )


# ----------------------------------------------------------------------------- application and report


def test_apply_writes_and_refreshes_the_units_column(tmp_path, corpus, kmeans_tok, bestrq_tok):
    rows = read_manifest(corpus["speech"])
    mixed = [dict(r, src_text="") for r in rows[:12]] + [
        {"id": "text_1", "audio": "", "n_frames": "", "src_text": "ahoj", "src_lang": "cs"}
    ]
    manifest = corpus["dir"] / "mixed.tsv"
    write_manifest(manifest, mixed, ["id", "audio", "n_frames", "src_text", "src_lang"])
    tok_path = tmp_path / "km.pt"
    kmeans_tok.save(tok_path)
    cli.main(["apply", "--tokenizer", str(tok_path), "--manifest", str(manifest), "--quiet"])
    header = manifest.read_text(encoding="utf-8").splitlines()[0].split("\t")
    assert header == ["id", "audio", "n_frames", "src_text", "src_lang", "units"]
    out = read_manifest(manifest)
    assert out[-1]["units"] == "" and out[-1]["src_text"] == "ahoj"
    for row in out[:-1]:
        ids = [int(u) for u in row["units"].split()]
        assert len(ids) == grid_length(int(row["n_frames"]))
        assert all(0 <= i < 64 for i in ids)
    from mu2slam_fairseq.data.io.features import load_features

    first = load_features(out[0]["audio"], corpus["dir"])
    assert out[0]["units"] == " ".join(map(str, kmeans_tok.units_for_features(first).tolist()))
    # refresh with another tokenizer: every speech row is rewritten, nothing else changes
    summary = apply_to_manifest(bestrq_tok, manifest, progress=False)
    assert summary.speech_rows == 12 and not summary.failed and not summary.length_mismatches
    again = read_manifest(manifest)
    assert [r["units"] for r in again[:-1]] == [
        " ".join(
            map(
                str,
                bestrq_tok.units_for_features(load_features(r["audio"], corpus["dir"])).tolist(),
            )
        )
        for r in again[:-1]
    ]
    assert [{k: v for k, v in r.items() if k != "units"} for r in again] == [
        {k: v for k, v in r.items() if k != "units"} for r in out
    ]
    assert not [p for p in corpus["dir"].iterdir() if p.name.endswith(".tmp")]


def test_apply_keeps_the_columns_of_a_manifest_with_a_byte_order_mark(corpus, kmeans_tok):
    manifest = corpus["dir"] / "marked.tsv"
    write_manifest(manifest, read_manifest(corpus["speech"])[:2], ["id", "audio", "n_frames"])
    manifest.write_bytes(b"\xef\xbb\xbf" + manifest.read_bytes())
    apply_to_manifest(kmeans_tok, manifest, progress=False)
    header = manifest.read_text(encoding="utf-8").splitlines()[0].split("\t")
    assert header == ["id", "audio", "n_frames", "units"]
    assert all(r["units"] for r in read_manifest(manifest))


def test_apply_w2v_kind_with_an_audio_manifest(corpus, w2v_tok):
    manifest = corpus["dir"] / "w2v_units.tsv"
    write_manifest(manifest, read_manifest(corpus["speech"])[:6], ["id", "audio", "n_frames"])
    with pytest.raises(TokenizerError, match="audio-manifest"):
        apply_to_manifest(w2v_tok, manifest, progress=False)
    apply_to_manifest(w2v_tok, manifest, audio_manifest=corpus["audio"], progress=False)
    for row in read_manifest(manifest):
        assert len(row["units"].split()) == grid_length(int(row["n_frames"]))


def test_report_prints_usage_and_stability(tmp_path, corpus, kmeans_tok, capsys):
    tok_path = tmp_path / "km.pt"
    kmeans_tok.save(tok_path)
    cli.main(
        [
            "report",
            "--tokenizer",
            str(tok_path),
            "--manifest",
            str(corpus["speech"]),
            "--audio-manifest",
            str(corpus["audio"]),
            "--stability-utterances",
            "6",
            "--quiet",
        ]
    )
    text = capsys.readouterr().out
    for expected in ("used entries", "perplexity", "gain -6 dB", "noise 30 dB SNR"):
        assert expected in text, text
    stab = stability(
        kmeans_tok, corpus["speech"], corpus["audio"], max_utterances=6, progress=False
    )
    assert stab.utterances == 6 and 0 <= stab.unchanged_noise <= 1 and 0 <= stab.unchanged_gain <= 1
    with pytest.raises(TokenizerError, match="audio-manifest"):
        stability(kmeans_tok, corpus["speech"], None, max_utterances=2, progress=False)


def test_utterance_normalisation_makes_ids_independent_of_gain(corpus):
    tok = fit_tokenizer(
        "kmeans", corpus["speech"], codebook_size=32, normalization="utterance", progress=False
    )
    stab = stability(tok, corpus["speech"], corpus["audio"], max_utterances=5, progress=False)
    assert stab.unchanged_gain > 0.95, stab


def test_benchmark_prints_throughput_beside_the_ceiling(capsys):
    from mu2slam_fairseq.benchmarks.tokenizer import main

    main(["--entries", "64", "--steps", "2048", "--n", "128", "--repeats", "1"])
    out = capsys.readouterr().out
    assert "fp32 matmul ceiling" in out and "k steps/s" in out and "% of ceiling" in out, out


# ----------------------------------------------------------------------------- the default corpus


def _corpus_dir(built) -> Path:
    folder = Path(built)
    return folder if folder.is_dir() else folder.parent


def test_every_default_corpus_utterance_gets_one_id_per_step(default_corpus, kmeans_tok):
    """Every real utterance of every manifest, shortest clips included, matches the front end's grid."""
    from mu2slam_fairseq.data.io.features import load_features

    folder = _corpus_dir(default_corpus)
    seen = {}
    for manifest in sorted(folder.glob("*.tsv")):
        for row in read_manifest(manifest):
            if row["audio"] and row["audio"] not in seen:
                seen[row["audio"]] = int(row["n_frames"])
    assert len(seen) > 1000
    refs = sorted(seen)
    for start in range(0, len(refs), 256):
        chunk = refs[start : start + 256]
        feats = [load_features(r, folder) for r in chunk]
        for ref, f, z in zip(chunk, feats, kmeans_tok.units_for_batch(feats)):
            assert len(f) == seen[ref] and len(z) == grid_length(seen[ref]), ref
    assert min(seen.values()) < 50


@pytest.mark.slow
def test_kmeans_1024_on_the_default_corpus(default_corpus, tmp_path):
    """The paper-sized codebook, fitted on the unlabeled speech, uses more than 90% of its entries."""
    manifest = _corpus_dir(default_corpus) / "train_speech.tsv"
    tok = fit_tokenizer("kmeans", manifest, codebook_size=1024, progress=False)
    tok.save(tmp_path / "km1024.pt")
    use = usage(load_tokenizer(tmp_path / "km1024.pt"), manifest, progress=False)
    assert use.used / 1024 > 0.9, use
