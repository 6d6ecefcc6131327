"""The fine-tuning recipes of examples/finetune: every fairseq-hydra-train config composes
against fairseq's schema and our task, criterion and model configs, and one runs through
fairseq-hydra-train on the small corpus; the data configs for the default corpus layout."""

import re
import subprocess
import sys

import pytest
import torch
import yaml
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

import mu2slam_fairseq  # noqa: F401  (registers what the configs name)
from fairseq.dataclass.initialize import add_defaults, hydra_init
from mu2slam_fairseq.data.pipeline.data_config import load_data_config
from mu2slam_fairseq.data.io.manifest import write_manifest
from mu2slam_fairseq.tasks.finetune import Mu2slamFinetuneConfig
from mu2slam_manifests.finetune_configs import write_configs
import finetune_corpus
from finetune_corpus import REPO

RECIPES = REPO / "examples" / "finetune"
NAMES = [
    "direct_ast",
    "gradual_stage1_multitask",
    "gradual_stage2_ast",
    "noisy_ast",
    "xnli",
    "tydiqa",
]


@pytest.mark.parametrize("name", NAMES)
def test_recipe_composes(name, tmp_path):
    hydra_init(name)
    overrides = [
        f"task.data={tmp_path}",
        f"common.user_dir={REPO / 'mu2slam_fairseq'}",
        f"checkpoint.finetune_from_model={tmp_path / 'pretrained.pt'}",
    ]
    with initialize_config_dir(config_dir=str(RECIPES), version_base="1.1"):
        cfg = compose(config_name=name, overrides=overrides)
    add_defaults(cfg)
    resolved = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    assert (
        resolved["task"]["_name"] == "mu2slam_finetune"
        and resolved["criterion"]["_name"] == "mu2slam_seq2seq"
    )
    assert set(resolved["task"]) - {"_name"} <= set(Mu2slamFinetuneConfig.__dataclass_fields__)
    assert resolved["model"]["embed_dim"] == 1024  # mu2slam_base
    metric = resolved["checkpoint"]["best_checkpoint_metric"]
    flag = {"bleu": "eval_bleu", "wer": "eval_wer", "accuracy": "eval_accuracy"}.get(metric)
    assert flag is None or resolved["task"][flag]  # the selection metric is computed
    text = (RECIPES / f"{name}.yaml").read_text()
    assert (
        "fairseq-train" in text and f"--config-name {name}" in text
    )  # both command lines beside the config


@pytest.mark.slow
def test_gradual_stage1_runs_with_fairseq_hydra_train(tmp_path_factory, fillets_root, tmp_path):
    data = finetune_corpus.corpus(tmp_path_factory, fillets_root)
    pretrained = finetune_corpus.pretrained(tmp_path_factory, fillets_root)
    (data / "multitask.yaml").write_text((data / "finetune.yaml").read_text())
    overrides = [
        f"task.data={data}",
        f"common.user_dir={REPO / 'mu2slam_fairseq'}",
        "common.cpu=true",
        f"checkpoint.finetune_from_model={pretrained}",
        f"checkpoint.save_dir={tmp_path / 'ckpt'}",
        "optimization.max_update=1",
        "dataset.max_tokens=3000",
        "common.log_interval=1",
        "lr_scheduler.warmup_updates=1",
        "dataset.validate_interval_updates=0",
        "dataset.disable_validation=true",
    ]
    overrides.append("model._name=mu2slam_tiny")  # the architecture's own sizes, as with --arch
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "fairseq_cli.hydra_train",
            "--config-dir",
            str(RECIPES),
            "--config-name",
            "gradual_stage1_multitask",
            *overrides,
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-4000:]
    assert f"loading pretrained model from {pretrained}" in log
    assert re.search(r"num_updates: 1 >= max_update: 1", log)
    state = torch.load(
        tmp_path / "ckpt" / "checkpoint_last.pt"
    )  # torch's default weights-only loading
    assert (
        state["cfg"]["model"]["embed_dim"] == 192 and state["cfg"]["task"]["synonym_noise"] == 0.06
    )


