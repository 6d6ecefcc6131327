"""The mu2slam_pretrain task and mu2slam criterion, on a small real corpus of every data type."""

import math
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from fairseq import options, tasks

import mu2slam_fairseq  # noqa: F401  (registers the task, model and criterion)
from mu2slam_fairseq.criterions.mu2slam_loss import Mu2slamCriterionConfig
from mu2slam_fairseq.objectives.paper import PAPER_COEFFICIENTS
from pretrain_corpus import build

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, fillets_root):
    base = tmp_path_factory.mktemp("pretrain")
    build(base, fillets_root)
    return base


def setup(corpus: Path, *extra: str):
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
    model = task.build_model(args)
    criterion = task.build_criterion(args)
    itr = task.get_batch_iterator(task.datasets["train"], max_tokens=4000, seed=3).next_epoch_itr(
        shuffle=True
    )
    return task, model, criterion, next(itr)


TERM_NAMES = sorted(
    [
        "speech_u/mlm",
        "speech_u/dec",
        "text_u/mlm",
        "text_u/dec",
        "asr_s2t/mlm",
        "asr_s2t/dec",
        "asr_s2t/ctc",
        "asr_t2s/mlm",
        "asr_t2s/dec",
        "asr_align/mlm",
        "asr_align/dec_units",
        "asr_align/dec_text",
        "ast_s2t/mlm",
        "ast_s2t/dec",
        "ast_t2s/mlm",
        "ast_t2s/dec",
        "ast_align/mlm",
        "ast_align/dec_units",
        "ast_align/dec_text",
        "mt_fwd/mlm",
        "mt_fwd/dec",
        "mt_bwd/mlm",
        "mt_bwd/dec",
        "mt_align/mlm",
        "mt_align/dec_src",
        "mt_align/dec_tgt",
    ]
)


def test_one_update_holds_every_type_and_every_term(corpus):
    """The log holds every key whatever the batch (data-parallel ranks sum logs by position),
    so what shows a term was computed is its count of loss positions and its loss."""
    task, model, criterion, sample = setup(corpus)
    assert sample["types"] == {"speech": 2, "text": 4, "asr": 1, "ast": 1, "mt": 1}
    model.eval()
    _, _, log = criterion(model, sample)
    computed = sorted(k[: -len("/n")] for k in log if k.endswith("/n") and log[k] > 0)
    assert computed == TERM_NAMES
    bad = {
        t: log[f"{t}/loss"]
        for t in TERM_NAMES
        if not (math.isfinite(log[f"{t}/loss"]) and log[f"{t}/loss"] > 0)
    }
    assert bad == {}


def test_gradient_reaches_every_parameter(corpus):
    task, model, criterion, sample = setup(corpus)
    loss, sample_size, _ = criterion(model, sample)
    loss.backward()
    missing = [
        n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0
    ]
    assert missing == []


# The default coefficient of every term, written out by hand from paper §3.2 (speech-only and
# text-only 1, text-to-speech and alignment 0.1, the speech-to-text decoder 0.3) and the
# project's 1.0 where the paper gives none (speech-to-text MLM, MT, CTC).
DEFAULT_COEFFICIENT = {
    "speech_u/mlm": 1.0,
    "speech_u/dec": 1.0,
    "text_u/mlm": 1.0,
    "text_u/dec": 1.0,
    "asr_s2t/mlm": 1.0,
    "asr_s2t/dec": 0.3,
    "asr_s2t/ctc": 1.0,
    "asr_t2s/mlm": 0.1,
    "asr_t2s/dec": 0.1,
    "asr_align/mlm": 0.1,
    "asr_align/dec_units": 0.1,
    "asr_align/dec_text": 0.1,
    "ast_s2t/mlm": 1.0,
    "ast_s2t/dec": 0.3,
    "ast_t2s/mlm": 0.1,
    "ast_t2s/dec": 0.1,
    "ast_align/mlm": 0.1,
    "ast_align/dec_units": 0.1,
    "ast_align/dec_text": 0.1,
    "mt_fwd/mlm": 1.0,
    "mt_fwd/dec": 1.0,
    "mt_bwd/mlm": 1.0,
    "mt_bwd/dec": 1.0,
    "mt_align/mlm": 0.1,
    "mt_align/dec_src": 0.1,
    "mt_align/dec_tgt": 0.1,
}


def hand_total(log, coefficient):
    """The criterion's loss rebuilt from its log: sum of coefficient x per-position mean."""
    return sum(
        c * log[f"{t}/loss"] / log[f"{t}/n"]
        for t, c in coefficient.items()
        if c and log[f"{t}/n"] > 0
    )


