"""The SLAM / mSLAM recipes of examples/paper/slam: each composes as fairseq-hydra-train
composes it, builds the paper-size model (mSLAM's 0.6B, on the meta device), trains one
update at the tiny size on the small real corpus laid out as examples/paper/README.md
lays out the paper's corpora, and its fairseq-train command line sets what its YAML sets."""

import math
import shutil
from pathlib import Path

import pytest
import torch
from fairseq import models, options, tasks
from fairseq.dataclass.utils import convert_namespace_to_omegaconf
from fairseq.trainer import Trainer

from mu2slam_fairseq.data.pipeline.data_config import load_data_config
from test_paper_recipes import CPU, PLUGIN, compose_recipe, fairseq_train_args, work  # noqa: F401

REPO = Path(__file__).resolve().parents[1]
SLAM = REPO / "examples" / "paper" / "slam"
RECIPES = sorted(p for p in SLAM.glob("*.yaml") if p.name != "data.yaml")


@pytest.fixture(scope="module")
def slam_work(request) -> Path:
    """The paper layout (``test_paper_recipes.work``) with the SLAM data config copied in
    as its recipes expect it."""
    root = request.getfixturevalue("work")
    shutil.copy(SLAM / "data.yaml", root / "char" / "slam.yaml")
    return root


def overrides(root: Path, recipe: Path) -> list:
    out = [
        f"task.data={root / 'char'}",
        f"common.user_dir={PLUGIN}",
        f"checkpoint.save_dir={root / 'ckpt'}",
    ]
    if "restore_file: ???" in recipe.read_text():
        out.append(f"checkpoint.restore_file={root / 'stage1.pt'}")
    return out


def test_the_recipes_and_their_settings():
    assert [r.stem for r in RECIPES] == ["mslam_base", "slam_stage1", "slam_stage2"]
    data = load_data_config(SLAM / "data.yaml", check_paths=False)
    assert data.batching.shares["speech"] == 8 and data.batching.shares["text"] == 32
    assert data.batching.shares["asr"] == 1 and data.batching.sentences_per_share == 1
    assert {c.type for c in data.corpora} == {"speech", "text", "asr"}
    readme = (REPO / "examples" / "paper" / "README.md").read_text()
    assert all(f"slam/{r.name}" in readme for r in RECIPES) and "slam/data.yaml" in readme


@pytest.mark.slow
@pytest.mark.parametrize("recipe", RECIPES, ids=lambda r: r.stem)
def test_slam_recipe_builds_the_paper_model_and_trains_one_update(recipe, slam_work):
    base = overrides(slam_work, recipe)
    cfg = compose_recipe(recipe, base)
    with torch.device("meta"):
        big = models.build_model(cfg.model, tasks.setup_task(cfg.task))
    c = big.cfg
    assert (c.embed_dim, c.speech_layers, c.shared_layers, c.ffn_embed_dim) == (1024, 8, 16, 4096)
    assert (c.attention_heads, c.conv_kernel_size) == (8, 5)
    assert 0.55e9 < sum(p.numel() for p in big.parameters()) < 0.65e9  # mSLAM's 600M

    small = compose_recipe(
        recipe, base + CPU + ["model._name=mu2slam_slam_tiny", "dataset.max_tokens=200000"]
    )
    task = tasks.setup_task(small.task)
    task.load_dataset(small.dataset.train_subset, combine=False, epoch=1)
    model = task.build_model(small.model)
    assert model.cfg.embed_dim == 96
    trainer = Trainer(small, task, model, task.build_criterion(small.criterion))
    itr = trainer.get_train_iterator(epoch=1, load_dataset=False).next_epoch_itr(shuffle=False)
    batch = next(itr)
    before = [p.detach().clone() for p in model.parameters()]
    log = trainer.train_step([batch])
    assert trainer.get_num_updates() == 1 and math.isfinite(log["loss"])
    assert any(not torch.equal(a, p) for a, p in zip(before, model.parameters()))
    types = sorted(v["type"] for v in batch["views"])
    if small.task.self_supervised_only:
        assert types == ["speech", "text"] and "tlm_text_mlm" not in log
    else:
        assert types == ["asr", "speech", "text"] and "tlm_text_mlm" in log
        assert ("ctc" in log) == (small.task.slam_preset == "mslam")
        assert ("stm" in log) == (small.task.slam_preset == "slam")


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda r: r.stem)
def test_fairseq_train_line_matches_the_recipe(recipe, tmp_path):
    args = [
        PLUGIN if a == "mu2slam_fairseq" else a.replace("WORK/char", str(tmp_path))
        for a in fairseq_train_args(recipe)
    ]
    line = convert_namespace_to_omegaconf(
        options.parse_args_and_arch(options.get_training_parser(), args)
    )
    hydra = compose_recipe(recipe, overrides(tmp_path, recipe))
    paths = {"data", "user_dir", "save_dir", "restore_file", "_name"}
    for group in (
        "task",
        "criterion",
        "optimizer",
        "lr_scheduler",
        "optimization",
        "model",
        "dataset",
        "checkpoint",
        "common",
        "distributed_training",
    ):
        for key, value in hydra[group].items():
            if key not in paths and key in line[group]:
                assert line[group][key] == value, f"{recipe.name}: {group}.{key}"
    assert line.model._name == hydra.model._name and line.task._name == hydra.task._name
