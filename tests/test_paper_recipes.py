"""The paper-scale recipes of examples/paper: every hydra config there, and every data config
with the recipes its header names, builds its task and the paper's model through fairseq's
hydra path and trains one update at the tiny size, on the small real corpus laid out as
examples/paper/README.md lays out the paper's corpora. New files are picked up by glob.
Also: ``model._name: <architecture>`` gives that architecture's sizes on the hydra path."""

import importlib.util
import math
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import List, Optional

import numpy as np
import pytest
import torch
import yaml
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

import mu2slam_fairseq  # noqa: F401  (registers what the configs name)
from fairseq import models, options, tasks
from fairseq.dataclass.initialize import add_defaults, hydra_init
from fairseq.dataclass.utils import convert_namespace_to_omegaconf, omegaconf_no_object_check
from fairseq.trainer import Trainer
from mu2slam_fairseq.data.pipeline.data_config import load_data_config
from mu2slam_fairseq.data.io.manifest import read_manifest, write_manifest
from mu2slam_fairseq.models.describe import summary
from pretrain_corpus import build

REPO = Path(__file__).resolve().parents[1]
PAPER = REPO / "examples" / "paper"
RECIPES = sorted(PAPER.glob("*.yaml"))
DATA_CONFIGS = sorted((PAPER / "data").glob("*.yaml"))
PLUGIN = str(REPO / "mu2slam_fairseq")
# on CPU, one process, the fixture's sizes; everything else as the recipe says
CPU = [
    "common.cpu=true",
    "common.fp16=false",
    "distributed_training.distributed_world_size=1",
    "optimization.update_freq=[1]",
    "dataset.max_tokens=3000",
    "dataset.num_workers=0",
]

_spec = importlib.util.spec_from_file_location("merge_manifests", PAPER / "merge_manifests.py")
merge_manifests = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(merge_manifests)


def declared_recipes(data_config: Path) -> List[Path]:
    """The recipes a data config's header names (``# Recipe(s): PATH ...``)."""
    m = re.search(r"^# Recipes?: (.+)$", data_config.read_text(), re.M)
    return [REPO / p for p in m.group(1).split()] if m else []


def pairs() -> list:
    """(recipe, data config override): each recipe as it is, and each data config with its
    recipes; a data config's further recipes are slow (the data config ran with the first)."""
    out = [pytest.param((r, None), id=pair_id((r, None))) for r in RECIPES]
    for d in DATA_CONFIGS:
        recipes = [
            r for r in declared_recipes(d) if not (r in RECIPES and yaml_data_config(r) == d.name)
        ]
        out += [
            pytest.param(
                (r, d.name), id=pair_id((r, d.name)), marks=[pytest.mark.slow] if i else []
            )
            for i, r in enumerate(recipes)
        ]
    return out


def yaml_data_config(recipe: Path) -> Optional[str]:
    text = recipe.read_text()
    m = re.search(r"^  data_config: (\S+)$", text, re.M)
    if m is None and "defaults:" in text:  # inherits it
        parent = [name for name in re.findall(r"^  - (\w+)$", text, re.M) if name != "_self_"][0]
        return yaml_data_config(recipe.parent / f"{parent}.yaml")
    return m.group(1) if m else None


def pair_id(pair) -> str:
    recipe, data = pair
    return f"{recipe.parent.name}/{recipe.stem}" + (f"+{data}" if data else "")


# ---------------------------------------------------------------- the corpus, laid out as README.md says

SOURCE_OF_TYPE = {
    "speech": "train_speech.tsv",
    "text": "train_text.tsv",
    "asr": "train_asr_nl.tsv",
    "ast": "train_st_nl_en.tsv",
    "mt": "train_mt.tsv",
    "t2t": "train_mt.tsv",
}


