"""mu2slam-prep-hf on shards laid out and typed as each dataset's Hugging Face copy is:
parquet from the Hub, arrow from save_to_disk, audio embedded as real speech re-encoded."""

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fairseq.data.audio.speech_to_text_dataset import SpeechToTextDatasetCreator

from mu2slam_fairseq.data.io.audio import fbank, load_waveform
from mu2slam_fairseq.data.io.features import load_features
from mu2slam_manifests import hf
from mu2slam_manifests.common import MISSING_AUDIO, UNREADABLE_AUDIO
from prep_fixtures import check_manifest, dropped, projection, speech, write_clip

AUDIO = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
VALUE = {"string": pa.string(), "int32": pa.int32(), "int64": pa.int64(), "bool": pa.bool_()}
VALUE |= {"float64": pa.float64()}
FLEURS_LANGS = ["af_za", "en_us", "nl_nl"]  # the card lists 102; lang_id indexes the list
VOXPOPULI_LANGS = ["en", "de", "fr", "es", "pl", "it", "ro", "hu", "cs", "nl", "fi", "hr"]


def encode(tmp, name, wav, rate=16000, **kwargs):
    """A real clip as the dataset stores it: the encoded file's bytes."""
    write_clip(tmp / name, wav, rate, **kwargs)
    return (tmp / name).read_bytes()


def table(schema, rows):
    """A table typed and described as ``datasets`` writes it: ``schema`` is
    ``[(column, "audio" | ("class", names) | value dtype)]``; the features go into the
    schema metadata under ``huggingface``."""
    fields, features = [], {}
    for name, kind in schema:
        if kind == "audio":
            fields.append(pa.field(name, AUDIO))
            features[name] = {"sampling_rate": 16000, "_type": "Audio"}
        elif isinstance(kind, tuple):
            fields.append(pa.field(name, pa.int64()))
            features[name] = {"names": kind[1], "_type": "ClassLabel"}
        else:
            fields.append(pa.field(name, VALUE[kind]))
            features[name] = {"dtype": kind, "_type": "Value"}
    meta = {b"huggingface": json.dumps({"info": {"features": features}}).encode()}
    data = {name: [r[i] for r in rows] for i, (name, _) in enumerate(schema)}
    return pa.table(data, schema=pa.schema(fields, metadata=meta))


def parquet(path, schema, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table(schema, rows), path, row_group_size=2)


