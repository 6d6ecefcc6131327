"""The manifest validator: one test per defect, on manifests built around real game clips."""

import shutil
from pathlib import Path

import numpy as np
import pytest

from mu2slam_fairseq.data.io.audio import load_waveform, n_fbank_frames
from mu2slam_fairseq.data.io.features import write_feature_zip
from mu2slam_fairseq.data.io.validate import Problem, main, validate_manifest

CLIPS = ("airplane/cs/let-m-divna", "airplane/cs/let-m-oko", "airplane/nl/let-m-divna")
ASR_HEADER = "id\taudio\tn_frames\tsrc_text\ttgt_text\tsrc_lang\ttgt_lang\tspeaker"


@pytest.fixture(scope="module")
def clips(fillets_root, tmp_path_factory):
    """Three real clips copied next to the manifests, their frame counts, and a feature zip."""
    root = tmp_path_factory.mktemp("clips")
    (root / "clips").mkdir()
    frames = {}
    for c in CLIPS:
        name = c.replace("/", "_") + ".ogg"
        shutil.copy(fillets_root / "sound" / f"{c}.ogg", root / "clips" / name)
        wav = load_waveform(root / "clips" / name)
        frames[f"clips/{name}"] = (n_fbank_frames(len(wav)), len(wav))
    feats = np.random.default_rng(0).standard_normal((57, 80)).astype(np.float32)
    bad = feats.copy()
    bad[3, 7] = np.nan
    refs = write_feature_zip(root / "feats.zip", [("good", feats), ("nan", bad)])
    return root, frames, refs


def write(folder: Path, name: str, lines) -> Path:
    path = folder / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def asr_rows(clips):
    _, frames, refs = clips
    (a, (fa, _)), (b, (fb, _)), (c, (fc, _)) = frames.items()
    return [
        ASR_HEADER,
        f"u1\t{a}\t{fa}\tCo je to za divnou loď?\tCo je to za divnou loď?\tcs\tcs\tm",
        f"u2\t{b}\t{fb}\tTo není skleněné oko.\tTo není skleněné oko.\tcs\tcs\tm",
        f"u3\t{c}\t{fc}\tWat is dit voor raar schip?\tWat is dit voor raar schip?\tnl\tnl\tm",
        f"u4\t{refs['good']}\t57\tstored\tstored\tnl\tnl\tv",
    ]


def only(problems, line, text):
    """Assert exactly one problem, on ``line``, whose message contains ``text``."""
    assert len(problems) == 1, problems
    assert problems[0].line == line and text in problems[0].message, problems[0]
    return problems[0]


def test_good_manifests_pass(clips):
    root = clips[0]
    assert validate_manifest(write(root, "asr.tsv", asr_rows(clips))) == []
    mt = [
        "id\taudio\tn_frames\tsrc_text\ttgt_text\tsrc_lang\ttgt_lang",
        "m1\t\t\tHallo Welt\tHello world\tde\ten",
    ]
    assert validate_manifest(write(root, "mt.tsv", mt)) == []
    text = ["id\tsrc_text\tsrc_lang", "t1\tLa vita è bella\tit", "t2\t我们\tzh-CN"]
    assert validate_manifest(write(root, "text.tsv", text)) == []
    clip, (n, _) = next(iter(clips[1].items()))
    speech = ["id\taudio\tn_frames\tsrc_lang", f"s1\t{clip}\t{n}\tcs"]
    assert validate_manifest(write(root, "speech.tsv", speech)) == []


def test_missing_column(clips):
    root = clips[0]
    rows = asr_rows(clips)
    header = rows[0].replace("\tn_frames", "")
    body = ["\t".join(f for i, f in enumerate(r.split("\t")) if i != 2) for r in rows[1:]]
    path = write(root, "no_frames.tsv", [header] + body)
    p = only(validate_manifest(path), 1, "missing column(s): n_frames")
    assert p.path == str(path)
    no_id = write(root, "no_id.tsv", ["key\tsrc_text", "a\thello there"])
    only(validate_manifest(no_id), 1, "missing column(s): id")


def test_stray_tab_changes_the_field_count(clips):
    rows = asr_rows(clips)
    rows[2] = rows[2].replace("skleněné oko.", "skleněné\toko.", 1)
    only(validate_manifest(write(clips[0], "tab.tsv", rows)), 3, "9 fields but the header has 8")


