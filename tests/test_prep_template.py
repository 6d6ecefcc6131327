"""The corpus-script template: speech rows waiting for their clips, the exit statuses, the
summary."""

import argparse

import numpy as np
import pytest
import soundfile as sf

from mu2slam_manifests.common import Options, PrepError, Summary, TsvRow, read_tsv
from mu2slam_manifests.rows import MT_COLUMNS, SPEECH_COLUMNS, asr_row, pair_row
from mu2slam_manifests.template import Output, Pending, Script


def test_speech_rows_take_their_clips_or_are_dropped_under_the_clip_problem_first(tmp_path):
    out_dir = tmp_path / "out"
    clip = out_dir / "clips" / "a.wav"
    clip.parent.mkdir(parents=True)
    sf.write(clip, np.random.default_rng(0).uniform(-0.1, 0.1, 8000), 16000)  # 0.5 s: 48 frames
    out = Output("toy", Options(out=out_dir, progress=False))
    clips = {"a": clip, "c": tmp_path / "c.wav"}
    pending = [
        Pending("a", "a.tsv:1", asr_row("a", "hallo", "nl", "s1")),
        Pending("a", "a.tsv:2", asr_row("b", " ", "nl"), "empty text"),
        Pending("c", "a.tsv:3", asr_row("c", " ", "nl"), "empty text"),
    ]
    out.write_speech(clips, "clips", [(pending, SPEECH_COLUMNS, "train", "asr", "nl")])
    assert (out_dir / "train_asr_nl.tsv").read_text(encoding="utf-8") == (
        "id\taudio\tn_frames\tsrc_text\ttgt_text\tsrc_lang\ttgt_lang\tspeaker\n"
        "a\tclips/a.wav\t48\thallo\thallo\tnl\tnl\ts1\n"
    )
    assert out.summary.dropped == {"empty text": 1, "missing audio file": 1}
    assert out.summary.examples == {"empty text": "a.tsv:2", "missing audio file": "a.tsv:3"}


def _script(prepare, check=None):
    def arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--pairs", nargs="*", default=[], help="src=tgt pairs")

    return Script("toy", "A toy corpus.", arguments, prepare, speech=False, check=check)


def _pairs(args, out):
    rows = []
    for i, pair in enumerate(args.pairs, start=1):
        src, tgt = pair.split("=")
        if not tgt:
            out.drop("empty target", f"pair {i}")
        else:
            rows.append(pair_row(f"p{i}", src, tgt, "de", "en"))
    out.write(rows, MT_COLUMNS, "train", "mt", "de", "en")


def test_script_writes_validates_and_summarises(tmp_path, capsys):
    out = tmp_path / "out"
    assert _script(_pairs).main(["--pairs", "Haus=house", "Baum=", "--out", str(out)]) == 0
    assert (out / "train_mt_de_en.tsv").read_text(encoding="utf-8") == (
        "id\taudio\tn_frames\tsrc_text\ttgt_text\tsrc_lang\ttgt_lang\np1\t\t\tHaus\thouse\tde\ten\n"
    )
    assert capsys.readouterr().out.splitlines() == [
        f"toy: wrote 1 manifest(s) to {out}",
        "  manifest                rows    hours  languages",
        "  train_mt_de_en.tsv         1           de->en:1",
        "  total                      1           languages: de en",
        "rows dropped: 1",
        "          1  empty target (e.g. pair 2)",
        "validator: no problems",
    ]


def test_nothing_written_exits_1(tmp_path, capsys):
    out = tmp_path / "out"
    assert _script(_pairs).main(["--pairs", "Baum=", "--out", str(out)]) == 1
    captured = capsys.readouterr()
    assert "note: train_mt_de_en.tsv: no rows left, not written" in captured.out.splitlines()
    assert captured.err == (
        "toy: no manifest was written (every row was dropped, or no input matched)\n"
    )
    assert not out.exists()


def test_input_problem_exits_2_with_one_line(tmp_path, capsys):
    def prepare(args, out):
        raise PrepError("x.tsv:3: no column text")

    assert _script(prepare).main(["--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err == "toy: error: x.tsv:3: no column text\n"


def test_check_is_a_usage_error(tmp_path, capsys):
    script = _script(_pairs, check=lambda args: None if args.pairs else "give --pairs")
    with pytest.raises(SystemExit) as exit:
        script.main(["--out", str(tmp_path)])
    assert exit.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == "toy: error: give --pairs"


def test_read_tsv_skips_a_byte_order_mark(tmp_path):
    """Users' TSV files from spreadsheets start with U+FEFF: not part of the first column."""
    text = "id\tsentence\na\thallo\n"
    (tmp_path / "plain.tsv").write_text(text, encoding="utf-8")
    (tmp_path / "marked.tsv").write_text("\ufeff" + text, encoding="utf-8")
    rows = [read_tsv(tmp_path / n, Summary("toy", tmp_path)) for n in ("plain.tsv", "marked.tsv")]
    assert rows[0] == rows[1] == [TsvRow(2, {"id": "a", "sentence": "hallo"})]
    (tmp_path / "headerless.tsv").write_text("\ufeffa\thallo\n", encoding="utf-8")
    headerless = read_tsv(tmp_path / "headerless.tsv", Summary("toy", tmp_path), ("id", "sentence"))
    assert headerless == [TsvRow(1, {"id": "a", "sentence": "hallo"})]
