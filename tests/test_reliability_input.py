"""Bad input, one fault at a time, through the entry points users run: the folder
preparation script (``mu2slam-prep-folder``), the validator (``mu2slam-validate``), the
datasets and the batching of the training tasks, and ``fairseq-train`` itself.

Each fault must end in an error that names the file and the line, or in a skip that is
counted and reported; none may surface as a crash once training is under way.
Real Dutch Fish Fillets speech throughout.
"""

import contextlib
import io
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml
from fairseq import options, tasks, utils

import mu2slam_fairseq  # noqa: F401  (registers the tasks)
from mu2slam_fairseq.data.io.audio import fbank
from mu2slam_fairseq.data.pipeline.datasets import DATASET_CLASSES
from mu2slam_fairseq.data.io.features import load_features, write_feature_zip
from mu2slam_fairseq.data.io.manifest import ManifestError, read_manifest, write_manifest
from mu2slam_fairseq.data.io.validate import main as validate_main
from mu2slam_fairseq.grid import grid_length
from mu2slam_manifests import folder
from prep_fixtures import dropped, speech, write_clip
from pretrain_corpus import build

REPO = Path(__file__).resolve().parents[1]
DATASET_LOG = "mu2slam_fairseq.data.pipeline.datasets"
ROWS_LOG = "mu2slam_fairseq.data.pipeline.rows"
BATCHING_LOG = "mu2slam_fairseq.data.pipeline.batching"


# ------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, fillets_root) -> Path:
    """The small real pre-training corpus (manifests over fbank80.zip, vocabulary, tokenizer)."""
    base = tmp_path_factory.mktemp("reliability_input")
    build(base, fillets_root)
    return base


@pytest.fixture(scope="module")
def task(corpus):
    return setup_task(corpus)


def setup_task(corpus: Path, *extra: str, config: str = "data.yaml"):
    args = options.parse_args_and_arch(
        options.get_training_parser(),
        [
            str(corpus),
            "--user-dir",
            str(REPO / "mu2slam_fairseq"),
            "--task",
            "mu2slam_pretrain",
            "--criterion",
            "mu2slam",
            "--arch",
            "mu2slam_tiny",
            "--data-config",
            config,
            *extra,
        ],
    )
    return tasks.setup_task(args), args


def dataset(task, path: Path, data_type: str):
    """The dataset training builds for one manifest of ``data_type``."""
    t, _ = task
    return DATASET_CLASSES[data_type](
        path, t.dictionary, t.encode, units_for_features=t.units_for_features()
    )