def test_duplicate_id(clips):
    rows = asr_rows(clips)
    rows[3] = rows[3].replace("u3\t", "u1\t", 1)
    only(
        validate_manifest(write(clips[0], "dup.tsv", rows)),
        4,
        "duplicate id 'u1' (first on line 2)",
    )


def test_empty_target_text_on_labeled_row(clips):
    rows = asr_rows(clips)
    f = rows[2].split("\t")
    f[4] = ""
    rows[2] = "\t".join(f)
    only(validate_manifest(write(clips[0], "empty_tgt.tsv", rows)), 3, "empty tgt_text")


def test_empty_source_text_on_text_row(clips):
    path = write(
        clips[0], "empty_src.tsv", ["id\tsrc_text\tsrc_lang", "t1\tfine text\ten", "t2\t \ten"]
    )
    only(validate_manifest(path), 3, "empty src_text")
    mt = write(
        clips[0],
        "empty_mt.tsv",
        ["id\tsrc_text\ttgt_text\tsrc_lang\ttgt_lang", "m1\tHallo\t\tde\ten"],
    )
    only(validate_manifest(mt), 2, "empty tgt_text")


def test_missing_audio(clips):
    rows = asr_rows(clips)
    rows[1] = rows[1].replace("clips/airplane_cs_let-m-divna.ogg", "clips/gone.ogg")
    p = only(validate_manifest(write(clips[0], "missing.tsv", rows)), 2, "audio not found")
    assert "gone.ogg" in p.message
    rows = asr_rows(clips)
    rows[4] = rows[4].replace("feats.zip", "other.zip")
    only(validate_manifest(write(clips[0], "missing_zip.tsv", rows)), 5, "audio zip not found")
    rows = asr_rows(clips)
    f = rows[3].split("\t")
    f[1] = ""
    rows[3] = "\t".join(f)
    only(validate_manifest(write(clips[0], "blank_audio.tsv", rows)), 4, "empty audio field")
    clip, (n, _) = next(iter(clips[1].items()))
    speech = ["id\taudio\tn_frames\tsrc_lang", f"s1\t{clip}\t{n}\tcs", "s2\t\t\tcs"]
    only(validate_manifest(write(clips[0], "blank_speech.tsv", speech)), 3, "empty audio field")


def test_empty_audio(clips):
    root = clips[0]
    (root / "clips" / "empty.ogg").write_bytes(b"")
    rows = asr_rows(clips)
    rows[3] = rows[3].replace("clips/airplane_nl_let-m-divna.ogg", "clips/empty.ogg")
    only(validate_manifest(write(root, "empty_audio.tsv", rows)), 4, "empty audio file")


def test_unreadable_audio(clips):
    root = clips[0]
    (root / "clips" / "junk.ogg").write_bytes(b"OggS this is not a real ogg stream" * 20)
    rows = asr_rows(clips)
    rows[2] = rows[2].replace("clips/airplane_cs_let-m-oko.ogg", "clips/junk.ogg")
    only(validate_manifest(write(root, "junk.tsv", rows)), 3, "unreadable audio")


def test_n_frames_disagrees_with_the_audio(clips):
    _, frames, _ = clips
    rows = asr_rows(clips)
    f = rows[1].split("\t")
    true = frames[f[1]][0]
    f[2] = str(true + 7)
    rows[1] = "\t".join(f)
    p = only(
        validate_manifest(write(clips[0], "frames.tsv", rows)), 2, f"n_frames {true + 7} disagrees"
    )
    assert f"{true} feature frames" in p.message
    rows = asr_rows(clips)
    rows[4] = rows[4].replace("\t57\t", "\t56\t")
    only(validate_manifest(write(clips[0], "frames_zip.tsv", rows)), 5, "has 57 feature frames")
    rows = asr_rows(clips)
    rows[4] = rows[4].replace("\t57\t", "\tmany\t")
    only(validate_manifest(write(clips[0], "frames_text.tsv", rows)), 5, "not a positive integer")


def test_raw_audio_sample_counts_are_accepted(clips):
    _, frames, _ = clips
    rows = asr_rows(clips)
    f = rows[1].split("\t")
    f[2] = str(frames[f[1]][1])  # fairseq's raw-audio manifests count samples
    rows[1] = "\t".join(f)
    assert validate_manifest(write(clips[0], "samples.tsv", rows)) == []