@pytest.fixture(scope="module")
def work(tmp_path_factory, fillets_root) -> Path:
    """WORK/{corpora,speech,char,spm}: every manifest the data configs name holds the small
    corpus's rows of its type, moved there by merge_manifests.py (so its audio references are
    rewritten); char/ and spm/ hold the vocabulary and a copy of every data config."""
    small = tmp_path_factory.mktemp("paper_small")
    build(small, fillets_root)
    work = tmp_path_factory.mktemp("paper_work")
    (work / "speech").mkdir()
    shutil.copy(small / "tokenizer.pt", work / "speech" / "tokenizer.pt")
    np.savez(
        work / "speech" / "cmvn.npz", mean=np.zeros(80, np.float32), std=np.ones(80, np.float32)
    )
    for variant in ("char", "spm"):
        shutil.copytree(small / "vocab", work / variant / "vocab")
        for d in DATA_CONFIGS:
            shutil.copy(d, work / variant / d.name)
    for d in DATA_CONFIGS:
        for c in yaml.safe_load(d.read_text())["corpora"]:
            for rel in c["splits"].values():
                target = (work / "char" / rel).resolve()
                if (
                    not target.exists()
                ):  # a speech corpus may read an ASR manifest: its name says which
                    source = SOURCE_OF_TYPE["asr" if "asr" in target.stem else c["type"]]
                    merge_manifests.merge(target, [small / source])
    return work


# ---------------------------------------------------------------- composing as fairseq-hydra-train does


def compose_recipe(recipe: Path, overrides: List[str]):
    """The config fairseq-hydra-train trains with (fairseq_cli/hydra_train.py's steps)."""
    hydra_init(recipe.stem)
    with initialize_config_dir(config_dir=str(recipe.parent), version_base="1.1"):
        cfg = compose(config_name=recipe.stem, overrides=overrides)
    add_defaults(cfg)
    with omegaconf_no_object_check():
        cfg = OmegaConf.create(
            OmegaConf.to_container(cfg, resolve=True, enum_to_str=True, throw_on_missing=True)
        )
    OmegaConf.set_struct(cfg, True)
    return cfg


def overrides_for(work: Path, recipe: Path, data: Optional[str]) -> List[str]:
    variant = "spm" if "spm" in recipe.stem else "char"
    out = [
        f"task.data={work / variant}",
        f"common.user_dir={PLUGIN}",
        f"checkpoint.save_dir={work / 'ckpt'}",
    ]
    if "finetune_from_model: ???" in recipe.read_text():
        out.append(f"checkpoint.finetune_from_model={work / 'not_trained_yet.pt'}")
    return out + ([f"task.data_config={data}"] if data else [])


_PAPER_SIZE_CHECKED = set()


def one_update(cfg) -> tuple:
    """One training step of a composed recipe on CPU: (task, model, batch, logging output);
    the step must count, give a finite loss and change the weights."""
    task = tasks.setup_task(cfg.task)
    task.load_dataset(cfg.dataset.train_subset, combine=False, epoch=1)
    model = task.build_model(cfg.model)
    trainer = Trainer(cfg, task, model, task.build_criterion(cfg.criterion))
    itr = trainer.get_train_iterator(epoch=1, load_dataset=False).next_epoch_itr(shuffle=False)
    batch = next(itr)
    before = [p.detach().clone() for p in model.parameters()]
    log = trainer.train_step([batch])
    assert trainer.get_num_updates() == 1 and math.isfinite(log["loss"])
    assert any(not torch.equal(a, p) for a, p in zip(before, model.parameters()))
    return task, model, batch, log


def assert_line_matches(recipe: Path, args: List[str], hydra, paths: set) -> None:
    """The fairseq-train line ``args`` sets every value of the composed recipe ``hydra``
    that it has, but the keys in ``paths``."""
    line = convert_namespace_to_omegaconf(
        options.parse_args_and_arch(options.get_training_parser(), args)
    )
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
                assert line[group][key] == value, (
                    f"{recipe.name}: {group}.{key} is {value} in the YAML, {line[group][key]} in fairseq-train"
                )
    assert line.model._name == hydra.model._name and line.task._name == hydra.task._name


