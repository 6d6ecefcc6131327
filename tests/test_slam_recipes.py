"""The SLAM / mSLAM recipes of examples/paper/slam: each composes as fairseq-hydra-train
composes it, builds the paper-size model (mSLAM's 0.6B, on the meta device), trains one
update at the tiny size on the small real corpus laid out as examples/paper/README.md
lays out the paper's corpora, and its fairseq-train command line sets what its YAML sets."""

import shutil
from pathlib import Path

import pytest
import torch
from fairseq import models, tasks

from mu2slam_fairseq.data.pipeline.data_config import load_data_config
from test_paper_recipes import (  # noqa: F401  (work: a fixture)
    CPU,
    PLUGIN,
    assert_line_matches,
    compose_recipe,
    fairseq_train_args,
    one_update,
    work,
)

REPO = Path(__file__).resolve().parents[1]
SLAM = REPO / "examples" / "paper" / "slam"
RECIPES = sorted(p for p in SLAM.glob("*.yaml") if p.name != "data.yaml")
FINETUNE_DATA = sorted((SLAM / "data").glob("*.yaml"))


@pytest.fixture(scope="module")
def slam_work(request) -> Path:
    """The paper layout (``test_paper_recipes.work``) with the SLAM data config copied in
    as its recipes expect it."""
    root = request.getfixturevalue("work")
    shutil.copy(SLAM / "data.yaml", root / "char" / "slam.yaml")
    for data in FINETUNE_DATA:
        shutil.copy(data, root / "char" / f"mslam_{data.name}")
    return root


def overrides(root: Path, recipe: Path) -> list:
    out = [
        f"task.data={root / 'char'}",
        f"common.user_dir={PLUGIN}",
        f"checkpoint.save_dir={root / 'ckpt'}",
    ]
    if "restore_file: ???" in recipe.read_text():
        out.append(f"checkpoint.restore_file={root / 'stage1.pt'}")
    if "load_pretrained_encoder_from: ???" in recipe.read_text():  # absent: random weights
        out.append(f"model.load_pretrained_encoder_from={root / 'mslam.pt'}")
    return out


def test_the_recipes_and_their_settings():
    assert [r.stem for r in RECIPES] == [
        "mslam_base",
        "mslam_finetune_ast",
        "mslam_finetune_ast_mt",
        "slam_stage1",
        "slam_stage2",
    ]
    ast_mt = load_data_config(SLAM / "data" / "ast_mt.yaml", check_paths=False)
    assert (
        ast_mt.batching.shares["ast"] == ast_mt.batching.shares["mt"]
    )  # equal AST and MT examples
    assert {c.type for c in ast_mt.corpora} == {"ast", "mt"}
    assert [r.name for r in FINETUNE_DATA] == ["ast.yaml", "ast_mt.yaml"]
    data = load_data_config(SLAM / "data.yaml", check_paths=False)
    assert data.batching.shares["speech"] == 8 and data.batching.shares["text"] == 32
    assert data.batching.shares["asr"] == 1 and data.batching.sentences_per_share == 1
    assert {c.type for c in data.corpora} == {"speech", "text", "asr"}
    readme = (REPO / "examples" / "paper" / "README.md").read_text()
    assert all(f"slam/{r.name}" in readme for r in RECIPES) and "slam/data.yaml" in readme
    assert all(f"slam/data/{d.name}" in readme for d in FINETUNE_DATA)


PRETRAINING = [r for r in RECIPES if "finetune" not in r.stem]
FINETUNING = [r for r in RECIPES if "finetune" in r.stem]


def paper_model(cfg):
    """The recipe's model at the paper's size, on the meta device (no memory)."""
    with torch.device("meta"):
        big = models.build_model(cfg.model, tasks.setup_task(cfg.task))
    c = big.cfg
    assert (c.embed_dim, c.speech_layers, c.shared_layers, c.ffn_embed_dim) == (1024, 8, 16, 4096)
    assert (c.attention_heads, c.conv_kernel_size) == (8, 5)
    return big


@pytest.mark.slow
@pytest.mark.parametrize("recipe", PRETRAINING, ids=lambda r: r.stem)
def test_slam_recipe_builds_the_paper_model_and_trains_one_update(recipe, slam_work):
    base = overrides(slam_work, recipe)
    big = paper_model(compose_recipe(recipe, base))
    assert 0.55e9 < sum(p.numel() for p in big.parameters()) < 0.65e9  # mSLAM's 600M

    small = compose_recipe(
        recipe, base + CPU + ["model._name=mu2slam_slam_tiny", "dataset.max_tokens=200000"]
    )
    _, model, batch, log = one_update(small)
    assert model.cfg.embed_dim == 192
    types = sorted(v["type"] for v in batch["views"])
    if small.task.self_supervised_only:
        assert types == ["speech", "text"] and "tlm_text_mlm" not in log
    else:
        assert types == ["asr", "speech", "text"] and "tlm_text_mlm" in log
        assert ("ctc" in log) == (small.task.slam_preset == "mslam")
        assert ("stm" in log) == (small.task.slam_preset == "slam")


@pytest.mark.slow
@pytest.mark.parametrize("recipe", FINETUNING, ids=lambda r: r.stem)
def test_mslam_finetuning_recipe_builds_the_paper_model_and_trains_one_update(recipe, slam_work):
    base = overrides(slam_work, recipe)
    big = paper_model(compose_recipe(recipe, base))
    decoder = sum(p.numel() for p in big.decoder.layers.parameters())
    assert len(big.decoder.layers) == 6 and big.decoder.embed_dim == 512
    assert 20e6 < decoder < 30e6  # 6 x (self + cross attention + FFN 2048) at width 512
    assert big.cfg.decoder_dropout == (0.1 if "ast_mt" in recipe.stem else 0.3)
    small = compose_recipe(recipe, base + CPU + ["model._name=mu2slam_slam_seq2seq_tiny"])
    assert small.criterion.weight_mt == (5.0 if "ast_mt" in recipe.stem else 1.0)
    _, model, batch, log = one_update(small)
    assert model.cfg.embed_dim == 192
    expected = ["ast", "mt"] if "ast_mt" in recipe.stem else ["ast"]
    assert sorted(v["type"] for v in batch["views"]) == expected
    assert ("mt_fwd/dec_loss" in log) == ("ast_mt" in recipe.stem)


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda r: r.stem)
def test_fairseq_train_line_matches_the_recipe(recipe, tmp_path):
    args = [
        PLUGIN if a == "mu2slam_fairseq" else a.replace("WORK/char", str(tmp_path))
        for a in fairseq_train_args(recipe)
    ]
    hydra = compose_recipe(recipe, overrides(tmp_path, recipe))
    assert_line_matches(
        recipe,
        args,
        hydra,
        {"data", "user_dir", "save_dir", "restore_file", "load_pretrained_encoder_from", "_name"},
    )
