"""Common Voice release fixture: two locales with different header versions (v12, v17+)."""

import pytest

from mu2slam_manifests import common_voice
from prep_fixtures import check_manifest, dropped, projection, speech, tsv, write_clip, write_text

V12 = [
    "client_id",
    "path",
    "sentence",
    "up_votes",
    "down_votes",
    "age",
    "gender",
    "accents",
    "locale",
    "segment",
]
V17 = [
    "client_id",
    "path",
    "sentence_id",
    "sentence",
    "sentence_domain",
    "up_votes",
    "down_votes",
    "age",
    "gender",
    "accents",
    "variant",
    "locale",
    "segment",
]


def v12_row(client, path, sentence):
    return [client, path, sentence, "2", "0", "", "", "", "sv-SE", ""]


def v17_row(client, path, sentence):
    return [
        client,
        path,
        "f3a9",
        sentence,
        "",
        "2",
        "1",
        "thirties",
        "female_feminine",
        "Belgique",
        "",
        "fr",
        "",
    ]


@pytest.fixture(scope="module")
def release(tmp_path_factory, fillets_root):
    root = tmp_path_factory.mktemp("cv") / "cv-corpus-17.0-2024-03-15"
    sv, fr = root / "sv-SE", root / "fr"
    names = [
        "common_voice_sv-SE_1.mp3",
        "common_voice_sv-SE_2.mp3",
        "common_voice_sv-SE_3.mp3",
        "common_voice_sv-SE_4.mp3",
        "common_voice_sv-SE_5.mp3",
        "common_voice_fr_9.mp3",
    ]
    frames = {}
    for name, wav in zip(names, speech(fillets_root, len(names))):
        frames[name] = write_clip(
            (fr if "_fr_" in name else sv) / "clips" / name, wav, 48000, format="MP3"
        )
    (fr / "clips" / "common_voice_fr_10.mp3").write_bytes(b"")
    write_text(
        sv / "train.tsv",
        tsv([V12, v12_row("s1", names[0], '"Hej, sa hon'), v12_row("s2", names[1], "")]),
    )
    write_text(sv / "dev.tsv", tsv([V12, v12_row("s3", names[2], "Två \\ tre.")]))
    write_text(sv / "test.tsv", tsv([V12, v12_row("s1", names[3], "Fyra 'fem'.")]))
    write_text(
        sv / "other.tsv",
        tsv(
            [
                V12,
                v12_row("s4", names[4], "Inte validerad."),
                v12_row("s3", names[2], "Två \\ tre."),
            ]
        ),
    )
    write_text(fr / "train.tsv", tsv([V17, v17_row("f1", names[5], "« Bonjour », dit-il.")]))
    write_text(fr / "dev.tsv", tsv([V17]))
    write_text(fr / "test.tsv", tsv([V17]))
    write_text(fr / "other.tsv", tsv([V17, v17_row("f2", "common_voice_fr_10.mp3", "Vide.")]))
    return root, frames


def test_common_voice_release(release, tmp_path, capsys):
    root, frames = release
    out = root / "manifests"  # inside the release: audio paths become relative
    assert (
        common_voice.main(["--root", str(root), "--speech", "--out", str(out), "--no-progress"])
        == 0
    )
    stdout = capsys.readouterr().out
    assert sorted(p.name for p in out.glob("*.tsv")) == [
        "dev_asr_sv-SE.tsv",
        "test_asr_sv-SE.tsv",
        "train_asr_fr.tsv",
        "train_asr_sv-SE.tsv",
        "train_speech_sv-SE.tsv",
    ]
    cols = ("id", "audio", "n_frames", "src_text", "tgt_text", "src_lang", "tgt_lang", "speaker")

    def row(lang, name, text, speaker):
        return (
            name[:-4],
            f"../{lang}/clips/{name}",
            str(frames[name]),
            text,
            text,
            lang,
            lang,
            speaker,
        )

    assert projection(check_manifest(out / "train_asr_sv-SE.tsv", "asr"), *cols) == [
        row("sv-SE", "common_voice_sv-SE_1.mp3", '"Hej, sa hon', "s1")
    ]
    assert projection(check_manifest(out / "dev_asr_sv-SE.tsv", "asr"), *cols) == [
        row("sv-SE", "common_voice_sv-SE_3.mp3", "Två \\ tre.", "s3")
    ]
    assert projection(check_manifest(out / "test_asr_sv-SE.tsv", "asr"), *cols) == [
        row("sv-SE", "common_voice_sv-SE_4.mp3", "Fyra 'fem'.", "s1")
    ]
    assert projection(check_manifest(out / "train_asr_fr.tsv", "asr"), *cols) == [
        row("fr", "common_voice_fr_9.mp3", "« Bonjour », dit-il.", "f1")
    ]
    speech_rows = check_manifest(out / "train_speech_sv-SE.tsv", "speech")
    assert projection(speech_rows, "id", "audio", "n_frames", "src_lang", "speaker") == [
        (
            "common_voice_sv-SE_5",
            "../sv-SE/clips/common_voice_sv-SE_5.mp3",
            str(frames["common_voice_sv-SE_5.mp3"]),
            "sv-SE",
            "s4",
        )
    ]
    assert dropped(stdout) == {
        "empty text": 1,
        "unlabeled clip is in dev or test": 1,
        "zero-byte audio file": 1,
    }
    assert "note: dev_asr_fr.tsv: no rows left, not written" in stdout
    assert "validator: no problems" in stdout


def test_common_voice_missing_column(tmp_path, capsys):
    """A TSV without a ``sentence`` column is refused with the header it has."""
    loc = tmp_path / "de"
    (loc / "clips").mkdir(parents=True)
    write_text(loc / "train.tsv", tsv([["client_id", "path", "text"], ["c", "a.mp3", "Hallo"]]))
    assert (
        common_voice.main(["--root", str(loc), "--out", str(tmp_path / "out"), "--no-progress"])
        == 2
    )
    assert "no column(s) sentence in the header (client_id path text)" in capsys.readouterr().err