def rows_of(corpus: Path, name: str = "train_asr_nl.tsv"):
    return read_manifest(corpus / name)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory, fillets_root):
    """One ``mu2slam-prep-folder`` run over a folder with a fault in every clip but the first.

    Returns (audio folder, output folder, printed summary, exit status, {name: 16 kHz clip})."""
    root = tmp_path_factory.mktemp("prep_faults")
    d = root / "audio"
    wavs = speech(fillets_root, 4)
    write_clip(d / "good.wav", wavs[1])
    write_clip(d / "rate8k.wav", wavs[1], 8000)
    write_clip(d / "rate44k.flac", wavs[1], 44100)
    sf.write(d / "stereo.wav", np.stack([wavs[1], 0.5 * wavs[1]], axis=1), 16000)
    (d / "notaudio.wav").write_text("id\taudio\tn_frames\nthis is a manifest, not audio\n")
    nan = wavs[2].copy()
    nan[1000] = np.nan
    sf.write(d / "nan.wav", nan, 16000, subtype="FLOAT")
    full = io.BytesIO()
    sf.write(full, wavs[3], 16000, format="WAV")
    (d / "truncated.wav").write_bytes(full.getvalue()[: len(full.getvalue()) // 2])
    (d / "blank.wav").write_bytes((d / "good.wav").read_bytes())
    names = ["good", "rate8k", "rate44k", "stereo", "notaudio", "nan", "truncated", "blank"]
    lines = [f"{n}\t{'   ' if n == 'blank' else 'Wat is dit voor raar schip?'}" for n in names]
    (root / "list.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = root / "out"
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        status = folder.main(
            [
                "--audio-dir",
                str(d),
                "--lang",
                "nl",
                "--transcripts",
                str(root / "list.tsv"),
                "--out",
                str(out),
                "--no-progress",
            ]
        )
    return d, out, stdout.getvalue(), status, {"good": wavs[1], "truncated": wavs[3]}


def prepared_rows(prepared):
    return {r["id"]: r for r in read_manifest(prepared[1] / "train_asr_nl.tsv")}


# ---------------------------------------------------------------- audio files


def test_missing_audio_is_refused_when_the_dataset_is_built(task, corpus):
    rows = rows_of(corpus)
    rows[2]["audio"] = "clips/gone.ogg"
    rows[5]["audio"] = "other.zip:54:99648"
    path = corpus / "missing_audio.tsv"
    write_manifest(path, rows)
    with pytest.raises(ManifestError) as e:
        dataset(task, path, "asr")
    assert e.value.path == str(path) and e.value.line == 4
    assert f"id {rows[2]['id']!r}: audio not found: {corpus / 'clips/gone.ogg'}" in str(e.value)
    assert "1 more row(s) with unusable audio" in str(e.value)


def test_empty_audio_file_is_refused_when_the_dataset_is_built(task, corpus):
    (corpus / "empty.ogg").write_bytes(b"")
    rows = rows_of(corpus)
    rows[0]["audio"] = "empty.ogg"
    path = corpus / "empty_audio.tsv"
    write_manifest(path, rows)
    with pytest.raises(
        ManifestError,
        match=rf"empty_audio.tsv:2: id '{rows[0]['id']}': empty audio file: .*empty.ogg",
    ):
        dataset(task, path, "asr")


def test_truncated_feature_zip_is_refused_when_the_dataset_is_built(task, corpus):
    data = (corpus / "fbank80.zip").read_bytes()
    (corpus / "cut.zip").write_bytes(data[: len(data) // 2])
    rows = [dict(r, audio=r["audio"].replace("fbank80.zip", "cut.zip")) for r in rows_of(corpus)]
    path = corpus / "cut_zip.tsv"
    write_manifest(path, rows)
    first_beyond = next(
        i for i, r in enumerate(rows) if sum(map(int, r["audio"].split(":")[1:])) > len(data) // 2
    )
    with pytest.raises(ManifestError) as e:
        dataset(task, path, "asr")
    assert e.value.line == first_beyond + 2 and f"{corpus / 'cut.zip'} is truncated" in str(e.value)


def test_truncated_audio_file(prepared, tmp_path, capsys):
    """Half a WAV decodes to its first half: the preparation script measures what is there;
    a manifest that still claims the whole clip fails the validator at its line."""
    d, out, stdout, _, wavs = prepared
    measured = int(prepared_rows(prepared)["truncated"]["n_frames"])
    whole = len(fbank(wavs["truncated"]))
    assert measured < whole * 0.6
    manifest = tmp_path / "claims_whole.tsv"
    write_manifest(
        manifest,
        [{"id": "t", "audio": str(d / "truncated.wav"), "n_frames": str(whole), "src_lang": "nl"}],
    )
    assert validate_main([str(manifest), "-q"]) == 1
    assert capsys.readouterr().out.startswith(
        f"{manifest}:2: n_frames {whole} disagrees with the audio: {d / 'truncated.wav'} has {measured} feature frames"
    )


def test_non_audio_file(prepared, task, corpus, caplog):
    """The script drops and counts it; in a manifest, the dataset skips it when a batch
    reaches it, with a warning naming the line, and counts it."""
    d, out, stdout, _, _ = prepared
    assert dropped(stdout)["unreadable audio"] == 1 and "notaudio" not in prepared_rows(prepared)
    rows = rows_of(corpus)
    shutil.copy(d / "notaudio.wav", corpus / "notaudio.wav")
    rows[1]["audio"] = "notaudio.wav"
    path = corpus / "not_audio.tsv"
    write_manifest(path, rows)
    ds = dataset(task, path, "asr")
    with caplog.at_level(logging.WARNING, logger=DATASET_LOG):
        batch = ds.collater([ds[i] for i in range(4)])
    assert batch["types"] == {"asr": 3} and ds.unusable.keys() == {1}
    (warning,) = [r.getMessage() for r in caplog.records if r.name == DATASET_LOG]
    assert warning.startswith(f"{path}:3: id {rows[1]['id']!r}: cannot load features: ")
    assert "Format not recognised" in warning and warning.endswith(
        "skipped (1 of 12 examples of not_audio unusable so far)"
    )


def test_too_many_unloadable_examples_stop_with_an_error(task, corpus):
    """More than 1% of a corpus (at least 10 examples) failing to load is the data's fault."""
    (corpus / "junk.wav").write_bytes(b"RIFF\0\0\0\0WAVE but nothing else" * 8)
    rows = rows_of(corpus)
    rows = [dict(r, audio="junk.wav") for r in rows[:11]] + rows[11:]
    path = corpus / "mostly_junk.tsv"
    write_manifest(path, rows)
    ds = dataset(task, path, "asr")
    assert all(ds[i] is None for i in range(10))
    with pytest.raises(
        ManifestError,
        match=r"mostly_junk.tsv:12: .*11 examples of .* could not be loaded, more than 10",
    ):
        ds[10]


def test_wrong_sample_rate(prepared, tmp_path, capsys):
    """8 kHz and 44.1 kHz clips are resampled: same n_frames as the 16 kHz clip, and the
    dataset's features have that many frames; a manifest counting native-rate samples
    fails the validator at its line."""
    d, out, stdout, _, _ = prepared
    rows = prepared_rows(prepared)
    for name in ("rate8k", "rate44k"):
        assert abs(int(rows[name]["n_frames"]) - int(rows["good"]["n_frames"])) <= 1
        assert len(load_features(rows[name]["audio"], out)) == int(rows[name]["n_frames"])
    native = sf.info(str(d / "rate44k.flac")).frames
    manifest = tmp_path / "native_rate.tsv"
    write_manifest(
        manifest,
        [{"id": "r", "audio": str(d / "rate44k.flac"), "n_frames": str(native), "src_lang": "nl"}],
    )
    assert validate_main([str(manifest), "-q"]) == 1
    assert capsys.readouterr().out.startswith(
        f"{manifest}:2: n_frames {native} disagrees with the audio"
    )


def test_stereo_is_mixed_down(prepared):
    d, out, _, _, _ = prepared
    rows = prepared_rows(prepared)
    assert rows["stereo"]["n_frames"] == rows["good"]["n_frames"]
    wav, _ = sf.read(d / "stereo.wav", dtype="float32")
    np.testing.assert_array_equal(
        load_features(rows["stereo"]["audio"], out), fbank(wav.mean(axis=1))
    )


def test_nan_or_infinite_values(prepared, task, corpus, caplog):
    """NaN samples: the script drops and counts the clip. Infinite stored features: the
    dataset skips the example with a warning naming the line, and counts it."""
    _, _, stdout, _, _ = prepared
    assert dropped(stdout)[
        "audio with NaN or infinite samples"
    ] == 1 and "nan" not in prepared_rows(prepared)
    rows = rows_of(corpus)
    feats = load_features(rows[3]["audio"], corpus)
    feats[10, 5] = np.inf
    refs = write_feature_zip(corpus / "inf.zip", [("inf", feats)])
    rows[3]["audio"] = refs["inf"]
    path = corpus / "inf_features.tsv"
    write_manifest(path, rows)
    ds = dataset(task, path, "asr")
    with caplog.at_level(logging.WARNING, logger=DATASET_LOG):
        assert ds[3] is None and ds[3] is None and ds[2] is not None
    (warning,) = [r.getMessage() for r in caplog.records if r.name == DATASET_LOG]  # counted once
    assert warning.startswith(f"{path}:5: id {rows[3]['id']!r}: cannot load features: ")
    assert "features contain NaN or infinite values" in warning


# ---------------------------------------------------------------------- texts


def test_empty_or_whitespace_only_text(prepared, task, corpus, caplog):
    _, _, stdout, _, _ = prepared
    assert dropped(stdout)["transcript: empty text"] == 1 and "blank" not in prepared_rows(prepared)
    rows = rows_of(corpus, "train_text.tsv")
    rows[4]["src_text"] = "   "
    rows[7]["src_text"] = "\u3000\u00a0"  # ideographic and no-break spaces
    path = corpus / "blank_text.tsv"
    write_manifest(path, rows)
    with caplog.at_level(logging.WARNING, logger=ROWS_LOG):
        ds = dataset(task, path, "text")
    assert len(ds) == len(rows) - 2
    assert [r.getMessage() for r in caplog.records if r.name == ROWS_LOG] == [
        f"{path}: skipped 2 of {len(rows)} rows with empty text or audio (first: line 6, id {rows[4]['id']!r})"
    ]


def test_text_and_audio_beyond_the_models_positions_are_skipped_and_counted(corpus, caplog):
    """Training's batching (as fairseq's trainer calls it, with the task's and the model's
    limits) leaves out a text beyond the encoder's positions and a long utterance whose
    speech-unit target is beyond the decoder's, and says how many and which."""
    rows = rows_of(corpus, "train_speech.tsv")
    long = np.concatenate(
        [load_features(r["audio"], corpus) for r in rows[:4]]
    )  # 4 real utterances
    refs = write_feature_zip(corpus / "long.zip", [("long", long)])
    write_manifest(
        corpus / "long_speech.tsv",
        rows + [dict(rows[0], id="long", audio=refs["long"], n_frames=str(len(long)))],
    )
    texts = rows_of(corpus, "train_text.tsv")
    write_manifest(
        corpus / "long_text.tsv",
        texts + [dict(texts[0], id="long", src_text=" ".join(t["src_text"] for t in texts))],
    )
    cfg = yaml.safe_load((corpus / "data.yaml").read_text())
    cfg["corpora"] = [c for c in cfg["corpora"] if c["type"] in ("speech", "text")]
    cfg["corpora"][0]["splits"]["train"] = "long_speech.tsv"
    cfg["corpora"][1]["splits"]["train"] = "long_text.tsv"
    (corpus / "long.yaml").write_text(yaml.safe_dump(cfg))
    t, args = setup_task(
        corpus,
        "--max-source-positions",
        "1000",
        "--max-target-positions",
        "300",
        config="long.yaml",
    )
    t.load_dataset("train")
    data = t.dataset("train")
    assert data.target_sizes[len(rows)] == grid_length(len(long)) > 300 and data.sizes[-1] > 1000
    limits = utils.resolve_max_positions(
        t.max_positions(), t.build_model(args).max_positions(), 100000
    )
    with caplog.at_level(logging.WARNING, logger=BATCHING_LOG):
        itr = t.get_batch_iterator(data, max_tokens=100000, max_positions=limits, seed=1)
    messages = [r.getMessage() for r in caplog.records if r.name == BATCHING_LOG]
    assert messages == [
        f"speech: skipped 1 of {len(rows) + 1} examples longer than 1000 encoder positions or 300 decoder positions "
        f"(first: {corpus / 'long_speech.tsv'}:{len(rows) + 2} id 'long')",
        f"text: skipped 1 of {len(texts) + 1} examples longer than 1000 encoder positions or 300 decoder positions "
        f"(first: {corpus / 'long_text.tsv'}:{len(texts) + 2} id 'long')",
    ]
    drawn = {
        int(i)
        for batch in itr.next_epoch_itr(shuffle=False)
        for view in batch["views"]
        for i in view["id"]
    }
    assert not {i % len(data) for i in drawn} & {len(rows), len(data) - 1}


# -------------------------------------------------------------- language codes


def test_unknown_language_code(prepared, tmp_path):
    """``--lang xx`` is written as given, and the validator run by the script names every row."""
    d = tmp_path / "audio"
    d.mkdir()
    shutil.copy(prepared[0] / "good.wav", d / "good.wav")
    (tmp_path / "list.tsv").write_text("good\tWat is dit voor raar schip?\n", encoding="utf-8")
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        status = folder.main(
            [
                "--audio-dir",
                str(d),
                "--lang",
                "xx",
                "--transcripts",
                str(tmp_path / "list.tsv"),
                "--out",
                str(tmp_path / "out"),
                "--no-progress",
            ]
        )
    assert status == 1
    assert (
        f"  {tmp_path / 'out' / 'train_asr_xx.tsv'}:2: unknown language code 'xx' in src_lang"
        in stdout.getvalue()
    )


# ------------------------------------------------------------------- manifests


BROKEN = {  # fault: (edit of the manifest's lines, line of the error (None: the last), message)
    "missing_column": (
        lambda lines: [
            "\t".join(f for i, f in enumerate(line.split("\t")) if i != 2) for line in lines
        ],
        1,
        "missing column(s) n_frames",
    ),
    "duplicate_id": (
        lambda lines: lines[:5] + [lines[2]] + lines[6:],
        6,
        "duplicate id (first on line 3)",
    ),
    "stray_tab": (
        lambda lines: lines[:3] + [lines[3].replace(" ", "\t", 1)] + lines[4:],
        4,
        "(a stray tab?)",
    ),
    "truncated": (
        lambda lines: lines[:-1] + [lines[-1][: len(lines[-1]) // 3]],
        None,
        "(a stray tab?)",
    ),
}


def broken_config(corpus: Path, fault: str):
    """A data config whose ASR manifest has ``fault``; (its name, the error's line, message)."""
    edit, line, text = BROKEN[fault]
    broken = edit((corpus / "train_asr_nl.tsv").read_text(encoding="utf-8").splitlines())
    (corpus / f"{fault}.tsv").write_text("\n".join(broken) + "\n", encoding="utf-8")
    cfg = yaml.safe_load((corpus / "data.yaml").read_text())
    next(c for c in cfg["corpora"] if c["name"] == "asr_nl")["splits"]["train"] = f"{fault}.tsv"
    (corpus / f"{fault}.yaml").write_text(yaml.safe_dump(cfg))
    return f"{fault}.yaml", line or len(broken), text


@pytest.mark.parametrize("fault", sorted(BROKEN))
def test_broken_manifest_stops_training_before_it_starts(corpus, fault):
    """Loading the training split (what fairseq-train does first) names the file and line."""
    config, line, text = broken_config(corpus, fault)
    t, _ = setup_task(corpus, config=config)
    with pytest.raises(ManifestError) as e:
        t.load_dataset("train")
    assert (e.value.path, e.value.line) == (str(corpus / f"{fault}.tsv"), line) and text in str(
        e.value
    )


def test_fairseq_train_reports_a_broken_manifest_in_its_last_line(corpus):
    """The real command: the last line of its output names the file and line."""
    config, line, _ = broken_config(corpus, "stray_tab")
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "fairseq_cli.train",
            str(corpus),
            "--user-dir",
            "mu2slam_fairseq",
            "--data-config",
            config,
            "--task",
            "mu2slam_pretrain",
            "--criterion",
            "mu2slam",
            "--arch",
            "mu2slam_tiny",
            "--optimizer",
            "adam",
            "--lr",
            "1e-3",
            "--max-update",
            "1",
            "--max-tokens",
            "4000",
            "--cpu",
            "--no-save",
            "--disable-validation",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode != 0
    last = out.stderr.strip().splitlines()[-1]
    assert (
        last.startswith("mu2slam_fairseq.data.io.manifest.ManifestError: ")
        and f"{corpus / 'stray_tab.tsv'}:{line}:" in last
    )
