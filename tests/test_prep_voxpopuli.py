"""VoxPopuli fixture: transcribed_data/<lang>/asr_<split>.tsv with colon ids, <year>/<id>.ogg
(16 kHz Vorbis), en_accented, and unlabelled_data/<lang>/<year>/*.ogg."""

import pytest

from mu2slam_manifests import voxpopuli
from prep_fixtures import check_manifest, dropped, projection, speech, tsv, write_clip, write_text

HEADER = [
    "id",
    "raw_text",
    "normalized_text",
    "speaker_id",
    "split",
    "gender",
    "is_gold_transcript",
    "accent",
]
HR_1 = "20180206-0900-PLENARY-15-hr_20180206-16:10:06_5"
HR_2 = "20180206-0900-PLENARY-15-hr_20180206-16:12:40_7"  # empty raw_text
HR_GONE = "20180206-0900-PLENARY-15-hr_20180206-16:20:00_9"  # no audio file
HR_DEV = "20190114-0900-PLENARY-4-hr_20190114-17:01:22_2"
EN_ACC = "20170313-0900-PLENARY-12-en_20170313-19:44:10_3"
UNLABELED = ["20180206-0900-PLENARY_3", "20180206-0900-PLENARY_4"]


@pytest.fixture(scope="module")
def vox(tmp_path_factory, fillets_root):
    root = tmp_path_factory.mktemp("voxpopuli")
    t = root / "transcribed_data"
    wavs = speech(fillets_root, 6)
    frames = {
        HR_1: write_clip(
            t / "hr" / "2018" / f"{HR_1}.ogg", wavs[0], format="OGG", subtype="VORBIS"
        ),
        HR_2: write_clip(
            t / "hr" / "2018" / f"{HR_2}.ogg", wavs[1], format="OGG", subtype="VORBIS"
        ),
        HR_DEV: write_clip(
            t / "hr" / "2019" / f"{HR_DEV}.ogg", wavs[2], format="OGG", subtype="VORBIS"
        ),
        EN_ACC: write_clip(
            t / "en_accented" / "2017" / f"{EN_ACC}.ogg", wavs[3], format="OGG", subtype="VORBIS"
        ),
    }
    for name, wav in zip(UNLABELED, wavs[4:]):
        frames[name] = write_clip(
            root / "unlabelled_data" / "hr" / "2018" / f"{name}.ogg",
            wav,
            format="OGG",
            subtype="VORBIS",
        )
    write_text(
        t / "hr" / "asr_train.tsv",
        tsv(
            [
                HEADER,
                [
                    HR_1,
                    'Predsjednik je rekao: "Hvala',
                    "predsjednik je rekao hvala",
                    "124737",
                    "train",
                    "female",
                    "True",
                    "None",
                ],
                [HR_2, "", "bez sirovog teksta", "124737", "train", "female", "False", "None"],
                [HR_GONE, "Nema zvuka.", "nema zvuka", "5678", "train", "male", "True", "None"],
            ]
        ),
    )
    write_text(
        t / "hr" / "asr_dev.tsv",
        tsv(
            [
                HEADER,
                [
                    HR_DEV,
                    "Točka 4\\b: glasovanje",
                    "točka četiri b glasovanje",
                    "96",
                    "dev",
                    "male",
                    "True",
                    "None",
                ],
            ]
        ),
    )
    write_text(
        t / "en_accented" / "asr_test.tsv",
        tsv(
            [
                HEADER,
                [
                    EN_ACC,
                    "It's a 'good' point.",
                    "it's a good point",
                    "4552",
                    "test",
                    "male",
                    "True",
                    "Dutch",
                ],
            ]
        ),
    )
    return root, frames


def test_voxpopuli_transcribed_and_unlabeled(vox, tmp_path, capsys):
    root, frames = vox
    out = root / "manifests"
    args = [
        "--root",
        str(root),
        "--parts",
        "transcribed",
        "unlabelled",
        "--out",
        str(out),
        "--no-progress",
    ]
    assert voxpopuli.main(args) == 0
    stdout = capsys.readouterr().out
    assert sorted(p.name for p in out.glob("*.tsv")) == [
        "dev_asr_hr.tsv",
        "test_asr_en_accented.tsv",
        "train_asr_hr.tsv",
        "train_speech_hr.tsv",
    ]
    cols = ("id", "audio", "n_frames", "src_text", "tgt_text", "src_lang", "tgt_lang", "speaker")
    train = check_manifest(out / "train_asr_hr.tsv", "asr")
    assert projection(train, *cols) == [
        (
            HR_1,
            f"../transcribed_data/hr/2018/{HR_1}.ogg",
            str(frames[HR_1]),
            'Predsjednik je rekao: "Hvala',
            'Predsjednik je rekao: "Hvala',
            "hr",
            "hr",
            "124737",
        ),
    ]
    dev = check_manifest(out / "dev_asr_hr.tsv", "asr")
    assert projection(dev, "id", "audio", "src_text") == [
        (HR_DEV, f"../transcribed_data/hr/2019/{HR_DEV}.ogg", "Točka 4\\b: glasovanje")
    ]
    accented = check_manifest(out / "test_asr_en_accented.tsv", "asr")
    assert projection(accented, "id", "src_text", "src_lang", "tgt_lang") == [
        (EN_ACC, "It's a 'good' point.", "en", "en")
    ]
    unlabeled = check_manifest(out / "train_speech_hr.tsv", "speech")
    assert projection(unlabeled, "id", "audio", "n_frames", "src_lang") == [
        (u, f"../unlabelled_data/hr/2018/{u}.ogg", str(frames[u]), "hr") for u in UNLABELED
    ]
    assert dropped(stdout) == {"raw_text: empty text": 1, "missing audio file": 1}
    assert "validator: no problems" in stdout


def test_voxpopuli_normalized_text_with_features(vox, tmp_path, capsys):
    root, frames = vox
    out = tmp_path / "out"
    args = [
        "--root",
        str(root),
        "--langs",
        "hr",
        "--text",
        "normalized",
        "--features",
        "--out",
        str(out),
        "--no-progress",
    ]
    assert voxpopuli.main(args) == 0
    rows = check_manifest(out / "train_asr_hr.tsv", "asr")
    assert projection(rows, "id", "n_frames", "src_text") == [
        (HR_1, str(frames[HR_1]), "predsjednik je rekao hvala"),
        (HR_2, str(frames[HR_2]), "bez sirovog teksta"),
    ]
    assert all(r["audio"].startswith("fbank80.zip:") for r in rows)
    assert dropped(capsys.readouterr().out) == {"missing audio file": 1}
