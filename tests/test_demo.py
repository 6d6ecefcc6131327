"""The main job end to end (`examples/demo.py --quick`) on the default corpus, as a user runs it."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_quick_main_job_runs_every_stage_and_reports(default_corpus, tmp_path):
    work = tmp_path / "demo"
    work.mkdir()
    (work / "corpus").symlink_to(
        default_corpus
    )  # the corpus stage then only verifies the built corpus
    cmd = [sys.executable, str(REPO / "examples" / "demo.py"), "--quick", "--work", str(work)]
    out = subprocess.run(
        cmd, capture_output=True, text=True, timeout=3600
    )  # minutes on an idle machine
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    for stage in (
        "corpus",
        "vocab",
        "cmvn",
        "tokenizer",
        "pretrain",
        "pretrain-curves",
        "finetune-configs",
        "finetune",
    ):
        assert f"[demo] {stage}: " in out.stdout
    assert (
        "fairseq-train" in out.stdout
        and "fairseq_cli.generate" in (work / "finetune" / "commands.sh").read_text()
    )

    report = json.loads((work / "results.json").read_text())
    asr = {
        f"{m}{d}"
        for m in ("wer", "cer", "distinct", "wer_ci", "cer_ci")
        for d in ("", " (CTC greedy)")
    }
    for run in ("pretrained", "scratch"):
        scores = report["results"][run]
        expected = {
            f"{c} {m}"
            for c in ("st_nl_en", "st_cs_en", "test_mt_fillets")
            for m in ("bleu", "distinct")
        }
        expected |= {f"{c} {m}" for c in ("asr_nl", "asr_cs") for m in asr} | {"training minutes"}
        if run == "pretrained":  # paired bootstrap against scratch, on every test set and decoding
            expected |= {f"{c} bleu p" for c in ("st_nl_en", "st_cs_en", "test_mt_fillets")}
            expected |= {
                f"{c} {m} p{d}"
                for c in ("asr_nl", "asr_cs")
                for m in ("wer", "cer")
                for d in ("", " (CTC greedy)")
            }
        assert set(scores) == expected
        for key, v in scores.items():
            if key.split()[1].endswith("_ci"):
                assert len(v) == 2 and v[0] <= scores[key.replace("_ci", "")] <= v[1], (key, v)
            else:
                assert isinstance(v, float) and v >= 0, (key, v)
    # scratch's multi-task stage was given the time of pre-training and the pre-trained stage 1
    # (the logs' "done training in X seconds"), and the time, not an update count, ended it
    logs = work / "finetune" / "logs"

    def done_seconds(log: Path) -> float:
        return float(re.findall(r"done training in ([\d.]+) seconds", log.read_text())[-1])

    budget = done_seconds(work / "pretrain" / "train.log") + done_seconds(
        logs / "pretrained_stage1.log"
    )
    commands = (work / "finetune" / "commands.sh").read_text().split("\n# ")
    scratch_stage1 = next(c for c in commands if c.startswith("scratch_stage1\n"))
    stop_hours = re.search(r"--stop-time-hours ([\d.]+)", scratch_stage1).group(1)
    assert stop_hours == f"{budget / 3600:.6f}"
    assert "--max-update 1000000" in scratch_stage1
    assert done_seconds(logs / "scratch_stage1.log") >= budget - 1
    table = (work / "results.md").read_text()
    assert (
        "| nl | CER % (joint CTC/attention) |" in table and "| from scratch, equal time |" in table
    )
    for png in report["plots"]:
        assert (work / png).read_bytes()[:4] == b"\x89PNG"
    assert "plots/finetune_validation.png" in report["plots"]

    # every logged pre-training loss term falls on the default corpus
    curves = subprocess.run(
        [
            sys.executable,
            "-m",
            "mu2slam_fairseq.train_log",
            str(work / "pretrain" / "train.log"),
            "--check-falls",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert curves.returncode == 0, curves.stdout
    assert (
        "27 of 27 terms fell" in curves.stdout
    )  # the total and the 26 terms of the five data types

    # a second run finds every stage complete and redoes nothing
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.count("done already, skipping") == 8

    # the noise-ratio study on top: only the fine-tuning stage runs, and only its new steps
    study = subprocess.run(cmd + ["--noise-study"], capture_output=True, text=True, timeout=1800)
    assert study.returncode == 0, study.stdout[-3000:] + study.stderr[-3000:]
    assert study.stdout.count("done already, skipping") == 7
    assert "pretrained_stage1: done already" in study.stdout  # compare.py reuses the finished steps
    report = json.loads((work / "results.json").read_text())
    assert sorted(report["noise_study"], key=float) == [
        "0",
        "0.06",
        "0.24",
    ]  # the quick run's ratios
    for scores in report["noise_study"].values():
        assert set(scores) == {"st_nl_en bleu", "st_cs_en bleu"}
        assert all(isinstance(v, float) and v >= 0 for v in scores.values()), scores
    assert (work / "plots" / "noise_study.png").read_bytes()[:4] == b"\x89PNG"
    assert (
        "| 0.06 | " in (work / "results.md").read_text()
        and "Noise-ratio study" in (work / "results.md").read_text()
    )

    # fairseq's s2t_conformer as a reference column, on the same data
    ref = subprocess.run(cmd + ["--reference"], capture_output=True, text=True, timeout=1800)
    assert ref.returncode == 0, ref.stdout[-3000:] + ref.stderr[-3000:]
    report = json.loads((work / "results.json").read_text())
    assert set(report["results"]) == {"pretrained", "scratch", "s2t_conformer"}
    assert set(report["results"]["s2t_conformer"]) == (
        {f"{c} {m}" for c in ("st_nl_en", "st_cs_en") for m in ("bleu", "distinct")}
        | {
            f"{c} {m}"
            for c in ("asr_nl", "asr_cs")
            for m in ("wer", "cer", "distinct", "wer_ci", "cer_ci")
        }
    )
    assert "| fairseq s2t_conformer |" in (work / "results.md").read_text().replace(
        "| test set ", ""
    )
    # an interrupted reference run resumes: its log never said "done training" and the
    # stage never finished; the re-run reloads fairseq's own checkpoint
    log = work / "finetune" / "logs" / "s2t_conformer_ast.log"
    log.write_text("")
    (work / "stages" / "finetune.done").unlink()
    again = subprocess.run(cmd + ["--reference"], capture_output=True, text=True, timeout=1800)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert "Loaded checkpoint" in log.read_text() and "done training in" in log.read_text()