def test_nan_features(clips):
    rows = asr_rows(clips)
    rows[4] = rows[4].replace(clips[2]["good"], clips[2]["nan"])
    only(validate_manifest(write(clips[0], "nan.tsv", rows)), 5, "NaN or infinite")


def test_unknown_language_codes(clips):
    rows = asr_rows(clips)
    rows[1] = rows[1].replace("\tcs\tcs\t", "\txx\tcs\t")
    rows[3] = rows[3].replace("\tnl\tnl\t", "\tnl\tEN\t")
    path = write(clips[0], "langs.tsv", rows)
    problems = validate_manifest(path)
    assert [(p.line, p.message) for p in problems] == [
        (2, "unknown language code 'xx' in src_lang"),
        (4, "unknown language code 'EN' in tgt_lang (did you mean 'en'?)"),
    ]
    assert [p.line for p in validate_manifest(path, extra_langs=["xx", "EN"])] == []
    assert [p.line for p in validate_manifest(path, extra_langs=["xx"])] == [4]
    ok = ["id\tsrc_text\tsrc_lang"] + [
        f"t{i}\ttext\t{c}"
        for i, c in enumerate(
            [
                "zh-CN",
                "sv-SE",
                "cmn_hans_cn",
                "es_419",
                "pt-br",
                "yue_hant_hk",
                "iw",
                "fil",
                "deu",
                "rm-sursilv",
            ]
        )
    ]
    assert validate_manifest(write(clips[0], "known.tsv", ok)) == []
    restricted = validate_manifest(write(clips[0], "restricted.tsv", asr_rows(clips)), langs=["cs"])
    assert [p.line for p in restricted] == [4, 4, 5, 5]
    assert "not one of --langs cs" in restricted[0].message


def test_command_line(clips, capsys):
    root = clips[0]
    good = write(root, "cli_good.tsv", asr_rows(clips))
    assert main([str(good)]) == 0
    rows = asr_rows(clips)
    rows[3] = rows[3].replace("u3\t", "u2\t", 1)
    rows[1] = rows[1].replace("clips/airplane_cs_let-m-divna.ogg", "clips/gone.ogg")
    bad = write(root, "cli_bad.tsv", rows)
    capsys.readouterr()
    assert main([str(good), str(bad)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out == [
        f"{bad}:2: audio not found: {root / 'clips' / 'gone.ogg'}",
        f"{bad}:4: duplicate id 'u2' (first on line 3)",
    ]
    assert main([str(bad), "--no-check-audio", "-q"]) == 1
    assert capsys.readouterr().out.splitlines() == [f"{bad}:4: duplicate id 'u2' (first on line 3)"]
    assert main([str(good), "--langs", "cs,nl"]) == 0
    assert main([str(good), "--langs", "cs"]) == 1


def test_problem_prints_as_file_line_message():
    assert str(Problem("a.tsv", 3, "boom")) == "a.tsv:3: boom"
    assert (
        str(Problem("a.tsv", None, "empty file (no header row)"))
        == "a.tsv: empty file (no header row)"
    )


def test_unreadable_manifest(tmp_path):
    p = tmp_path / "latin1.tsv"
    p.write_bytes("id\tsrc_text\tsrc_lang\nt1\tcaf\xe9\tfr\n".encode("latin-1"))
    only(validate_manifest(p), 2, "not valid UTF-8")
    only(validate_manifest(tmp_path / "nowhere.tsv"), None, "cannot read manifest")
    (tmp_path / "empty.tsv").write_text("")
    only(validate_manifest(tmp_path / "empty.tsv"), None, "empty file")


def test_byte_order_mark_is_accepted(tmp_path):
    """A UTF-8 byte order mark (spreadsheet exports) before the header is no problem; line
    numbers and the other checks are unchanged."""
    text = "id\tsrc_text\tsrc_lang\nt1\tLa vita è bella\tit\nt1\tancora\tit\n"
    (tmp_path / "marked.tsv").write_text("\ufeff" + text, encoding="utf-8")
    only(validate_manifest(tmp_path / "marked.tsv"), 3, "duplicate id 't1' (first on line 2)")
    (tmp_path / "good.tsv").write_text("\ufeff" + text.rsplit("t1", 1)[0], encoding="utf-8")
    assert validate_manifest(tmp_path / "good.tsv") == []
