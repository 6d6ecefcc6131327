"""The comparison script's fine-tuning commands: examples per update and per-task stage-2 lengths."""

import shlex
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples" / "finetune"))
import compare  # noqa: E402


def test_stage2_updates_per_task():
    assert compare.stage2_updates("1500") == {"ast": 1500, "asr": 1500, "mt": 1500}
    assert compare.stage2_updates("ast:400,asr:800") == {"ast": 400, "asr": 800, "mt": 800}
    for bad in ("ast:x", "speech:3", "ast400"):
        with pytest.raises(ValueError):
            compare.stage2_updates(bad)


def test_dry_run_commands_carry_the_batch_sizes(tmp_path):
    configs = tmp_path / "configs"
    configs.mkdir()
    for task, stem in (("ast", "test_st_nl_en"), ("asr", "test_asr_nl"), ("mt", "test_mt")):
        corpora = [{"name": stem[5:], "type": task, "splits": {"test": f"{stem}.tsv"}}]
        (configs / f"{task}.yaml").write_text(yaml.safe_dump({"corpora": corpora}))
    out = tmp_path / "out"
    compare.main(
        [
            "--configs",
            str(configs),
            "--out",
            str(out),
            "--runs",
            "scratch",
            "--stage1-updates",
            "10",
            "--stage2-updates",
            "ast:4,asr:6",
            "--stage2",
            "ast,asr",
            "--batch-size",
            "32",
            "--stage2-batch-size",
            "16",
            "--dry-run",
        ]
    )
    lines = [
        shlex.split(line)
        for line in (out / "commands.sh").read_text().splitlines()
        if "fairseq_cli.train" in line
    ]
    flags = {cmd[cmd.index("--data-config") + 1]: dict(zip(cmd, cmd[1:])) for cmd in lines}
    assert set(flags) == {"multitask_noisy.yaml", "ast_noisy.yaml", "asr_noisy.yaml"}
    assert (
        flags["multitask_noisy.yaml"]["--batch-size"] == "32"
        and flags["multitask_noisy.yaml"]["--max-update"] == "10"
    )
    assert (
        flags["ast_noisy.yaml"]["--batch-size"] == "16"
        and flags["ast_noisy.yaml"]["--max-update"] == "4"
    )
    assert (
        flags["asr_noisy.yaml"]["--batch-size"] == "16"
        and flags["asr_noisy.yaml"]["--max-update"] == "6"
    )


def test_training_step_seconds_leave_out_the_validations(tmp_path):
    """scratch's equal-time stage 1 is paced by the update steps of the pre-trained stage 1,
    summed over its epoch lines; validation time is not in fairseq's train_wall."""
    log = tmp_path / "train.log"
    log.write_text(
        "2026-12-03 17:13:10 | INFO | train | epoch 001 | loss 6.576 | num_updates 8 | clip 50 "
        "| train_wall 8 | wall 74\n"
        "2026-12-03 17:13:11 | INFO | valid | epoch 001 | valid on 'valid' subset | loss 8.2\n"
        "2026-12-03 17:14:10 | INFO | train | epoch 002 | loss 6.1 | num_updates 16 | clip 40 "
        "| train_wall 9.5 | wall 140\n"
        "2026-12-03 17:14:11 | INFO | fairseq_cli.train | done training in 139.0 seconds\n"
    )
    assert compare.training_step_seconds(log) == 17.5
    assert compare.training_seconds(log) == 139.0
    log.write_text("2026-12-03 17:13:10 | INFO | train_inner | epoch 001: 2 / 9 loss=6.5\n")
    with pytest.raises(SystemExit, match="train_wall"):
        compare.training_step_seconds(log)


def test_the_mslam_run_fine_tunes_the_slam_encoder_by_the_same_recipe(tmp_path):
    """Stage 1 of mslam loads the SLAM encoder into mu2slam_slam_seq2seq; stage 2 starts from
    stage 1 with the same architecture; both carry the pretrained run's recipe."""
    configs = tmp_path / "configs"
    configs.mkdir()
    for task, stem in (("ast", "test_st_nl_en"), ("asr", "test_asr_nl"), ("mt", "test_mt")):
        corpora = [{"name": stem[5:], "type": task, "splits": {"test": f"{stem}.tsv"}}]
        (configs / f"{task}.yaml").write_text(yaml.safe_dump({"corpora": corpora}))
    out, ckpt = tmp_path / "out", tmp_path / "mslam" / "checkpoints" / "checkpoint_last.pt"
    argv = ["--configs", str(configs), "--out", str(out), "--stage1-updates", "10"]
    argv += ["--stage2-updates", "4", "--stage2", "asr", "--dry-run"]
    with pytest.raises(SystemExit):  # the mslam run needs its checkpoint
        compare.main(argv + ["--runs", "mslam"])
    compare.main(
        argv + ["--runs", "pretrained,mslam", "--pretrained", str(tmp_path / "p.pt")]
        + ["--mslam", str(ckpt)]
    )  # fmt: skip
    commands = [
        shlex.split(line)
        for line in (out / "commands.sh").read_text().splitlines()
        if "fairseq_cli.train" in line
    ]
    flags = [dict(zip(cmd, cmd[1:])) for cmd in commands if "/mslam/" in " ".join(cmd)]
    ours = [dict(zip(cmd, cmd[1:])) for cmd in commands if "/pretrained/" in " ".join(cmd)]
    assert [f["--arch"] for f in flags] == ["mu2slam_slam_seq2seq_tiny"] * 2
    assert [f["--arch"] for f in ours] == ["mu2slam_tiny"] * 2
    assert flags[0]["--load-pretrained-encoder-from"] == str(ckpt.resolve())
    assert "--finetune-from-model" not in flags[0]
    assert flags[1]["--finetune-from-model"] == str(out / "mslam" / "stage1" / "checkpoint_last.pt")
    assert "--load-pretrained-encoder-from" not in flags[1]
    for key in ("--max-update", "--lr", "--ctc-weight", "--synonym-noise", "--data-config"):
        assert [f[key] for f in flags] == [f[key] for f in ours], key