def test_default_corpus_data_configs(tmp_path):
    corpus, vocab = tmp_path / "corpus", tmp_path / "vocab"
    vocab.mkdir()
    (vocab / "dict.txt").write_text("a 1\n")
    (vocab / "spm.model").write_bytes(b"")
    row = {
        "id": "x",
        "audio": "fbank80.zip:1:2",
        "n_frames": "10",
        "src_text": "a",
        "tgt_text": "a",
        "src_lang": "nl",
        "tgt_lang": "en",
    }
    for name in ("st_nl_en", "st_cs_en", "asr_nl", "mt"):  # fairseq's {split}_{task}_{langs}.tsv
        for split in ("train", "dev", "test"):
            write_manifest(corpus / f"{split}_{name}.tsv", [row])
    write_manifest(corpus / "train_speech.tsv", [row])
    write_manifest(corpus / "test_mt_wesnoth.tsv", [row])
    paths = write_configs(corpus, vocab, tmp_path / "configs")
    assert sorted(p.name for p in paths) == sorted(
        [
            "ast.yaml",
            "ast_noisy.yaml",
            "asr.yaml",
            "asr_noisy.yaml",
            "mt.yaml",
            "multitask.yaml",
            "multitask_noisy.yaml",
        ]
    )
    multi = load_data_config(tmp_path / "configs" / "multitask_noisy.yaml")
    assert [(c.name, c.type) for c in multi.corpora] == [
        ("st_cs_en", "ast"),
        ("st_nl_en", "ast"),
        ("asr_nl", "asr"),
        ("mt", "mt"),
    ]
    assert (
        multi.batching.shares["ast"] == 4
        and multi.batching.shares["asr"] == 2
        and multi.batching.shares["mt"] == 2
    )
    assert (
        multi.specaugment["freq_mask_N"] == 2
        and load_data_config(tmp_path / "configs" / "ast.yaml").specaugment is None
    )
    assert {s: p.name for s, (p,) in multi.corpora[1].splits.items()} == {
        "train": "train_st_nl_en.tsv",
        "valid": "dev_st_nl_en.tsv",
        "test": "test_st_nl_en.tsv",
    }
    (corpus / "asr_cs_train.tsv").write_text(
        (corpus / "train_asr_nl.tsv").read_text()
    )  # <name>_<split> works too
    write_configs(corpus, vocab, tmp_path / "configs2")
    asr = load_data_config(tmp_path / "configs2" / "asr.yaml")
    assert [(c.name, sorted(c.splits)) for c in asr.corpora] == [
        ("asr_cs", ["train"]),
        ("asr_nl", ["test", "train", "valid"]),
    ]
    assert yaml.safe_load((tmp_path / "configs" / "asr.yaml").read_text())["vocab"]["dict"] == str(
        (vocab / "dict.txt").resolve()
    )


MAX_LEN_A = re.compile(r"""(?:--max-len-a\s+|["']?max_len_a["']?\s*[:=]\s*)([0-9.]+)""")
EXAMPLE_TEXTS = sorted(
    [
        *RECIPES.glob("*.yaml"),
        RECIPES / "README.md",
        *(REPO / "examples" / "paper").glob("*.yaml"),
        REPO / "examples" / "paper" / "README.md",
    ]
)


def test_suggested_decoding_lengths_leave_room_for_speech():
    """For speech, ``max_len_a`` multiplies the count of 40 ms input steps: a 5 s utterance
    has 125, so 0.1 allows int(0.1 * 125 + 10) = 22 tokens, fewer than a subword
    transcript of 5 s of speech needs. The project uses 0.5 (subwords) or 1.0 (characters),
    and each file decodes its validation and its test sets alike."""
    found = {
        p.relative_to(REPO).as_posix(): [
            float(v) for v in MAX_LEN_A.findall(p.read_text(encoding="utf-8"))
        ]
        for p in EXAMPLE_TEXTS
    }
    found = {name: values for name, values in found.items() if values}
    assert {
        "examples/finetune/gradual_stage2_ast.yaml",
        "examples/finetune/README.md",
        "examples/paper/voxpopuli_asr.yaml",
        "examples/paper/README.md",
    } <= set(found)
    assert {name: values for name, values in found.items() if min(values) < 0.5} == {}
    assert {name: values for name, values in found.items() if len(set(values)) > 1} == {}
