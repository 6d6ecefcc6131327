"""A folder of audio in several codecs and rates, with tab- and space-separated transcript lists."""

import pytest

from mu2slam_manifests import folder
from prep_fixtures import check_manifest, dropped, projection, speech, write_clip, write_text


@pytest.fixture(scope="module")
def audio(tmp_path_factory, fillets_root):
    root = tmp_path_factory.mktemp("folder")
    d = root / "audio"
    wavs = speech(fillets_root, 5)
    frames = {
        "spk1/utt1": write_clip(d / "spk1" / "utt1.wav", wavs[0], 44100),
        "spk1/utt2": write_clip(d / "spk1" / "utt2.flac", wavs[1]),
        "spk2/utt3": write_clip(
            d / "spk2" / "utt3.ogg", wavs[2], 22050, format="OGG", subtype="VORBIS"
        ),
        "spk2/a/utt4": write_clip(d / "spk2" / "a" / "utt4.wav", wavs[3], 8000),
        "spk3/utt4": write_clip(d / "spk3" / "utt4.mp3", wavs[4], 48000, format="MP3"),
    }
    (d / "notes.txt").write_text("not audio\n")
    return root, frames


def test_folder_asr_and_st(audio, capsys):
    root, frames = audio
    lst = root / "list.tsv"
    write_text(
        lst,
        "".join(
            line + "\n"
            for line in [
                "name\ttext\ttranslation",
                'spk1/utt1.wav\tHallo "wereld\tHello "world',
                "spk1/utt2\tTwee \\ drie\tTwo \\ three",
                "./utt3\tDrie\tThree",
                "utt4\tVier\tFour",
                "missing\tNiets\tNothing",
                "spk2/utt3.ogg\tDubbel\tTwice",
                "spk3/utt4\tGeen vertaling",
            ]
        ),
    )
    out = root / "out"
    args = [
        "--audio-dir",
        str(root / "audio"),
        "--lang",
        "nl",
        "--tgt-lang",
        "en",
        "--transcripts",
        str(lst),
        "--header",
        "--split",
        "dev",
        "--out",
        str(out),
        "--no-progress",
    ]
    assert folder.main(args) == 0
    stdout = capsys.readouterr().out
    assert sorted(p.name for p in out.glob("*.tsv")) == ["dev_asr_nl.tsv", "dev_st_nl_en.tsv"]
    asr = check_manifest(out / "dev_asr_nl.tsv", "asr")
    assert projection(asr, "id", "audio", "n_frames", "src_text", "tgt_text", "src_lang") == [
        (
            "spk1/utt1",
            str(root / "audio/spk1/utt1.wav"),
            str(frames["spk1/utt1"]),
            'Hallo "wereld',
            'Hallo "wereld',
            "nl",
        ),
        (
            "spk1/utt2",
            str(root / "audio/spk1/utt2.flac"),
            str(frames["spk1/utt2"]),
            "Twee \\ drie",
            "Twee \\ drie",
            "nl",
        ),
        (
            "spk2/utt3",
            str(root / "audio/spk2/utt3.ogg"),
            str(frames["spk2/utt3"]),
            "Drie",
            "Drie",
            "nl",
        ),
    ]
    st = check_manifest(out / "dev_st_nl_en.tsv", "ast")
    assert projection(st, "id", "src_text", "tgt_text", "tgt_lang") == [
        ("spk1/utt1", 'Hallo "wereld', 'Hello "world', "en"),
        ("spk1/utt2", "Twee \\ drie", "Two \\ three", "en"),
        ("spk2/utt3", "Drie", "Three", "en"),
    ]
    assert dropped(stdout) == {
        "name matches several audio files": 1,
        "no audio file for this name": 1,
        "clip listed twice": 1,
        "2 fields where the list needs 3": 1,
    }
    assert "note: 2 audio file(s) have no line in the transcript list and are not used" in stdout


def test_folder_space_list_and_unlabeled(audio, capsys):
    root, frames = audio
    lst = root / "utt.trans.txt"
    write_text(lst, "utt3 DRIE  EN TWEE\nspk3/utt4 VIER\n")
    out = root / "out_space"
    assert (
        folder.main(
            [
                "--audio-dir",
                str(root / "audio"),
                "--lang",
                "nl",
                "--transcripts",
                str(lst),
                "--format",
                "space",
                "--out",
                str(out),
                "--no-progress",
            ]
        )
        == 0
    )
    assert projection(check_manifest(out / "train_asr_nl.tsv", "asr"), "id", "src_text") == [
        ("spk2/utt3", "DRIE  EN TWEE"),
        ("spk3/utt4", "VIER"),
    ]
    out = root / "out_speech"
    assert (
        folder.main(
            [
                "--audio-dir",
                str(root / "audio"),
                "--lang",
                "nl",
                "--audio-root",
                str(root),
                "--out",
                str(out),
                "--no-progress",
            ]
        )
        == 0
    )
    rows = check_manifest(out / "train_speech_nl.tsv", "speech", audio_root=root)
    ext = {
        "spk1/utt1": "wav",
        "spk1/utt2": "flac",
        "spk2/utt3": "ogg",
        "spk2/a/utt4": "wav",
        "spk3/utt4": "mp3",
    }
    assert projection(rows, "id", "audio", "n_frames", "src_lang") == [
        (uid, f"audio/{uid}.{ext[uid]}", str(n), "nl") for uid, n in sorted(frames.items())
    ]
    assert "validator: no problems" in capsys.readouterr().out