@pytest.mark.parametrize("pair", pairs())
def test_recipe_builds_and_trains(pair, work):
    recipe, data = pair
    base = overrides_for(work, recipe, data)
    cfg = compose_recipe(recipe, base)
    assert (PAPER / "data" / cfg.task.data_config).is_file(), (
        "the data config ships in examples/paper/data"
    )
    if recipe not in _PAPER_SIZE_CHECKED:  # the model does not depend on the data config
        # the paper's model, on the meta device (no memory): 24 + 6 layers of width 1024, ~0.58B in the encoder
        with torch.device("meta"):
            big = models.build_model(cfg.model, tasks.setup_task(cfg.task))
        sizes = summary(big)
        assert (big.cfg.embed_dim, big.cfg.encoder_layers, big.cfg.decoder_layers) == (1024, 24, 6)
        assert 0.55e9 < sizes["encoder (front end + Conformer)"] < 0.62e9
        assert sizes["decoder (Transformer stack)"] > 0.1e9
        _PAPER_SIZE_CHECKED.add(recipe)

    # one update of the recipe's task, criterion, optimizer and schedule at the tiny size
    small = compose_recipe(recipe, base + CPU + ["model._name=mu2slam_tiny"])
    task, model, _, log = one_update(small)
    assert model.cfg.embed_dim == 192
    types = {c.type for c in task.data_cfg.corpora}
    if small.task._name == "mu2slam_pretrain":
        assert types == {"speech", "text", "asr", "ast", "mt"}  # every data type, every update
        assert {k.split("/")[0].split("_")[0] for k in log if "/" in k} >= types


def test_every_data_config_has_a_recipe_and_loads():
    named = {yaml_data_config(r) for r in RECIPES}
    for d in DATA_CONFIGS:
        recipes = declared_recipes(d)
        assert recipes or d.name in named, f"{d.name}: no recipe uses it"
        assert all(r.is_file() for r in recipes), d.name
        cfg = load_data_config(d, check_paths=False)
        assert cfg.vocab.dict.as_posix().endswith("vocab/dict.txt")  # beside the variant's vocab/
        pretraining = {c.type for c in cfg.corpora} & {"speech", "text"}
        assert cfg.batching.sentences_per_share == 1  # shares are the paper's per-device batches
        if not pretraining:
            assert (
                sum(cfg.batching.shares[t] for t in {c.type for c in cfg.corpora}) == 8
            )  # §3.2: batch 8


def test_paper_settings():
    """The numbers of §3.2 in the pre-training recipe and its data config."""
    text = (PAPER / "pretrain_char.yaml").read_text()
    cfg = yaml.safe_load(text)
    assert cfg["model"]["_name"] == "mu2slam_base" and cfg["optimizer"]["_name"] == "adam"
    assert (
        cfg["optimizer"]["weight_decay"] == 0.0 and cfg["lr_scheduler"]["_name"] == "inverse_sqrt"
    )
    assert (
        cfg["lr_scheduler"]["warmup_updates"] == 40000
        and cfg["optimization"]["max_update"] == 1_500_000
    )
    assert cfg["optimization"]["lr"] == [
        pytest.approx(3 / math.sqrt(1024 * 40000))
    ]  # Transformer lr 3
    world = (
        cfg["distributed_training"]["distributed_world_size"]
        * cfg["optimization"]["update_freq"][0]
    )
    assert world == 256 and cfg["common"]["fp16"]  # 256 TPUv4 chips' worth of per-device batches
    crit = cfg["criterion"]
    assert (
        crit["weight_speech"],
        crit["weight_text"],
        crit["weight_t2s"],
        crit["weight_alignment"],
        crit["weight_s2t_decoder"],
    ) == (1, 1, 0.1, 0.1, 0.3)
    data = load_data_config(PAPER / "data" / "pretrain.yaml", check_paths=False)
    m = data.masking
    assert (m.speech_ratio, m.speech_span, m.text_ratio, m.mt_ratio) == (0.5, 10, 0.5, 0.25)
    assert data.batching.shares == {"speech": 4, "text": 8, "ast": 1, "asr": 1, "mt": 1}
    assert {c.type: c.temperature for c in data.corpora if c.type in ("text", "mt")} == {
        "text": 3,
        "mt": 2,
    }
    asr = yaml.safe_load((PAPER / "voxpopuli_asr.yaml").read_text())
    assert (
        asr["optimizer"]["weight_decay"] == 0.01 and asr["lr_scheduler"]["warmup_updates"] == 16000
    )
    assert asr["optimization"]["lr"] == [pytest.approx(5 / math.sqrt(1024 * 16000), rel=1e-2)]
    assert asr["task"]["synonym_noise"] == 0.06
    multi = load_data_config(PAPER / "data" / "multitask.yaml", check_paths=False)
    assert {t: multi.batching.shares[t] for t in ("ast", "asr", "mt")} == {
        "ast": 4,
        "asr": 2,
        "mt": 2,
    }


