"""CER, distinct share, bootstrap intervals and paired tests of generated text, and
``mu2slam-score asr|bleu`` on fairseq-generate output."""

import json

import pytest
import sacrebleu

from mu2slam_fairseq.scoring.cli import main
from mu2slam_fairseq.scoring.corpus_scores import asr_scores, bleu_scores, compare
from mu2slam_fairseq.scoring.generate_output import Generated
from mu2slam_fairseq.scoring.metrics import (
    bootstrap_interval,
    char_errors,
    distinct_share,
    paired_bootstrap_error_rate,
)


def test_char_errors_count_spaces_and_edits():
    assert char_errors("kat zat", "kat  zat".replace("  ", " ")) == (0, 7)
    assert char_errors("kt zat", "kat zat") == (1, 7)  # one deletion
    assert char_errors("katzat", "kat zat") == (1, 7)  # the space is a character
    assert char_errors("", "abc") == (3, 3)


def test_distinct_share():
    assert distinct_share(["a b", "a b ", "c"]) == pytest.approx(100 * 2 / 3)
    assert distinct_share(["x"] * 10) == 10.0


def test_bootstrap_interval_holds_the_rate_and_narrows_with_data():
    errors, lengths = [1, 3, 0, 2] * 5, [4, 5, 3, 6] * 5
    lo, hi = bootstrap_interval(errors, lengths)
    assert lo < 100 * 30 / 90 < hi
    lo2, hi2 = bootstrap_interval(errors * 20, lengths * 20)
    assert hi2 - lo2 < (hi - lo) / 2
    assert bootstrap_interval([2] * 8, [4] * 8) == (50.0, 50.0)


def test_paired_tests_see_a_clear_winner():
    assert paired_bootstrap_error_rate([0] * 30, [2] * 30, [5] * 30) == pytest.approx(1 / 1001)
    assert paired_bootstrap_error_rate([2] * 30, [0] * 30, [5] * 30) == 1.0
    refs = [f"the {w} sat on the mat today" for w in ("cat", "dog", "bird", "fish", "cow")] * 6
    good = [Generated(i, r, r) for i, r in enumerate(refs)]
    bad = [Generated(i, r, "a mat") for i, r in enumerate(refs)]
    p = compare(good, bad, "bleu")
    assert p["bleu"] == pytest.approx(100.0) and p["p_value"] < 0.05
    assert (
        compare(bad, good, "bleu")["p_value"] == 1.0 and compare(bad, bad, "bleu")["p_value"] == 1.0
    )
    with pytest.raises(ValueError, match="same test set"):
        compare(good, bad[::-1], "cer")


def test_asr_and_bleu_scores_of_examples():
    ex = [
        Generated(0, "de kat", "de kat"),
        Generated(1, "een hond", "een kont"),
        Generated(2, "ja", "nee"),
    ]
    s = asr_scores(ex)
    assert s["wer"] == pytest.approx(100 * 2 / 5) and s["cer"] == pytest.approx(
        100 * (0 + 2 + 3) / (6 + 8 + 2)
    )
    assert s["distinct"] == 100.0 and s["n"] == 3 and len(s["cer_ci"]) == 2
    b = bleu_scores(ex)
    assert b["bleu"] == pytest.approx(
        sacrebleu.corpus_bleu([e.hypothesis for e in ex], [[e.reference for e in ex]]).score
    )


def test_score_command_on_generate_output(tmp_path, capsys):
    out = tmp_path / "gen.out"
    out.write_text(
        "T-0\tde kat\nH-0\t-0.1\t▁de ▁kat\nD-0\t-0.1\tde kat\nT-1\teen hond\nD-1\t-0.2\teen kont\n",
        encoding="utf-8",
    )
    base = tmp_path / "base.out"
    base.write_text("T-0\tde kat\nD-0\t-0.1\tja\nT-1\teen hond\nD-1\t-0.2\tja\n", encoding="utf-8")
    assert main(["asr", str(out), "--baseline", str(base), "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert (
        r["wer"] == pytest.approx(25.0)
        and r["cer"] == pytest.approx(100 * 2 / 14)
        and r["distinct"] == 100.0
    )
    assert 0 < r["wer_p_value"] <= 1
    assert main(["bleu", str(out)]) == 0
    assert capsys.readouterr().out.startswith("BLEU ")
