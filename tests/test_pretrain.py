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
from mu2slam_fairseq.criterions.mu2slam_loss import term_weight
from pretrain_corpus import build

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, fillets_root):
    base = tmp_path_factory.mktemp("pretrain")
    build(base, fillets_root)
    return base


def setup(corpus: Path, *extra: str):
    parser = options.get_training_parser()
    args = options.parse_args_and_arch(parser, [
        str(corpus), "--user-dir", str(REPO / "mu2slam_fairseq"), "--task", "mu2slam_pretrain",
        "--criterion", "mu2slam", "--arch", "mu2slam_tiny", "--max-tokens", "4000", "--seed", "3", *extra,
    ])
    task = tasks.setup_task(args)
    task.load_dataset("train")
    model = task.build_model(args)
    criterion = task.build_criterion(args)
    itr = task.get_batch_iterator(task.datasets["train"], max_tokens=4000, seed=3).next_epoch_itr(shuffle=True)
    return task, model, criterion, next(itr)


def test_one_update_holds_every_type_and_every_term(corpus):
    task, model, criterion, sample = setup(corpus)
    assert sample["types"] == {"speech": 2, "text": 4, "asr": 1, "ast": 1, "mt": 1}
    model.eval()
    _, _, log = criterion(model, sample)
    terms = sorted(k[: -len("/loss")] for k in log if k.endswith("/loss"))
    assert terms == sorted([
        "speech_u/mlm", "speech_u/dec", "text_u/mlm", "text_u/dec",
        "asr_s2t/mlm", "asr_s2t/dec", "asr_s2t/ctc", "asr_t2s/mlm", "asr_t2s/dec",
        "asr_align/mlm", "asr_align/dec_units", "asr_align/dec_text",
        "ast_s2t/mlm", "ast_s2t/dec", "ast_t2s/mlm", "ast_t2s/dec",
        "ast_align/mlm", "ast_align/dec_units", "ast_align/dec_text",
        "mt_fwd/mlm", "mt_fwd/dec", "mt_bwd/mlm", "mt_bwd/dec",
        "mt_align/mlm", "mt_align/dec_src", "mt_align/dec_tgt",
    ])


def test_gradient_reaches_every_parameter(corpus):
    task, model, criterion, sample = setup(corpus)
    loss, sample_size, _ = criterion(model, sample)
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert missing == []


@pytest.mark.parametrize("flag,view,part", [
    ("--weight-t2s", "asr_t2s", "dec"), ("--weight-alignment", "mt_align", "dec_src"),
    ("--weight-ctc", "asr_s2t", "ctc"), ("--weight-s2t-decoder", "ast_s2t", "dec"),
])
def test_zero_weight_removes_exactly_its_terms(corpus, flag, view, part):
    task, model, criterion, sample = setup(corpus)
    model.eval()
    full, _, log = criterion(model, sample)
    zero_cfg = setup(corpus, flag, "0")[2]  # the same task and data with that weight at 0
    zeroed, _, _ = zero_cfg(model, sample)
    weight = term_weight(criterion.cfg, view, part)
    removed = sum(
        term_weight(criterion.cfg, k.split("/")[0], k.split("/")[1]) * log[k] / log[k.replace("/loss", "/n")]
        for k in log if k.endswith("/loss") and term_weight(zero_cfg.cfg, k.split("/")[0], k.split("/")[1]) == 0
        and log[k.replace("/loss", "/n")] > 0
    )
    assert weight > 0 and removed > 0
    assert math.isclose(full.item() - zeroed.item(), removed, rel_tol=1e-4)


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
    out = subprocess.run([
        sys.executable, "-m", "fairseq_cli.train", str(corpus), "--user-dir", "mu2slam_fairseq",
        "--task", "mu2slam_pretrain", "--criterion", "mu2slam", "--arch", "mu2slam_tiny",
        "--optimizer", "adam", "--lr", "2e-3", "--lr-scheduler", "inverse_sqrt", "--warmup-updates", "10",
        "--max-update", "40", "--max-tokens", "4000", "--cpu", "--save-dir", str(tmp_path / "ckpt"),
        "--log-interval", "1", "--log-format", "simple", "--disable-validation", "--no-save", "--seed", "1",
    ], cwd=REPO, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = [l for l in (out.stdout + out.stderr).splitlines() if "train_inner" in l]
    values = {}
    for line in lines:
        for name, value in re.findall(r"(\w+/\w+_loss)=([\d.]+)", line):
            values.setdefault(name, []).append(float(value))
    assert len(values) == 26
    for name, series in values.items():
        first, last = sum(series[:10]) / 10, sum(series[-10:]) / 10
        assert last < first, f"{name} did not fall: {first:.3f} -> {last:.3f}"
