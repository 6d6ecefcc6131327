"""lhotse JSONL in (recording + supervision sets, cut sets) and out, on real speech."""

import gzip
import json

import numpy as np
import pytest

from mu2slam_fairseq.data.io.audio import fbank, load_waveform, n_fbank_frames
from mu2slam_fairseq.data.io.features import load_features
from mu2slam_fairseq.data.io.manifest import read_manifest
from mu2slam_manifests import lhotse_prep
from mu2slam_manifests.common import SEGMENT_NEEDS_FEATURES
from prep_fixtures import check_manifest, dropped, projection, speech, write_clip


def jsonl(path, records):
    data = "".join(json.dumps(r) + "\n" for r in records).encode()
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


def rec(rid, path, n, rate=16000, kind="file"):
    return {
        "id": rid,
        "sources": [{"type": kind, "channels": [0], "source": str(path)}],
        "sampling_rate": rate,
        "num_samples": n,
        "duration": n / rate,
        "channel_ids": [0],
    }


def sup(sid, rid, start, duration, **extra):
    return {
        "id": sid,
        "recording_id": rid,
        "start": start,
        "duration": duration,
        "channel": 0,
        **extra,
    }


@pytest.fixture(scope="module")
def sets(tmp_path_factory, fillets_root):
    root = tmp_path_factory.mktemp("lhotse")
    write_clip(root / "a.wav", speech(fillets_root, 1)[0])
    wav = load_waveform(root / "a.wav")  # as stored: 16-bit samples
    whole = len(wav) / 16000
    recordings = jsonl(
        root / "recordings.jsonl.gz",
        [rec("a", root / "a.wav", len(wav)), rec("u", "https://x/u.wav", 16000, kind="url")],
    )
    supervisions = jsonl(
        root / "supervisions.jsonl",
        [
            sup("a-whole", "a", 0.0, whole, text="Hallo", language="nl", speaker="s1"),
            sup("a-seg", "a", 0.5, 1.0, text="Twee", language="nl"),
            sup("a-quiet", "a", 0.0, 1.0, language="nl"),
            sup("a-eng", "a", 0.0, whole, text="x", language="English"),
            sup(
                "a-st",
                "a",
                0.0,
                whole,
                text="Drie",
                language="nl",
                custom={"translation": "Three", "tgt_lang": "en"},
            ),
            sup("a-late", "a", 2.0, whole, text="Te laat", language="nl"),
            sup("orphan", "zz", 0.0, 1.0, text="Niets", language="nl"),
            sup("u-1", "u", 0.0, 1.0, text="Web", language="nl"),
        ],
    )
    return root, wav, recordings, supervisions


def run(args, capsys):
    status = lhotse_prep.main(args + ["--no-progress"])
    return status, capsys.readouterr()


def test_sets_to_audio_paths(sets, capsys):
    root, wav, recordings, supervisions = sets
    out = root / "audio_out"
    status, printed = run(
        [
            "--recordings",
            str(recordings),
            "--supervisions",
            str(supervisions),
            "--split",
            "dev",
            "--out",
            str(out),
        ],
        capsys,
    )
    assert status == 0, printed
    n = n_fbank_frames(len(wav))
    asr = check_manifest(out / "dev_asr_nl.tsv", "asr")
    assert projection(asr, "id", "n_frames", "src_text", "tgt_text", "speaker") == [
        ("a-whole", str(n), "Hallo", "Hallo", "s1"),
        ("a-st", str(n), "Drie", "Drie", ""),
    ]
    assert {r["audio"] for r in asr} == {str((root / "a.wav").absolute())}
    st = check_manifest(out / "dev_st_nl_en.tsv", "ast")
    assert projection(st, "id", "src_text", "tgt_text", "tgt_lang") == [
        ("a-st", "Drie", "Three", "en")
    ]
    assert not (out / "dev_speech_nl.tsv").exists()
    assert dropped(printed.out) == {
        SEGMENT_NEEDS_FEATURES: 2,
        lhotse_prep.NOT_A_CODE: 1,
        "segment outside its recording": 1,
        "supervision's recording_id is not in the recording set": 1,
        "recording source of type 'url'": 1,
    }


def test_segments_become_feature_items(sets, capsys):
    root, wav, recordings, supervisions = sets
    out = root / "feature_out"
    status, printed = run(
        [
            "--recordings",
            str(recordings),
            "--supervisions",
            str(supervisions),
            "--split",
            "train",
            "--lang",
            "nl",
            "--features",
            "--out",
            str(out),
        ],
        capsys,
    )
    assert status == 0, printed
    asr = check_manifest(out / "train_asr_nl.tsv", "asr")
    n = n_fbank_frames(len(wav))
    assert projection(asr, "id", "n_frames", "src_text") == [
        ("a-whole", str(n), "Hallo"),
        ("a-seg", "98", "Twee"),
        ("a-eng", str(n), "x"),
        ("a-st", str(n), "Drie"),
    ]
    speech_rows = check_manifest(out / "train_speech_nl.tsv", "speech")
    assert projection(speech_rows, "id", "n_frames") == [("a-quiet", "98")]
    feats = {r["id"]: load_features(r["audio"], out) for r in asr + speech_rows}
    np.testing.assert_array_equal(feats["a-seg"], fbank(wav[8000:24000]))
    np.testing.assert_array_equal(feats["a-quiet"], fbank(wav[:16000]))
    np.testing.assert_array_equal(feats["a-whole"], fbank(wav))
    assert "a-late" in printed.out and dropped(printed.out)["segment outside its recording"] == 1


