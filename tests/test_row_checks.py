"""The row checks shared by the dataset readers and the validator, and that both use them."""

import numpy as np
import pytest
from fairseq.data import Dictionary

from mu2slam_fairseq.data.io.manifest import ManifestError
from mu2slam_fairseq.data.io.row_checks import RowChecks
from mu2slam_fairseq.data.pipeline.rows import SpeechRows
from mu2slam_fairseq.data.io.validate import validate_manifest
from mu2slam_fairseq.grid import grid_length
from mu2slam_fairseq.symbols import lang_symbol


def test_duplicate_ids_name_the_first_line():
    checks = RowChecks()
    assert [checks.duplicate_of(uid, line) for line, uid in enumerate("abab", start=2)] == [
        None,
        None,
        2,
        3,
    ]


@pytest.mark.parametrize(
    "field, expected",
    [
        ("57", (57, None)),
        ("0", (0, "n_frames '0' is not a positive integer")),
        ("-3", (-3, "n_frames '-3' is not a positive integer")),
        ("many", (None, "n_frames 'many' is not a positive integer")),
        ("", (None, "n_frames '' is not a positive integer")),
    ],
)
def test_n_frames(field, expected):
    assert RowChecks.n_frames(field) == expected


def test_units():
    n = 100
    steps = grid_length(n)
    units, problem = RowChecks(n_units=8).units(" ".join(["7"] * steps), n)
    assert problem is None and units.tolist() == [7] * steps and units.dtype == np.int64
    assert RowChecks(n_units=8).units("1 x", n) == (None, "units must be space-separated integers")
    assert RowChecks(n_units=8).units("1 2", n) == (
        None,
        f"2 units for {n} frames; the 40 ms grid needs {steps}",
    )
    assert RowChecks(n_units=8).units(" ".join(["8"] * steps), n) == (
        None,
        "unit ids must be in [0, 8)",
    )
    assert RowChecks().units(" ".join(["8"] * steps), n)[1] is None  # no dictionary: unbounded


def test_audio_references(tmp_path):
    (tmp_path / "empty.ogg").write_bytes(b"")
    (tmp_path / "a.zip").write_bytes(b"x" * 10)
    checks = RowChecks(tmp_path)
    assert checks.audio("gone.ogg") == f"audio not found: {tmp_path / 'gone.ogg'}"
    assert checks.audio("gone.zip:0:4") == f"audio zip not found: {tmp_path / 'gone.zip'}"
    assert checks.audio("empty.ogg") == f"empty audio file: {tmp_path / 'empty.ogg'}"
    assert checks.audio("a.zip:2:0") == "empty audio: a.zip:2:0 has length 0"
    assert checks.audio("a.zip:8:4") == (
        f"{tmp_path / 'a.zip'} is truncated: the item ends at byte 12, the file has 10 bytes"
    )
    assert checks.audio("a.zip:2:4") is None


def test_reader_and_validator_word_a_row_problem_alike(tmp_path):
    """Bad units: the dataset reader refuses the manifest, the validator lists the row,
    with the same message."""
    path = tmp_path / "speech.tsv"
    path.write_text(
        "id\taudio\tn_frames\tsrc_lang\tunits\n"
        "s1\ta.zip:0:4\t100\tnl\t1 2\n"
        "s2\ta.zip:0:4\tmany\tnl\t\n",
        encoding="utf-8",
    )
    units = f"2 units for 100 frames; the 40 ms grid needs {grid_length(100)}"
    problems = validate_manifest(path, check_audio=False)
    assert [(p.line, p.message) for p in problems] == [
        (2, units),
        (3, "n_frames 'many' is not a positive integer"),
    ]
    d = Dictionary()
    d.add_symbol(lang_symbol("nl"))
    reader = SpeechRows(path, d, (None, None), tmp_path, True, tokenizer=True, n_units=8)
    with pytest.raises(ManifestError) as e:
        reader.read(None)
    assert str(e.value) == f"{path}:2: id 's1': {units}"
    path.write_text(path.read_text().replace("\t1 2\n", "\t\n"), encoding="utf-8")
    reader = SpeechRows(path, d, (None, None), tmp_path, True, tokenizer=True, n_units=8)
    with pytest.raises(ManifestError) as e:
        reader.read(None)
    assert str(e.value) == f"{path}:3: id 's2': n_frames 'many' is not a positive integer"
