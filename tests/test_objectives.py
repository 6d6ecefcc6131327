"""The objectives table: an objective declared there, and nowhere else, is built into
batches, logged and weighted by the criterion, and leaves every other term as it was."""

import math
from dataclasses import make_dataclass, replace
from pathlib import Path

import pytest
import torch
import yaml
from fairseq import options, tasks

import mu2slam_fairseq  # noqa: F401  (registers the task, model and criterion)
from mu2slam_fairseq import objectives
from mu2slam_fairseq.criterions.mu2slam_loss import Mu2slamCriterion, Mu2slamCriterionConfig
from mu2slam_fairseq.objectives import Coefficient, Decode, Objective
from pretrain_corpus import build

REPO = Path(__file__).resolve().parents[1]
# a denoising reconstruction of text-only data, t^m -> t, with a coefficient of its own
TEXT_COPY = Objective(
    "text_copy",
    "text",
    "reconstruction of t from t^m",
    encoder=("t",),
    decoders=(Decode("t"),),
    weight="weight_text_copy",
)
COPY_WEIGHT = Coefficient("weight_text_copy", 0.5, "text reconstruction")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, fillets_root):
    base = tmp_path_factory.mktemp("objectives")
    build(base, fillets_root)
    return base


@pytest.fixture
def text_copy():
    objectives.add_coefficient(COPY_WEIGHT)
    objectives.register(TEXT_COPY)
    yield TEXT_COPY
    del objectives.OBJECTIVES[TEXT_COPY.name], objectives.COEFFICIENTS[COPY_WEIGHT.flag]


def first_batch(corpus: Path, *extra: str):
    parser = options.get_training_parser()
    args = options.parse_args_and_arch(
        parser,
        [
            str(corpus),
            "--user-dir",
            str(REPO / "mu2slam_fairseq"),
            "--task",
            "mu2slam_pretrain",
            "--criterion",
            "mu2slam",
            "--arch",
            "mu2slam_tiny",
            "--max-tokens",
            "4000",
            "--seed",
            "3",
            *extra,
        ],
    )
    task = tasks.setup_task(args)
    task.load_dataset("train")
    torch.manual_seed(0)
    model = task.build_model(args).eval()
    itr = task.get_batch_iterator(task.datasets["train"], max_tokens=4000, seed=3).next_epoch_itr(
        shuffle=True
    )
    return task, model, next(itr)


def criterion(task, **weights) -> Mu2slamCriterion:
    """The criterion with the options it gets once the coefficient is declared in paper.py."""
    config = make_dataclass(
        "Config", [(COPY_WEIGHT.flag, float, COPY_WEIGHT.default)], bases=(Mu2slamCriterionConfig,)
    )
    return Mu2slamCriterion(config(**weights), task)


def test_the_paper_table():
    assert objectives.DATA_TYPES == ("speech", "text", "asr", "ast", "mt", "t2t")
    assert {t: objectives.view_names(t) for t in objectives.DATA_TYPES} == {
        "speech": ("speech_u",),
        "text": ("text_u",),
        "asr": ("asr_s2t", "asr_t2s", "asr_align"),
        "ast": ("ast_s2t", "ast_t2s", "ast_align"),
        "mt": ("mt_fwd", "mt_bwd", "mt_align"),
        "t2t": ("t2t_fwd",),
    }
    assert objectives.log_terms(finetune=True) == {
        "asr_s2t": ("dec", "ctc"),
        "ast_s2t": ("dec",),
        "mt_fwd": ("dec",),
        "t2t_fwd": ("dec",),
    }
    assert {
        t: objectives.finetune_view(t).finetune_metric for t in objectives.finetune_types()
    } == {"asr": "wer", "ast": "bleu", "mt": "bleu", "t2t": "accuracy"}
    weights = [f for f in Mu2slamCriterionConfig.__dataclass_fields__ if f.startswith("weight_")]
    assert weights == list(objectives.COEFFICIENTS)  # every option comes from a declaration