@pytest.mark.parametrize(
    "flag,zeroed_terms",
    [
        ("--weight-t2s", ["asr_t2s/mlm", "asr_t2s/dec", "ast_t2s/mlm", "ast_t2s/dec"]),
        (
            "--weight-alignment",
            [f"{v}_align/{p}" for v in ("asr", "ast") for p in ("mlm", "dec_units", "dec_text")]
            + ["mt_align/mlm", "mt_align/dec_src", "mt_align/dec_tgt"],
        ),
        ("--weight-ctc", ["asr_s2t/ctc"]),
        ("--weight-s2t-decoder", ["asr_s2t/dec", "ast_s2t/dec"]),
    ],
)
def test_zero_weight_removes_exactly_its_terms(corpus, flag, zeroed_terms):
    task, model, criterion, sample = setup(corpus)
    model.eval()
    full, _, log = criterion(model, sample)
    zero_criterion = setup(corpus, flag, "0")[2]  # the same task and data with that weight at 0
    zeroed, _, _ = zero_criterion(model, sample)
    assert TERM_NAMES == sorted(DEFAULT_COEFFICIENT) and all(
        log[f"{t}/n"] > 0 for t in zeroed_terms
    )
    without = {t: 0.0 if t in zeroed_terms else c for t, c in DEFAULT_COEFFICIENT.items()}
    assert math.isclose(full.item(), hand_total(log, DEFAULT_COEFFICIENT), rel_tol=1e-5)
    assert math.isclose(zeroed.item(), hand_total(log, without), rel_tol=1e-5)
    assert full.item() - zeroed.item() > 0


def test_paper_normalisation_averages_each_term_over_its_examples(corpus):
    """--term-normalisation example: coefficient x (term summed over positions) / examples
    of its view, the paper's expectation over each data set of per-example sums."""
    task, model, criterion, sample = setup(corpus)
    model.eval()
    per_token, _, log = criterion(model, sample)
    per_example, _, _ = setup(corpus, "--term-normalisation", "example")[2](model, sample)
    examples = {v["name"]: v["nsentences"] for v in sample["views"]}
    by_example = sum(
        c * log[f"{t}/loss"] / examples[t.split("/")[0]]
        for t, c in DEFAULT_COEFFICIENT.items()
        if log[f"{t}/n"] > 0
    )
    assert math.isclose(per_token.item(), hand_total(log, DEFAULT_COEFFICIENT), rel_tol=1e-5)
    assert math.isclose(per_example.item(), by_example, rel_tol=1e-5)
    assert per_example.item() > 2 * per_token.item()  # a speech term sums over many steps


def test_default_coefficients_are_the_papers():
    fields = Mu2slamCriterionConfig.__dataclass_fields__
    defaults = {c.flag: fields[c.flag].default for c in PAPER_COEFFICIENTS}
    # Paper §3.2: "The loss coefficients related to speech-only and text-only data are set to 1."
    assert defaults.pop("weight_speech") == 1.0
    assert defaults.pop("weight_text") == 1.0
    # Paper §3.2: "The loss coefficients for the text to speech and alignment tasks are 0.1 ..."
    assert defaults.pop("weight_t2s") == 0.1
    assert defaults.pop("weight_alignment") == 0.1
    # Paper §3.2: "... while speech to text tasks need a slightly higher loss coefficient 0.3
    # for the decoder loss."
    assert defaults.pop("weight_s2t_decoder") == 0.3
    # The paper gives no coefficient for these (the speech-to-text encoder MLM, MT's l_p
    # terms, CTC on ASR); the project's choice is 1.
    assert defaults == {"weight_s2t_mlm": 1.0, "weight_mt": 1.0, "weight_ctc": 1.0}


def test_bf16_autocast_step_runs_and_keeps_fp32_weights(corpus):
    task, model, criterion, sample = setup(corpus, "--autocast-bf16")
    with task.autocast(model):
        loss, _, _ = criterion(model, sample)
    assert torch.isfinite(loss)
    loss.backward()
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


@pytest.mark.slow
def test_fairseq_train_lowers_every_loss_term(corpus, tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "fairseq_cli.train",
            str(corpus),
            "--user-dir",
            "mu2slam_fairseq",
            "--task",
            "mu2slam_pretrain",
            "--criterion",
            "mu2slam",
            "--arch",
            "mu2slam_tiny",
            "--optimizer",
            "adam",
            "--lr",
            "2e-3",
            "--lr-scheduler",
            "inverse_sqrt",
            "--warmup-updates",
            "10",
            "--max-update",
            "40",
            "--max-tokens",
            "4000",
            "--cpu",
            "--save-dir",
            str(tmp_path / "ckpt"),
            "--log-interval",
            "1",
            "--log-format",
            "simple",
            "--disable-validation",
            "--no-save",
            "--seed",
            "1",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    lines = [line for line in (out.stdout + out.stderr).splitlines() if "train_inner" in line]
    values = {}
    for line in lines:
        for name, value in re.findall(r"(\w+/\w+_loss)=([\d.]+)", line):
            values.setdefault(name, []).append(float(value))
    assert len(values) == 26
    for name, series in values.items():
        first, last = sum(series[:10]) / 10, sum(series[-10:]) / 10
        assert last < first, f"{name} did not fall: {first:.3f} -> {last:.3f}"
