"""Reading fairseq's simple-format logs into curves, the falls check and the PNG."""

import subprocess
import sys

import pytest

from mu2slam_fairseq.train_log import curve_colours, falls, loss_terms, main, read_log

# lines as fairseq-train writes them to --log-file (pre-training, then fine-tuning validation)
LOG = """\
epoch 001:     10 / 73185 loss=130.293, asr_s2t/ctc_loss=13.78, asr_s2t/dec_loss=10.101, asr_s2t/dec_acc=2.4, asr_s2t_nsentences=1, wps=184.9, ups=0.19, wpb=956.9, bsz=15, num_updates=10, lr=0.0002, gnorm=45.822, clip=100, train_wall=52, wall=81
epoch 001:     20 / 73185 loss=107.044, asr_s2t/ctc_loss=8.943, asr_s2t/dec_loss=8.488, asr_s2t/dec_acc=9.1, asr_s2t_nsentences=1, wps=190.2, ups=0.2, wpb=950.1, bsz=15, num_updates=20, lr=0.0004, gnorm=20.5, clip=100, train_wall=101, wall=131
epoch 001 | valid on 'valid' subset | loss 7.512 | nll_loss 6.9 | bleu 1.23 | ast_bleu 1.5 | wer 98.4 | ppl 119.4 | wps 310.2 | wpb 870 | bsz 40 | num_updates 20
some other line | INFO | fairseq.trainer | begin training epoch 1
"""


def test_read_log_gives_training_and_validation_curves_by_update():
    phases = read_log(LOG.splitlines())
    train = phases["train"]
    assert train["loss"] == [(10, 130.293), (20, 107.044)]
    assert train["asr_s2t/ctc_loss"] == [(10, 13.78), (20, 8.943)]
    assert train["asr_s2t/dec_acc"] == [(10, 2.4), (20, 9.1)]
    assert not {"num_updates", "lr", "wps", "asr_s2t_nsentences"} & set(train)
    valid = phases["valid:valid"]
    assert (
        valid["bleu"] == [(20, 1.23)]
        and valid["ast_bleu"] == [(20, 1.5)]
        and valid["wer"] == [(20, 98.4)]
    )
    assert set(loss_terms(train)) == {"loss", "asr_s2t/ctc_loss", "asr_s2t/dec_loss"}


def test_a_resumed_run_logging_an_update_again_keeps_one_point_the_last():
    again = LOG.splitlines()[2].replace("bleu 1.23", "bleu 2.5") + " | best_loss 7.512"
    valid = read_log(LOG.splitlines() + [again])["valid:valid"]
    assert valid["bleu"] == [(20, 2.5)]
    assert valid["best_loss"] == [(20, 7.512)] and set(loss_terms(valid)) == {"loss", "nll_loss"}


def test_falls_compares_window_means():
    points = list(enumerate([5.0, 4.0, 6.0, 3.0, 2.0, 2.5]))
    assert falls(points, window=2) == (4.5, 2.25, True)
    assert falls(points[:1], window=2)[2] is False  # one point shows nothing
    rising = list(enumerate([1.0, 1.0, 2.0, 2.0]))
    assert falls(rising, window=2) == (1.0, 2.0, False)


def test_command_checks_falls_and_writes_png(tmp_path, capsys):
    log = tmp_path / "train.log"
    log.write_text(LOG, encoding="utf-8")
    png = tmp_path / "curves.png"
    cmd = [
        sys.executable,
        "-m",
        "mu2slam_fairseq.train_log",
        str(log),
        "--out",
        str(png),
        "--check-falls",
        "--window",
        "1",
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "3 of 3 terms fell" in out.stdout
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    log.write_text(LOG.replace("asr_s2t/ctc_loss=8.943", "asr_s2t/ctc_loss=14.5"), encoding="utf-8")
    assert main(cmd[3:]) == 1  # the same command, in this process: a term that rose fails the check
    assert "not: asr_s2t/ctc_loss" in capsys.readouterr().out


def test_a_run_keeps_its_colour_in_every_chart():
    panels = {
        "BLEU": {"pretrained": [(1, 0.1)], "scratch": [(1, 0.0)]},
        "WER": {"scratch": [(1, 99.0)]},
        "loss": {"s2t": [(1, 4.0)], "pretrained": [(1, 4.2)]},
    }
    assert curve_colours(panels, ["a", "b"]) == {"pretrained": "a", "scratch": "b", "s2t": "a"}


# a run validated at 20 and 40 updates, resumed after 20 (fairseq then logs wall=0 and
# repeats update 20), and a second run validated once
RUN_A = """\
epoch 001:     10 / 50 loss=9.0, num_updates=10, lr=0.001, train_wall=30, wall=35
epoch 001:     20 / 50 loss=8.0, num_updates=20, lr=0.001, train_wall=30, wall=70
epoch 001 | valid on 'valid' subset | loss 8.5 | cer 90.5 | wer 101 | num_updates 20
epoch 001:     20 / 50 loss=8.0, num_updates=20, lr=0.001, train_wall=48, wall=0
epoch 001:     30 / 50 loss=7.0, num_updates=30, lr=0.001, train_wall=60, wall=0
epoch 001:     40 / 50 loss=6.0, num_updates=40, lr=0.001, train_wall=60, wall=0
epoch 001 | valid on 'valid' subset | loss 7.5 | cer 70.25 | wer 99 | num_updates 40
"""
RUN_B = """\
epoch 001 | valid on 'valid' subset | loss 9.5 | cer 99.0 | num_updates 5
epoch 001:     10 / 50 loss=9.0, num_updates=10, lr=0.001, train_wall=120, wall=125
epoch 001 | valid on 'valid' subset | loss 8.5 | cer 80.0 | num_updates 10
"""


def test_compare_puts_runs_side_by_side_over_updates_and_training_minutes(tmp_path, capsys):
    logs = []
    for name, text in (("a", RUN_A), ("b", RUN_B)):
        (tmp_path / name).mkdir()
        logs.append(tmp_path / name / "train.log")
        logs[-1].write_text(text, encoding="utf-8")
    png = tmp_path / "cer.png"
    assert main([*map(str, logs), "--compare", "cer", "--out", str(png)]) == 0
    out = capsys.readouterr().out
    # training minutes: the running sum of train_wall, update 20's repeat counted once (48 s)
    assert "a: cer at 20 (1.3 min) 90.5, 40 (3.3 min) 70.25" in out
    assert "b: cer at 5 (-) 99, 10 (2.0 min) 80" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main([*map(str, logs), "--compare", "bleu"]) == 1
    assert "no validation line logs 'bleu'" in capsys.readouterr().out


def test_training_minutes_follow_train_wall_across_a_resume():
    from mu2slam_fairseq.train_log import training_clock, validation_curve

    assert training_clock(RUN_A.splitlines()) == [(10, 30.0), (20, 78.0), (30, 138.0), (40, 198.0)]
    assert validation_curve(RUN_A.splitlines(), "cer") == [(20, 90.5, 1.3), (40, 70.25, 3.3)]
    assert validation_curve(RUN_B.splitlines(), "cer") == [(5, 99.0, None), (10, 80.0, 2.0)]


def test_several_logs_need_compare_and_compare_reads_no_falls(tmp_path, capsys):
    log = tmp_path / "train.log"
    log.write_text(RUN_A, encoding="utf-8")
    for argv in ([str(log), str(log)], [str(log), "--compare", "cer", "--check-falls"]):
        with pytest.raises(SystemExit) as exit_:
            main(argv)
        assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "several logs need --compare METRIC" in err and "--check-falls reads one log" in err
