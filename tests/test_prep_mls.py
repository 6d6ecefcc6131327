"""MLS fixture: mls_german (flac) and mls_polish_opus, headerless transcripts.txt, English
language names turned into ISO codes."""

import pytest

from mu2slam_manifests import mls
from prep_fixtures import check_manifest, dropped, projection, speech, write_clip, write_text

# (folder, split, id, text); audio lives at <split>/audio/<speaker>/<book>/<id>.<ext>
SEGMENTS = [
    ("mls_german", "train", "1844_931_000010", "und er sagte ja"),
    ("mls_german", "train", "1844_931_000023", "das war's dann wohl"),
    ("mls_german", "dev", "3428_2101_000004", "über die brücke"),
    ("mls_german", "test", "6507_4291_000019", "ende"),
    ("mls_polish_opus", "train", "6892_10350_000000", "dzień dobry"),
]
NO_AUDIO = ("mls_german", "train", "1844_931_000099", "ohne ton")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, fillets_root):
    root = tmp_path_factory.mktemp("mls")
    frames = {}
    for (folder, split, uid, _), wav in zip(SEGMENTS, speech(fillets_root, len(SEGMENTS))):
        speaker, book, _ = uid.split("_")
        path = root / folder / split / "audio" / speaker / book
        if folder.endswith("_opus"):
            frames[uid] = write_clip(path / f"{uid}.opus", wav, format="OGG", subtype="OPUS")
        else:
            frames[uid] = write_clip(path / f"{uid}.flac", wav)
    transcripts = {}
    for folder, split, uid, text in SEGMENTS + [NO_AUDIO]:
        transcripts.setdefault((folder, split), []).append(f"{uid}\t{text}\n")
    for (folder, split), lines in transcripts.items():
        write_text(root / folder / split / "transcripts.txt", "".join(lines))
        write_text(
            root / folder / split / "segments.txt",
            "".join(
                f"{line.split(chr(9))[0]}\thttp://www.archive.org/download/x/y.mp3\t1.0\t4.5\n"
                for line in lines
            ),
        )
    write_text(
        root / "mls_lm_german" / "data.txt", "ein satz\n"
    )  # the LM text release is not a speech folder
    return root, frames


def test_mls(corpus, tmp_path, capsys):
    root, frames = corpus
    out = tmp_path / "out"
    assert mls.main(["--root", str(root), "--out", str(out), "--no-progress"]) == 0
    stdout = capsys.readouterr().out
    assert sorted(p.name for p in out.glob("*.tsv")) == [
        "dev_asr_de.tsv",
        "test_asr_de.tsv",
        "train_asr_de.tsv",
        "train_asr_pl.tsv",
    ]
    cols = ("id", "audio", "n_frames", "src_text", "tgt_text", "src_lang", "tgt_lang", "speaker")
    assert projection(check_manifest(out / "train_asr_de.tsv", "asr"), *cols) == [
        (
            uid,
            str(root / f"mls_german/train/audio/1844/931/{uid}.flac"),
            str(frames[uid]),
            text,
            text,
            "de",
            "de",
            "1844",
        )
        for _, _, uid, text in SEGMENTS[:2]
    ]
    assert projection(
        check_manifest(out / "dev_asr_de.tsv", "asr"), "id", "src_text", "src_lang"
    ) == [("3428_2101_000004", "über die brücke", "de")]
    assert projection(
        check_manifest(out / "train_asr_pl.tsv", "asr"), "id", "audio", "src_lang", "speaker"
    ) == [
        (
            "6892_10350_000000",
            str(root / "mls_polish_opus/train/audio/6892/10350/6892_10350_000000.opus"),
            "pl",
            "6892",
        )
    ]
    assert dropped(stdout) == {"missing audio file": 1}
    assert "validator: no problems" in stdout


def test_mls_one_language_by_code(corpus, tmp_path):
    root, _ = corpus
    out = tmp_path / "out"
    assert (
        mls.main(
            [
                "--root",
                str(root / "mls_polish_opus"),
                "--langs",
                "pl",
                "--out",
                str(out),
                "--no-progress",
            ]
        )
        == 0
    )
    assert sorted(p.name for p in out.glob("*.tsv")) == ["train_asr_pl.tsv"]