@pytest.mark.parametrize(
    "change,problem",
    [
        ({"name": "text_u"}, "the name is taken"),
        ({"decoders": (Decode("v"),)}, "text rows lack"),
        (
            {"encoder": ("t",), "decoders": (Decode("S", complementary=True),)},
            "masked encoder input",
        ),
        ({"weight": "weight_nothing"}, "unknown coefficient"),
        ({"mask_ratio": "speech_ratio"}, "mask_ratio must be"),
    ],
)
def test_a_declaration_that_cannot_be_built_is_refused(change, problem, corpus):
    fields = {**TEXT_COPY.__dict__, "weight": "weight_text", **change}
    if (
        problem == "text rows lack"
    ):  # a sequence text rows do not carry: refused when a dataset is built
        objectives.register(Objective(**fields))
        try:
            with pytest.raises(ValueError, match=problem):
                first_batch(corpus)
        finally:
            del objectives.OBJECTIVES[fields["name"]]
    else:
        with pytest.raises(ValueError, match=problem):
            objectives.register(Objective(**fields))
    assert "text_copy" not in objectives.OBJECTIVES


def test_a_declared_objective_is_built_logged_and_weighted(corpus, text_copy):
    task, model, sample = first_batch(corpus)
    views = {v["name"]: v for v in sample["views"]}
    d = task.dictionary
    copy, text_u = views["text_copy"], views["text_u"]
    # the batch: t^m in, t + eos out, loss everywhere; the same examples as text_u
    assert torch.equal(copy["id"], text_u["id"]) and copy["seq2seq"] and not text_u["seq2seq"]
    (dec,) = copy["decoders"]
    for i in range(len(copy["id"])):
        t = text_u["mlm_target"][i].clone()
        t[t == d.pad()] = text_u["net_input"]["src_tokens"][i][
            t == d.pad()
        ]  # t from text_u's x^m and targets
        n = int(copy["net_input"]["src_lengths"][i])
        assert dec["target"][i, : n + 1].tolist() == t[:n].tolist() + [d.eos()]
        assert 0 < int((copy["mlm_target"][i] != d.pad()).sum()) < n
    # declared after text_u, it leaves text_u's masks (and every other view) as they were
    del objectives.OBJECTIVES["text_copy"]
    try:
        _, _, before = first_batch(corpus)
    finally:
        objectives.OBJECTIVES["text_copy"] = TEXT_COPY
    old = {v["name"]: v for v in before["views"]}
    assert list(old) == [v for v in views if v != "text_copy"]
    assert all(torch.equal(old[k]["mlm_target"], views[k]["mlm_target"]) for k in old)
    assert all(
        torch.equal(old[k]["net_input"]["src_tokens"], views[k]["net_input"]["src_tokens"])
        for k in old
    )
    # the criterion logs its terms after the paper's, and weighs them by their coefficient
    with torch.no_grad():
        full, _, log = criterion(task)(model, sample)
        zero, _, log0 = criterion(task, weight_text_copy=0.0)(model, sample)
        text_zero, _, _ = criterion(task, weight_text=0.0)(model, sample)
    terms = [k[: -len("/n")] for k in log if k.endswith("/n")]
    assert terms[-2:] == ["text_copy/mlm", "text_copy/dec"] and all(
        log[f"{t}/n"] > 0 for t in terms[-2:]
    )
    copy_mean = sum(log[f"text_copy/{p}/loss"] / log[f"text_copy/{p}/n"] for p in ("mlm", "dec"))
    assert math.isclose(full.item() - zero.item(), 0.5 * copy_mean, rel_tol=1e-4)
    text_u_mean = sum(log[f"text_u/{p}/loss"] / log[f"text_u/{p}/n"] for p in ("mlm", "dec"))
    assert math.isclose(
        full.item() - text_zero.item(), text_u_mean, rel_tol=1e-4
    )  # weight_text is text_u's only
    assert log0 == log | {"loss": log0["loss"]}


def test_an_opt_in_objective_is_built_only_where_a_corpus_names_it(corpus):
    objectives.register(replace(TEXT_COPY, weight="weight_text", opt_in=True))
    try:
        _, _, sample = first_batch(corpus)
        config = yaml.safe_load((corpus / "data.yaml").read_text())
        text = next(c for c in config["corpora"] if c["type"] == "text")
        text["views"] = ["text_u", "text_copy"]
        (corpus / "opt_in.yaml").write_text(yaml.safe_dump(config))
        _, _, named = first_batch(corpus, "--data-config", str(corpus / "opt_in.yaml"))
    finally:
        del objectives.OBJECTIVES["text_copy"]
    assert "text_copy" not in [v["name"] for v in sample["views"]]
    assert [v["name"] for v in named["views"] if v["type"] == "text"] == ["text_u", "text_copy"]