def fairseq_train_args(recipe: Path) -> Optional[List[str]]:
    """The ``fairseq-train`` command of a recipe's header, without the program name."""
    lines = recipe.read_text().splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("#   fairseq-train ")), None)
    if start is None:
        return None
    command = []
    for line in lines[start:]:
        command.append(line[1:].strip().rstrip("\\"))
        if not line.endswith("\\"):
            break
    return shlex.split(" ".join(command))[1:]


@pytest.mark.parametrize(
    "recipe", [r for r in RECIPES if fairseq_train_args(r)], ids=lambda r: r.stem
)
def test_fairseq_train_line_matches_the_recipe(recipe, tmp_path):
    """The command line beside each recipe sets what the recipe sets (paths aside)."""
    args = [
        PLUGIN if a == "mu2slam_fairseq" else a.replace("WORK/char", str(tmp_path))
        for a in fairseq_train_args(recipe)
    ]
    hydra = compose_recipe(
        recipe,
        [
            f"task.data={tmp_path}",
            f"common.user_dir={PLUGIN}",
            f"checkpoint.save_dir={tmp_path}",
            f"checkpoint.finetune_from_model={tmp_path}",
        ],
    )
    assert_line_matches(
        recipe, args, hydra, {"data", "user_dir", "save_dir", "finetune_from_model", "_name"}
    )


def test_readme_covers_every_file():
    readme = (PAPER / "README.md").read_text()
    for path in RECIPES + DATA_CONFIGS:
        assert path.name in readme, f"README.md does not mention {path.name}"
    for recipe in RECIPES:
        text = recipe.read_text()
        assert (
            "fairseq-train" in text and f"--config-name {recipe.stem}" in text
        )  # both command lines


# ---------------------------------------------------------------- architectures on the hydra path


def test_hydra_model_name_gives_the_architecture_sizes(tmp_path):
    """``model._name: mu2slam_tiny`` builds the tiny model (fairseq applies --arch defaults
    on the argparse path only); sizes the config sets still win; --arch is unchanged."""
    cfg = compose_recipe(
        PAPER / "pretrain_char.yaml",
        [
            f"task.data={tmp_path}",
            f"common.user_dir={PLUGIN}",
            "model._name=mu2slam_tiny",
            "++model.decoder_layers=3",
        ],
    )
    task = type("T", (), {})()
    from fairseq.data import Dictionary

    task.source_dictionary = task.target_dictionary = Dictionary()
    model = models.build_model(cfg.model, task)
    assert (model.cfg.embed_dim, model.cfg.encoder_layers, model.cfg.encoder_conv_kernel_size) == (
        192,
        4,
        15,
    )
    assert model.cfg.decoder_layers == 3 and len(model.decoder.layers) == 3
    small = compose_recipe(
        PAPER / "pretrain_char.yaml",
        [f"task.data={tmp_path}", f"common.user_dir={PLUGIN}", "model._name=mu2slam_small"],
    )
    assert (small.model.embed_dim, small.model.encoder_layers, small.model.conv_channels) == (
        512,
        12,
        128,
    )
    for arch, extra, width in [
        ("mu2slam_tiny", [], 192),
        ("mu2slam_small", ["--embed-dim", "256"], 256),
    ]:
        args = options.parse_args_and_arch(
            options.get_training_parser(), [str(tmp_path), "--arch", arch, *extra]
        )
        model_cfg = convert_namespace_to_omegaconf(args).model
        assert model_cfg._name == arch and model_cfg.embed_dim == width