def test_cuts_and_usage_errors(sets, capsys):
    root, wav, recordings, _ = sets
    a = rec("a", root / "a.wav", len(wav))
    cuts = jsonl(
        root / "cuts.jsonl.gz",
        [
            {
                "id": "cut-1",
                "start": 0.25,
                "duration": 1.5,
                "channel": 0,
                "recording": a,
                "supervisions": [
                    sup("s2", "a", 0.75, 0.5, text="twee", language="nl"),
                    sup("s1", "a", 0.0, 0.5, text="een", language="nl", speaker="p"),
                ],
                "type": "MonoCut",
            },
            {"id": "mix", "type": "MixedCut", "tracks": []},
        ],
    )
    out = root / "cut_out"
    status, printed = run(
        ["--cuts", str(cuts), "--split", "test", "--features", "--out", str(out)], capsys
    )
    assert status == 0, printed
    rows = check_manifest(out / "test_asr_nl.tsv", "asr")
    assert projection(rows, "id", "n_frames", "src_text", "speaker") == [
        ("cut-1", "148", "een twee", "p")
    ]
    np.testing.assert_array_equal(load_features(rows[0]["audio"], out), fbank(wav[4000:28000]))
    assert dropped(printed.out) == {"MixedCut (only MonoCut is read)": 1}

    with pytest.raises(SystemExit):
        lhotse_prep.main(["--recordings", str(recordings), "--split", "dev", "--out", str(out)])
    assert "give --recordings and --supervisions, or --cuts" in capsys.readouterr().err
    bad = root / "bad.jsonl"
    bad.write_text('{"id": "a"}\nnot json\n')
    assert lhotse_prep.main(["--cuts", str(bad), "--split", "dev", "--out", str(out)]) == 2
    assert f"{bad}:2: not a JSON line" in capsys.readouterr().err
    assert read_manifest(out / "test_asr_nl.tsv")[0]["id"] == "cut-1"


COLUMNS = ("id", "n_frames", "src_text", "tgt_text", "src_lang", "tgt_lang", "speaker")


def test_round_trip_manifest_cuts_manifest(tmp_path, fillets_root, capsys):
    """manifest -> lhotse JSONL -> manifest: the same rows, the same audio, the same features."""
    from mu2slam_manifests import folder, lhotse_export

    audio = tmp_path / "audio"
    wavs = speech(fillets_root, 3)
    write_clip(audio / "utt1.wav", wavs[0], 44100)
    write_clip(audio / "utt2.flac", wavs[1])
    write_clip(audio / "utt3.ogg", wavs[2], 22050, format="OGG", subtype="VORBIS")
    (tmp_path / "list.tsv").write_text("utt1\tEen\tOne\nutt2\tTwee\tTwo\nutt3\tDrie\tThree\n")
    common = ["--audio-dir", str(audio), "--lang", "nl", "--tgt-lang", "en"]
    common += ["--transcripts", str(tmp_path / "list.tsv"), "--split", "dev", "--no-progress"]
    for name, extra in (("plain", []), ("feats", ["--features"])):
        assert folder.main(common + ["--out", str(tmp_path / name)] + extra) == 0

    assert (
        lhotse_export.main(
            [str(tmp_path / "plain" / "dev_st_nl_en.tsv"), "--out", str(tmp_path / "lh")]
        )
        == 0
    )
    lh = tmp_path / "lh"
    sets = ["--recordings", str(lh / "dev_st_nl_en_recordings.jsonl.gz")]
    sets += ["--supervisions", str(lh / "dev_st_nl_en_supervisions.jsonl.gz")]
    cuts = ["--cuts", str(lh / "dev_st_nl_en_cuts.jsonl.gz")]
    for name, inputs, extra in (
        ("back", sets, []),
        ("back_cuts", cuts, []),
        ("back_feats", sets, ["--features"]),
        ("back_cuts_feats", cuts, ["--features"]),
    ):
        out = tmp_path / name
        assert (
            lhotse_prep.main(
                inputs + ["--split", "dev", "--no-progress", "--out", str(out)] + extra
            )
            == 0
        )
        original = tmp_path / ("feats" if extra else "plain")
        for manifest, kind in (("dev_asr_nl.tsv", "asr"), ("dev_st_nl_en.tsv", "ast")):
            before, after = read_manifest(original / manifest), check_manifest(out / manifest, kind)
            assert projection(after, *COLUMNS) == projection(before, *COLUMNS)
            assert [r["id"] for r in after] == ["utt1", "utt2", "utt3"]
            for b, a in zip(before, after):
                if extra:
                    np.testing.assert_array_equal(
                        load_features(a["audio"], out), load_features(b["audio"], original)
                    )
                else:
                    assert (out / a["audio"]).resolve() == (original / b["audio"]).resolve()
    capsys.readouterr()


def test_export_refuses_feature_references(tmp_path, capsys):
    from mu2slam_manifests import lhotse_export

    manifest = tmp_path / "train_asr_nl.tsv"
    manifest.write_text(
        "id\taudio\tn_frames\tsrc_text\ttgt_text\tsrc_lang\n"
        "a\tfbank80.zip:40:1000\t98\tEen\tEen\tnl\n"
    )
    assert lhotse_export.main([str(manifest), "--out", str(tmp_path / "lh")]) == 2
    err = capsys.readouterr().err
    assert f"{manifest}:2: audio 'fbank80.zip:40:1000' holds features, not audio" in err
    assert not (tmp_path / "lh").exists()
