"""CoVoST 2 on a Common Voice 4 fixture: 48 kHz mp3 clips, v4 validated.tsv, CoVoST TSV."""

import tarfile

import pytest
from fairseq.data.audio.speech_to_text_dataset import SpeechToTextDatasetCreator

from mu2slam_manifests import covost
from prep_fixtures import check_manifest, dropped, projection, speech, tsv, write_clip, write_text

CV4_HEADER = ["client_id", "path", "sentence", "up_votes", "down_votes", "age", "gender", "accent"]
COVOST_HEADER = ["path", "sentence", "translation", "client_id", "split"]
# (clip, split, sentence, translation): quotes, backslashes and non-ASCII must survive as they are
CLIPS = [
    ("common_voice_fr_17.mp3", "train", 'Il a dit "bonjour', 'He said "hello'),
    (
        "common_voice_fr_21.mp3",
        "train_covost",
        "Le dossier C:\\temp l'été",
        'The folder C:\\temp "summer"',
    ),
    ("common_voice_fr_33.mp3", "dev", "Ça coûte 5 € ?", "It costs €5?"),
    ("common_voice_fr_40.mp3", "test", '""Deux guillemets', '""Two quotes'),
]
ZERO_BYTE = ("common_voice_fr_50.mp3", "train", "Muet.", "Silent.")
NOT_VALIDATED = ("common_voice_fr_60.mp3", "train", "Absent.", "Missing.")
NOT_IN_COVOST = ("common_voice_fr_70.mp3", "", "Seulement validé.", "")


@pytest.fixture(scope="module")
def cv4(tmp_path_factory, fillets_root):
    root = tmp_path_factory.mktemp("cv4")
    fr = root / "fr"
    frames = {}
    for (clip, *_), wav in zip(CLIPS + [NOT_IN_COVOST], speech(fillets_root, len(CLIPS) + 1)):
        frames[clip] = write_clip(fr / "clips" / clip, wav, 48000, format="MP3")
    (fr / "clips" / ZERO_BYTE[0]).write_bytes(b"")
    speakers = {c[0]: f"client{i:02d}" for i, c in enumerate(CLIPS + [ZERO_BYTE, NOT_IN_COVOST])}
    validated = [CV4_HEADER] + [
        [speakers[c], c, s, "2", "0", "twenties", "male", "france"]
        for c, _, s, _ in CLIPS + [ZERO_BYTE, NOT_IN_COVOST]
    ]
    write_text(fr / "validated.tsv", tsv(validated))
    covost_tsv = [COVOST_HEADER] + [
        [c, s, t, speakers.get(c, "clientXX"), split]
        for c, split, s, t in CLIPS + [ZERO_BYTE, NOT_VALIDATED]
    ]
    write_text(fr / "covost_v2.fr_en.tsv", tsv(covost_tsv))
    return root, frames, speakers


def test_covost_st_and_asr(cv4, tmp_path, capsys):
    root, frames, speakers = cv4
    out = tmp_path / "out"
    assert (
        covost.main(["--root", str(root), "--src-lang", "fr", "--out", str(out), "--no-progress"])
        == 0
    )
    stdout = capsys.readouterr().out
    assert sorted(p.name for p in out.glob("*.tsv")) == [
        "dev_asr_fr.tsv",
        "dev_st_fr_en.tsv",
        "test_asr_fr.tsv",
        "test_st_fr_en.tsv",
        "train_asr_fr.tsv",
        "train_st_fr_en.tsv",
    ]
    expected = {"train": CLIPS[:2], "dev": CLIPS[2:3], "test": CLIPS[3:]}
    for split, clips in expected.items():
        st = check_manifest(out / f"{split}_st_fr_en.tsv", "ast")
        assert projection(
            st, "id", "audio", "n_frames", "src_text", "tgt_text", "src_lang", "tgt_lang", "speaker"
        ) == [
            (
                c[: -len(".mp3")],
                f"{root}/fr/clips/{c}",
                str(frames[c]),
                s,
                t,
                "fr",
                "en",
                speakers[c],
            )
            for c, _, s, t in clips
        ]
        asr = check_manifest(out / f"{split}_asr_fr.tsv", "asr")
        assert projection(asr, "id", "src_text", "tgt_text", "src_lang", "tgt_lang") == [
            (c[: -len(".mp3")], s, s, "fr", "fr") for c, _, s, _ in clips
        ]
        # fairseq's own reader sees the same texts (no escaping to undo)
        samples = SpeechToTextDatasetCreator._load_samples_from_tsv(str(out), f"{split}_st_fr_en")
        assert [s["tgt_text"] for s in samples] == [t for *_, t in clips]
    # train_covost counts as train; the zero-byte clip is dropped from ST and ASR; the clip
    # CoVoST lists but validated.tsv lacks is dropped; the clip only in validated.tsv never appears
    assert dropped(stdout) == {
        "zero-byte audio file": 2,
        "not in validated.tsv (inner join on path)": 1,
    }
    assert "validator: no problems" in stdout
    assert "common_voice_fr_70" not in (out / "train_asr_fr.tsv").read_text(encoding="utf-8")


def test_covost_tar_gz_and_features(cv4, tmp_path, capsys):
    """The CoVoST TSV read from its tar.gz; features into fbank80.zip; a second run refuses
    to overwrite another run's zip."""
    root, frames, _ = cv4
    corpus = tmp_path / "cv4"
    (corpus / "fr").mkdir(parents=True)
    (corpus / "fr" / "clips").symlink_to(root / "fr" / "clips")
    (corpus / "fr" / "validated.tsv").write_bytes((root / "fr" / "validated.tsv").read_bytes())
    with tarfile.open(corpus / "fr" / "covost_v2.fr_en.tsv.tar.gz", "w:gz") as tar:
        tar.add(root / "fr" / "covost_v2.fr_en.tsv", arcname="covost_v2.fr_en.tsv")
    out = tmp_path / "out"
    args = [
        "--root",
        str(corpus),
        "--src-lang",
        "fr",
        "--tasks",
        "st",
        "--features",
        "--out",
        str(out),
        "--no-progress",
    ]
    assert covost.main(args) == 0
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == [
        "dev_st_fr_en.tsv",
        "fbank80.zip",
        "test_st_fr_en.tsv",
        "train_st_fr_en.tsv",
    ]
    rows = check_manifest(out / "train_st_fr_en.tsv", "ast")
    assert [r["audio"].split(":")[0] for r in rows] == ["fbank80.zip", "fbank80.zip"]
    assert projection(rows, "n_frames", "tgt_text") == [
        (str(frames[c]), t) for c, _, _, t in CLIPS[:2]
    ]
    capsys.readouterr()
    # another language's run into the same folder would silently lose these features
    (corpus / "fr" / "covost_v2.fr_en.tsv.tar.gz").unlink()
    write_text(
        corpus / "fr" / "covost_v2.fr_en.tsv",
        tsv([COVOST_HEADER, [CLIPS[0][0], "x", "y", "c", "train"]]),
    )
    assert covost.main(args) == 2
    assert "holds 3 item(s) of another run" in capsys.readouterr().err