# ---------------------------------------------------------------- merge_manifests.py


def test_merge_manifests(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    write_manifest(
        a / "train_text_de.tsv",
        [
            {"id": "0_0_0", "src_text": "Hallo", "src_lang": "de"},
            {"id": "0_0_1", "src_text": "Welt", "src_lang": "de"},
        ],
    )
    write_manifest(
        b / "train_asr_en_us.tsv",
        [
            {
                "id": "0_0_0",
                "audio": "fbank80.zip:12:34",
                "n_frames": "5",
                "src_text": "hi",
                "tgt_text": "hi",
                "src_lang": "en_us",
                "tgt_lang": "en_us",
                "speaker": "s",
            },
            {
                "id": "x",
                "audio": "clips/x.wav",
                "n_frames": "5",
                "src_text": "yo",
                "tgt_text": "yo",
                "src_lang": "en_us",
                "tgt_lang": "en_us",
                "speaker": "s",
            },
        ],
    )
    out = tmp_path / "merged" / "train_all.tsv"
    status = merge_manifests.main(
        [
            str(out),
            str(a / "train_text_de.tsv"),
            str(b / "train_asr_en_us.tsv"),
            str(out),
            "--map-lang",
            "en_us=en",
            "--per-input",
            "5",
        ]
    )
    assert status == 0
    rows = read_manifest(out)
    assert [r["id"] for r in rows] == [
        "train_text_de/0_0_0",
        "train_text_de/0_0_1",
        "train_asr_en_us/0_0_0",
        "train_asr_en_us/x",
    ]  # ids stay unique across languages
    assert rows[2]["audio"] == "../b/fbank80.zip:12:34" and rows[3]["audio"] == "../b/clips/x.wav"
    assert (
        rows[2]["src_lang"] == rows[2]["tgt_lang"] == "en"
        and rows[0]["audio"] == ""
        and rows[3]["speaker"] == "s"
    )
    merge_manifests.main(
        [str(out), str(a / "train_text_de.tsv"), str(out), "--shard", "1/2"]
    )  # a re-run: out skipped
    assert [r["id"] for r in read_manifest(out)] == ["train_text_de/0_0_1"]


def test_merge_manifests_skips_a_byte_order_mark(tmp_path):
    marked = tmp_path / "marked.tsv"
    write_manifest(marked, [{"id": "a", "src_text": "Hallo", "src_lang": "de"}])
    marked.write_bytes(b"\xef\xbb\xbf" + marked.read_bytes())
    out = tmp_path / "merged.tsv"
    assert merge_manifests.main([str(out), str(marked)]) == 0
    assert [(r["id"], r["src_text"]) for r in read_manifest(out)] == [("marked/a", "Hallo")]


# ---------------------------------------------------------------- the real command


@pytest.mark.slow
def test_pretrain_spm_runs_with_fairseq_hydra_train(work, tmp_path):
    """pretrain_spm.yaml (which inherits pretrain_char.yaml) through fairseq-hydra-train itself,
    at the tiny size named by model._name only."""
    overrides = (
        overrides_for(work, PAPER / "pretrain_spm.yaml", None)
        + CPU
        + [
            "model._name=mu2slam_tiny",
            "optimization.max_update=1",
            "common.log_interval=1",
            "lr_scheduler.warmup_updates=1",
            "dataset.disable_validation=true",
            f"checkpoint.save_dir={tmp_path / 'ckpt'}",
        ]
    )
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "fairseq_cli.hydra_train",
            "--config-dir",
            str(PAPER),
            "--config-name",
            "pretrain_spm",
            *overrides,
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-4000:]
    assert re.search(r"num_updates: 1 >= max_update: 1", log)
    state = torch.load(tmp_path / "ckpt" / "checkpoint_last.pt")
    assert (
        state["cfg"]["model"]["embed_dim"] == 192 and state["cfg"]["criterion"]["weight_t2s"] == 0.1
    )
    assert state["cfg"]["lr_scheduler"]["warmup_updates"] == 1 and state["cfg"]["task"][
        "data"
    ] == str(work / "spm")