def arrow_stream(path, schema, rows):
    """An Arrow IPC stream, as save_to_disk and the datasets cache write them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    t = table(schema, rows)
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, t.schema) as writer:
        for batch in t.to_batches(max_chunksize=2):
            writer.write_batch(batch)


def run(args, capsys):
    status = hf.main(args + ["--no-progress"])
    return status, capsys.readouterr()


def features_of(data, tmp_path):
    (tmp_path / "clip").write_bytes(data)
    return fbank(load_waveform(tmp_path / "clip"))


@pytest.fixture(scope="module")
def clips(tmp_path_factory, fillets_root):
    return tmp_path_factory.mktemp("clips"), speech(fillets_root, 4)


FLEURS = [
    ("id", "int32"),
    ("num_samples", "int32"),
    ("path", "string"),
    ("audio", "audio"),
    ("transcription", "string"),
    ("raw_transcription", "string"),
    ("gender", ("class", ["male", "female", "other"])),
    ("lang_id", ("class", FLEURS_LANGS)),
    ("language", "string"),
    ("lang_group_id", ("class", ["western_european_we", "other"])),
]


def test_fleurs_parquet_conversion(clips, tmp_path, capsys):
    """<config>/<split>/0000.parquet with WAV bytes; the sentence id repeats across
    speakers, so rows are keyed on the file name; lang_id is a ClassLabel."""
    tmp, wavs = clips
    wav = [encode(tmp, f"f{i}.wav", w) for i, w in enumerate(wavs[:3])]

    def row(sid, name, data, text, raw):
        audio = {"bytes": data, "path": name}
        return (sid, 1, f"/cache/train/{name}", audio, text, raw, 1, 2, "Dutch", 0)

    root = tmp_path / "fleurs"
    parquet(
        root / "nl_nl" / "train" / "0000.parquet",
        FLEURS,
        [
            row(7, "101.wav", wav[0], "een twee", "Een, twee."),
            row(7, "102.wav", wav[1], "een twee", "Een twee!"),
            row(8, "103.wav", wav[2], "", ""),
        ],
    )
    parquet(
        root / "nl_nl" / "validation" / "0000.parquet",
        FLEURS,
        [row(9, "201.wav", wav[2], "drie", "Drie.")],
    )
    out = tmp_path / "out"
    status, printed = run(["--dataset", "fleurs", "--dir", str(root), "--out", str(out)], capsys)
    assert status == 0, printed
    train = check_manifest(out / "train_asr_nl_nl.tsv", "asr")
    assert projection(train, "id", "src_text", "tgt_text", "src_lang", "speaker") == [
        ("101", "Een, twee.", "Een, twee.", "nl_nl", ""),
        ("102", "Een twee!", "Een twee!", "nl_nl", ""),
    ]
    dev = check_manifest(out / "dev_asr_nl_nl.tsv", "asr")
    assert projection(dev, "id", "src_text") == [("201", "Drie.")]
    for r, data in zip(train + dev, [wav[0], wav[1], wav[2]]):
        expected = features_of(data, tmp_path)
        np.testing.assert_array_equal(load_features(r["audio"], out), expected)
        assert r["n_frames"] == str(len(expected))
    assert dropped(printed.out) == {"raw_transcription: empty text": 1}
    assert "nl_nl/train/0000.parquet:row 2 (103)" in printed.out
    assert "validator: no problems" in printed.out

    status, printed = run(
        ["--dataset", "fleurs", "--dir", str(root), "--text", "normalized", "--out", str(out)],
        capsys,
    )
    assert status == 0, printed
    rows = check_manifest(out / "train_asr_nl_nl.tsv", "asr")
    assert projection(rows, "id", "src_text") == [("101", "een twee"), ("102", "een twee")]


COMMON_VOICE = [
    ("client_id", "string"),
    ("path", "string"),
    ("audio", "audio"),
    ("sentence", "string"),
    ("up_votes", "int64"),
    ("down_votes", "int64"),
    ("age", "string"),
    ("gender", "string"),
    ("accent", "string"),
    ("locale", "string"),
    ("segment", "string"),
]


def test_common_voice_save_to_disk_arrow(clips, tmp_path, capsys):
    """A DatasetDict written by save_to_disk: <split>/data-00000-of-00001.arrow (IPC
    stream) with state.json; MP3 at 48 kHz; a row whose bytes are null reads the local
    file its path names (the datasets cache of the loading-script era)."""
    tmp, wavs = clips
    mp3 = [encode(tmp, f"cv{i}.mp3", w, 48000, format="MP3") for i, w in enumerate(wavs[:3])]
    root = tmp_path / "cv_nl"
    clips_dir = tmp_path / "extracted" / "nl" / "clips"
    clips_dir.mkdir(parents=True)
    (clips_dir / "common_voice_nl_3.mp3").write_bytes(mp3[2])

    def row(name, audio, sentence, speaker):
        return (speaker, f"nl_train_0/{name}", audio, sentence, 2, 0, "", "", "", "nl", "")

    (root / "dataset_dict.json").parent.mkdir(parents=True)
    (root / "dataset_dict.json").write_text('{"splits": ["train", "test", "other"]}')
    train = [
        row(
            "common_voice_nl_1.mp3",
            {"bytes": mp3[0], "path": "common_voice_nl_1.mp3"},
            "Een.",
            "c1",
        ),
        row(
            "common_voice_nl_3.mp3",
            {"bytes": None, "path": str(clips_dir / "common_voice_nl_3.mp3")},
            "Drie.",
            "c3",
        ),
        row("common_voice_nl_4.mp3", {"bytes": None, "path": "gone/x.mp3"}, "Vier.", "c4"),
    ]
    for split, rows in (
        ("train", train),
        ("test", [row("common_voice_nl_2.mp3", {"bytes": mp3[1], "path": None}, "Twee.", "c2")]),
        ("other", [row("common_voice_nl_5.mp3", {"bytes": mp3[1], "path": None}, "", "c5")]),
    ):
        arrow_stream(root / split / "data-00000-of-00001.arrow", COMMON_VOICE, rows)
        (root / split / "state.json").write_text(json.dumps({"_split": split}))
    out = tmp_path / "out"
    status, printed = run(
        ["--dataset", "common_voice", "--dir", str(root), "--out", str(out)], capsys
    )
    assert status == 0, printed
    rows = check_manifest(out / "train_asr_nl.tsv", "asr")
    assert projection(rows, "id", "src_text", "src_lang", "speaker") == [
        ("common_voice_nl_1", "Een.", "nl", "c1"),
        ("common_voice_nl_3", "Drie.", "nl", "c3"),
    ]
    np.testing.assert_array_equal(
        load_features(rows[1]["audio"], out), features_of(mp3[2], tmp_path)
    )
    test = check_manifest(out / "test_asr_nl.tsv", "asr")
    assert projection(test, "id", "src_text", "speaker") == [("common_voice_nl_2", "Twee.", "c2")]
    assert dropped(printed.out) == {MISSING_AUDIO: 1}
    assert "other/data-00000-of-00001.arrow: split 'other' not read (see --splits)" in printed.out
    assert sorted(p.name for p in out.glob("*.tsv")) == ["test_asr_nl.tsv", "train_asr_nl.tsv"]


VOXPOPULI = [
    ("audio_id", "string"),
    ("language", ("class", VOXPOPULI_LANGS)),
    ("audio", "audio"),
    ("raw_text", "string"),
    ("normalized_text", "string"),
    ("gender", "string"),
    ("speaker_id", "string"),
    ("is_gold_transcript", "bool"),
    ("accent", "string"),
]


def test_voxpopuli_class_label_language_and_bad_audio(clips, tmp_path, capsys):
    tmp, wavs = clips
    wav = encode(tmp, "vp.wav", wavs[0])
    ids = ["20180206-0900-PLENARY-15-nl_20180206-16:10:06_5", "20180206-0900-PLENARY-15-nl_6"]

    def row(uid, data, raw, norm, speaker):
        return (
            uid,
            9,
            {"bytes": data, "path": f"{uid}.wav"},
            raw,
            norm,
            "female",
            speaker,
            True,
            "None",
        )

    root = tmp_path / "voxpopuli"
    parquet(
        root / "nl" / "train-00000-of-00001.parquet",
        VOXPOPULI,
        [
            row(ids[0], wav, "Dank u, voorzitter.", "dank u voorzitter", "124737"),
            row(ids[1], b"not audio", "Goed.", "goed", "1"),
            row("20180206_7", wav, "", "leeg", "2"),
        ],
    )
    out = tmp_path / "out"
    status, printed = run(["--dataset", "voxpopuli", "--dir", str(root), "--out", str(out)], capsys)
    assert status == 0, printed
    rows = check_manifest(out / "train_asr_nl.tsv", "asr")
    assert projection(rows, "id", "src_text", "src_lang", "speaker") == [
        (ids[0], "Dank u, voorzitter.", "nl", "124737")
    ]
    assert dropped(printed.out) == {UNREADABLE_AUDIO: 1, "raw_text: empty text": 1}
    assert f"nl/train-00000-of-00001.parquet:row 1 ({ids[1]})" in printed.out


MLS = [
    ("audio", "audio"),
    ("original_path", "string"),
    ("begin_time", "float64"),
    ("end_time", "float64"),
    ("transcript", "string"),
    ("audio_duration", "float64"),
    ("speaker_id", "string"),
    ("chapter_id", "string"),
    ("file", "string"),
    ("id", "string"),
]


def test_mls_config_language_and_subset_splits(clips, tmp_path, capsys):
    """dutch/<split>-00000-of-00001.parquet, FLAC bytes: the English config name becomes
    its code; 9_hours is read only when asked for, as train_9h."""
    tmp, wavs = clips
    flac = [encode(tmp, f"m{i}.flac", w) for i, w in enumerate(wavs[:2])]

    def row(uid, data, text):
        speaker, book, _ = uid.split("_")
        audio = {"bytes": data, "path": f"{uid}.flac"}
        return (audio, "http://x/a.mp3", 1.0, 3.0, text, 2.0, speaker, book, f"{uid}.flac", uid)

    root = tmp_path / "mls"
    parquet(root / "dutch" / "train-00000-of-00002.parquet", MLS, [row("1_2_3", flac[0], "een")])
    parquet(root / "dutch" / "train-00001-of-00002.parquet", MLS, [row("1_2_4", flac[1], "twee")])
    parquet(root / "dutch" / "9_hours-00000-of-00001.parquet", MLS, [row("1_2_3", flac[0], "een")])
    out = tmp_path / "out"
    status, printed = run(["--dataset", "mls", "--dir", str(root), "--out", str(out)], capsys)
    assert status == 0, printed
    rows = check_manifest(out / "train_asr_nl.tsv", "asr")
    assert projection(rows, "id", "src_text", "src_lang", "speaker") == [
        ("1_2_3", "een", "nl", "1"),
        ("1_2_4", "twee", "nl", "1"),
    ]
    assert "split '9_hours' not read" in printed.out
    assert not (out / "train_9h_asr_nl.tsv").exists()

    out9 = tmp_path / "out9"
    args = ["--dataset", "mls", "--dir", str(root), "--splits", "9_hours", "--out", str(out9)]
    status, printed = run(args, capsys)
    assert status == 0, printed
    assert projection(check_manifest(out9 / "train_9h_asr_nl.tsv", "asr"), "id") == [("1_2_3",)]


COVOST = [
    ("client_id", "string"),
    ("file", "string"),
    ("audio", "audio"),
    ("sentence", "string"),
    ("translation", "string"),
    ("id", "string"),
]


def test_covost2_speech_translation(clips, tmp_path, capsys):
    """<src>_<tgt>/<split>-*.parquet: ST and ASR manifests; fairseq's own reader reads
    the texts back unchanged."""
    tmp, wavs = clips
    mp3 = [encode(tmp, f"c{i}.mp3", w, 48000, format="MP3") for i, w in enumerate(wavs[:3])]

    def row(n, data, sentence, translation):
        uid = f"common_voice_nl_{n}"
        audio = {"bytes": data, "path": f"{uid}.mp3"}
        return (f"spk{n}", f"/data/nl/clips/{uid}.mp3", audio, sentence, translation, uid)

    root = tmp_path / "covost2"
    parquet(
        root / "nl_en" / "train-00000-of-00001.parquet",
        COVOST,
        [
            row(1, mp3[0], 'Hij zei: "ja".', 'He said: "yes".'),
            row(2, mp3[1], "Twee.", ""),
        ],
    )
    parquet(
        root / "nl_en" / "validation-00000-of-00001.parquet",
        COVOST,
        [row(3, mp3[2], "Drie \\ vier.", "Three \\ four.")],
    )
    out = tmp_path / "out"
    status, printed = run(["--dataset", "covost2", "--dir", str(root), "--out", str(out)], capsys)
    assert status == 0, printed
    assert sorted(p.name for p in out.glob("*.tsv")) == [
        "dev_asr_nl.tsv",
        "dev_st_nl_en.tsv",
        "train_asr_nl.tsv",
        "train_st_nl_en.tsv",
    ]
    st = check_manifest(out / "train_st_nl_en.tsv", "ast")
    assert projection(st, "id", "src_text", "tgt_text", "src_lang", "tgt_lang", "speaker") == [
        ("common_voice_nl_1", 'Hij zei: "ja".', 'He said: "yes".', "nl", "en", "spk1")
    ]
    asr = check_manifest(out / "train_asr_nl.tsv", "asr")
    assert projection(asr, "id", "src_text", "tgt_text") == [
        ("common_voice_nl_1", 'Hij zei: "ja".', 'Hij zei: "ja".'),
        ("common_voice_nl_2", "Twee.", "Twee."),
    ]
    assert st[0]["audio"] == asr[0]["audio"]  # one feature item per clip
    dev = check_manifest(out / "dev_st_nl_en.tsv", "ast")
    assert projection(dev, "id", "tgt_text") == [("common_voice_nl_3", "Three \\ four.")]
    samples = SpeechToTextDatasetCreator._load_samples_from_tsv(str(out), "train_st_nl_en")
    assert [(s["id"], s["tgt_text"]) for s in samples] == [("common_voice_nl_1", 'He said: "yes".')]
    assert dropped(printed.out) == {"translation: empty text": 1}
    assert "(3 distinct clips; total hours count each clip once)" in printed.out


def test_bad_inputs_name_the_file(clips, tmp_path, capsys):
    tmp, wavs = clips
    mp3 = encode(tmp, "b.mp3", wavs[0], 48000, format="MP3")
    root = tmp_path / "covost2"
    shard = root / "nl_en" / "train-00000-of-00001.parquet"
    no_sentence = [c for c in COVOST if c[0] != "sentence"]
    parquet(shard, no_sentence, [("s", "f", {"bytes": mp3, "path": None}, "One.", "x")])
    out = tmp_path / "out"
    assert hf.main(["--dataset", "covost2", "--dir", str(root), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{shard}: no column(s) sentence (it has client_id file audio translation id)" in err

    shard.write_bytes(b"PAR1 not really")
    assert hf.main(["--dataset", "covost2", "--dir", str(root), "--out", str(out)]) == 2
    assert f"{shard}: not a readable parquet shard" in capsys.readouterr().err

    vp = tmp_path / "vp" / "nl" / "train-00000-of-00001.parquet"
    vp.parent.mkdir(parents=True)
    t = table(VOXPOPULI, [("a", 9, {"bytes": mp3, "path": None}, "Een.", "een", "", "1", True, "")])
    pq.write_table(t.replace_schema_metadata({}), vp)
    args = ["--dataset", "voxpopuli", "--dir", str(vp.parent.parent), "--out", str(out)]
    assert hf.main(args + ["--no-progress"]) == 2
    assert f"{vp}: column language holds class numbers" in capsys.readouterr().err
    assert hf.main(args + ["--lang", "nl", "--no-progress"]) == 0
    assert projection(check_manifest(out / "train_asr_nl.tsv", "asr"), "id", "src_lang") == [
        ("a", "nl")
    ]
