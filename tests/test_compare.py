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
