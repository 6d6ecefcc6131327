"""w2v-BERT on speech: each loss against its formula, the masks, the negatives, a tiny
fairseq-train run on the default corpus's speech, and its quantizer exported as a frozen
speech tokenizer."""

import json
import math
import subprocess
import sys
from argparse import Namespace
from pathlib import Path

import numpy as np
import pytest
import torch

from processes import train_inner
from mu2slam_fairseq.criterions.w2vbert import (
    contrastive_logits,
    contrastive_loss,
    diversity_loss,
)
from mu2slam_fairseq.data.io.cmvn import global_cmvn, save_cmvn
from mu2slam_fairseq.data.io.manifest import read_manifest, write_manifest
from mu2slam_fairseq.data.pipeline.speech_only import SpeechMaskDataset
from mu2slam_fairseq.grid import grid_length
from mu2slam_fairseq.models.architectures import mu2slam_w2vbert_tiny
from mu2slam_fairseq.models.w2vbert import (
    W2vBertConfig,
    W2vBertModel,
    build_quantizer,
    code_ids,
    sample_negatives,
)

REPO = Path(__file__).resolve().parents[1]


def tiny_config(**overrides) -> W2vBertConfig:
    args = Namespace(**overrides)
    mu2slam_w2vbert_tiny(args)
    return W2vBertConfig(**vars(args))


def runs(mask: np.ndarray):
    """Lengths of the masked runs of a 1-d mask."""
    edges = np.diff(np.concatenate([[0], mask.astype(int), [0]]))
    return (np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)).tolist()


# ----------------------------------------------------------------------------- losses


def test_contrastive_loss_matches_a_hand_computation():
    tau = 0.5
    context = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    positive = torch.tensor([[1.0, 1.0], [0.0, 1.0]])
    negatives = torch.tensor(
        [
            [[0.0, 3.0], [-2.0, 0.0]],  # cos 0 and -1
            [[0.0, 1.0], [1.0, 1.0]],  # the first equals the positive: dropped
        ]
    )
    valid = torch.tensor([[True, True], [True, False]])  # the second row's last: absent
    logits = contrastive_logits(context, positive, negatives, tau, valid)
    s = 1 / math.sqrt(2)  # cos([1, 0], [1, 1])
    row1 = -math.log(
        math.exp(s / tau) / (math.exp(s / tau) + math.exp(0 / tau) + math.exp(-1 / tau))
    )
    row2 = -math.log(math.exp(1 / tau) / math.exp(1 / tau))  # only the positive is left: 0
    assert logits[0].tolist() == pytest.approx([s / tau, 0.0, -1 / tau], abs=1e-6)
    assert torch.isinf(logits[1, 1:]).all()
    assert contrastive_loss(logits).item() == pytest.approx(row1 + row2, abs=1e-6)


def test_diversity_loss_matches_its_formula_on_a_fixed_softmax():
    # G = 2 groups of V = 3 entries; the logits are the inputs themselves (identity projection)
    cfg = tiny_config(embed_dim=6, latent_groups=2, latent_vars=3, latent_dim=6)
    q = build_quantizer(cfg)
    with torch.no_grad():
        q.weight_proj.weight.copy_(torch.eye(6))
        q.weight_proj.bias.zero_()
    x = torch.tensor([[1.0, 2.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 3.0, -1.0, 1.0, 0.5]])
    q.eval()
    out = q(x[None], produce_targets=True)
    p = torch.softmax(x.view(2, 2, 3).double(), dim=-1).mean(0)  # (G, V) mean over steps
    perplexity = sum(math.exp(-float((p[g] * p[g].log()).sum())) for g in range(2))
    expected = (6 - perplexity) / 6
    assert diversity_loss(out["prob_perplexity"], out["num_vars"]).item() == pytest.approx(
        expected, abs=1e-5
    )
    # every entry equally likely: perplexity G V, loss 0
    flat = q(torch.zeros(1, 4, 6))
    assert diversity_loss(flat["prob_perplexity"], flat["num_vars"]).item() == pytest.approx(
        0.0, abs=1e-5
    )


# ----------------------------------------------------------------------------- masks, negatives


def test_span_masks_halve_long_inputs_in_spans_of_10():
    ds = SpeechMaskDataset([], None, mask_ratio=0.5, mask_span=10, seed=7)
    for index, steps in enumerate((1000, 1003, 2500)):
        mask = ds.mask_for(index, steps)
        k = math.floor(0.5 * steps + 0.5)
        assert mask.sum() == k  # exact count
        lengths = sorted(runs(mask))
        full = [10] * (k // 10) + ([k % 10] if k % 10 else [])
        # every span stays whole, except the one the circle's cut may split in two
        assert lengths == sorted(full) or (
            len(lengths) == len(full) + 1
            and max(lengths) <= 10
            and sorted(full) != lengths
            and sum(lengths) == k
        )
        assert max(lengths) == 10
    # reproducible per (seed, epoch, index), new in another epoch
    assert (ds.mask_for(0, 1000) == ds.mask_for(0, 1000)).all()
    ds.set_epoch(2)
    assert not (ds.mask_for(0, 1000) == SpeechMaskDataset([], None, seed=7).mask_for(0, 1000)).all()
    # short inputs: k = round(n / 2), at least one step
    assert [int(ds.mask_for(0, n).sum()) for n in (1, 2, 3, 7, 10)] == [1, 1, 2, 4, 5]


def test_batches_mask_only_valid_steps(default_corpus):
    ds = SpeechMaskDataset.from_manifest(default_corpus / "dev_speech.tsv", seed=1)
    batch = ds.collater([ds[i] for i in range(6)])
    feats, lengths, mask = (batch["net_input"][k] for k in ("feats", "lengths", "mask"))
    assert mask.shape == (6, int(grid_length(int(lengths.max()))))
    for i in range(6):
        g = int(grid_length(int(lengths[i])))
        assert not mask[i, g:].any()
        assert int(mask[i, :g].sum()) == math.floor(0.5 * g + 0.5)
        assert not feats[i, int(lengths[i]) :].any()
    assert batch["ntokens"] == int(mask.sum())


def test_negatives_are_other_masked_steps_of_the_same_utterance():
    mask = torch.zeros(3, 12, dtype=torch.bool)
    mask[0, [1, 2, 3, 7, 8]] = True
    mask[1, [4]] = True  # a single masked step: nothing to draw
    mask[2, [0, 11]] = True
    torch.manual_seed(0)
    negs = sample_negatives(mask, 50)
    index, valid = negs["index"], negs["valid"]
    item = torch.tensor([0] * 5 + [1] + [2] * 2)
    for m in range(8):
        if item[m] == 1:
            assert not valid[m].any() and (index[m] == m).all()
            continue
        assert valid[m].all()
        assert (index[m] != m).all()
        assert (item[index[m]] == item[m]).all()
    # every other masked step of the first utterance is drawn
    assert set(index[0].tolist()) == {1, 2, 3, 4}
    assert (index[6] == 7).all() and (index[7] == 6).all()


def test_model_ids_are_the_quantizers_argmax_and_each_step_has_one():
    torch.manual_seed(0)
    model = W2vBertModel(tiny_config()).eval()
    feats = torch.randn(2, 37, 80) * 3
    lengths = torch.tensor([37, 21])
    ids = model.unit_ids(feats, lengths)
    assert [len(i) for i in ids] == [int(grid_length(37)), int(grid_length(21))]
    x, _ = model.featurize(feats, lengths)
    targets = model.quantizer(x[:1, : len(ids[0])], produce_targets=True)["targets"][0]
    assert torch.equal(ids[0], model.quantizer.to_codebook_index(targets))
    assert int(max(i.max() for i in ids)) < model.num_codes == 16**2
    assert torch.equal(code_ids(model.quantizer, x[1, : len(ids[1])]), ids[1])


# ----------------------------------------------------------------------------- training


def subset(corpus: Path, name: str, out: Path, n: int, max_frames: int) -> None:
    rows = [r for r in read_manifest(corpus / f"{name}.tsv") if int(r["n_frames"]) <= max_frames]
    for r in rows:
        r["audio"] = str(corpus / r["audio"])
    write_manifest(out / f"{name}.tsv", rows[:n])


@pytest.fixture(scope="module")
def trained(default_corpus, tmp_path_factory):
    """A tiny w2v-BERT trained by fairseq-train for 30 updates: (data dir, checkpoint, log)."""
    data = tmp_path_factory.mktemp("w2vbert_data")
    subset(default_corpus, "train_speech", data, 64, 600)
    subset(default_corpus, "dev_speech", data, 16, 600)
    save_cmvn(data / "cmvn.npz", *global_cmvn([data / "train_speech.tsv"]))
    save = data / "ckpt"
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "fairseq_cli.train",
            str(data),
            "--user-dir",
            "mu2slam_fairseq",
            "--task",
            "mu2slam_w2vbert",
            "--global-cmvn",
            "cmvn.npz",
            "--train-subset",
            "train_speech",
            "--valid-subset",
            "dev_speech",
            "--arch",
            "mu2slam_w2vbert_tiny",
            "--criterion",
            "mu2slam_w2vbert",
            # On 64 utterances the default 0.1 lets the codebook collapse within ten updates
            # (the contrastive loss is 0 once every distractor equals its positive); a larger
            # diversity weight keeps codes in use, so the exported tokenizer has many ids.
            "--diversity-weight",
            "1.0",
            "--optimizer",
            "adam",
            "--lr",
            "2e-3",
            "--lr-scheduler",
            "inverse_sqrt",
            "--warmup-updates",
            "5",
            "--max-update",
            "30",
            "--max-tokens",
            "5000",
            "--cpu",
            "--num-workers",
            "0",
            "--save-dir",
            str(save),
            "--no-epoch-checkpoints",
            "--log-interval",
            "1",
            "--log-format",
            "json",
            "--seed",
            "1",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return data, save / "checkpoint_last.pt", out.stdout + out.stderr


@pytest.mark.slow
def test_fairseq_train_gives_a_finite_falling_loss(trained):
    _, checkpoint, log = trained
    inner = train_inner(log)
    loss = [float(s["loss"]) for s in inner]
    assert len(loss) == 30 and all(math.isfinite(v) for v in loss)
    assert sum(loss[-5:]) / 5 < sum(loss[:5]) / 5, loss
    print("loss per update:", " ".join(f"{v:.2f}" for v in loss))
    print("code perplexity:", inner[0]["code_perplexity"], "->", inner[-1]["code_perplexity"])
    for key in ("contrastive", "diversity", "mlm", "mlm_acc", "code_perplexity"):
        assert key in inner[-1]
    assert checkpoint.is_file()


# ----------------------------------------------------------------------------- frozen tokenizer


@pytest.fixture(scope="module")
def exported(trained, tmp_path_factory):
    """The trained checkpoint's quantizer exported with ``mu2slam-speech-tokenizer fit``."""
    from mu2slam_fairseq.speech_tokenizer import cli

    out = tmp_path_factory.mktemp("w2vbert_tok") / "w2vbert.pt"
    cli.main(["fit", "--kind", "w2vbert", "--checkpoint", str(trained[1]), "--out", str(out)])
    return out


@pytest.fixture(scope="module")
def trained_model(trained):
    from fairseq import checkpoint_utils

    models, _, _ = checkpoint_utils.load_model_ensemble_and_task([str(trained[1])])
    return models[0].eval()


@pytest.mark.slow
def test_exported_tokenizer_gives_the_models_own_ids(trained, exported, trained_model):
    from mu2slam_fairseq.data.io.features import load_features
    from mu2slam_fairseq.speech_tokenizer import load_tokenizer

    tok = load_tokenizer(exported)
    assert tok.kind == "w2vbert" and tok.codebook_size == 16**2 == trained_model.num_codes
    assert tok.state()["version"] == 2
    assert torch.equal(tok.mean, trained_model.input_mean)  # the task's CMVN came along
    rows = read_manifest(trained[0] / "dev_speech.tsv")
    feats = [load_features(r["audio"]) for r in rows]
    ids = []
    for f in feats:
        own = trained_model.unit_ids(torch.from_numpy(f)[None], torch.tensor([len(f)]))[0]
        assert len(own) == grid_length(len(f))
        assert torch.equal(tok.units_for_features(f), own)  # exact, step by step
        ids.append(own)
    # several utterances through one quantizer call (as apply and report do): the same ids
    assert all(torch.equal(a, b) for a, b in zip(tok.units_for_batch(feats), ids))
    assert len(torch.cat(ids).unique()) >= 8  # a codebook in use, not a collapsed one


@pytest.mark.slow
def test_apply_and_report_run_on_the_exported_tokenizer(trained, exported, tmp_path, capsys):
    from mu2slam_fairseq.speech_tokenizer import cli

    manifest = tmp_path / "dev.tsv"
    write_manifest(manifest, read_manifest(trained[0] / "dev_speech.tsv"))
    cli.main(["apply", "--tokenizer", str(exported), "--manifest", str(manifest), "--quiet"])
    rows = read_manifest(manifest)
    steps = 0
    for r in rows:
        units = [int(u) for u in r["units"].split()]
        assert len(units) == grid_length(int(r["n_frames"]))  # one id per 40 ms step
        assert all(0 <= u < 256 for u in units)
        steps += len(units)
    capsys.readouterr()
    cli.main(
        ["report", "--tokenizer", str(exported), "--manifest", str(manifest), "--json", "--quiet"]
        + ["--stability-utterances", "0"]
    )
    usage = json.loads(capsys.readouterr().out)["usage"]
    assert usage["steps"] == steps and usage["utterances"] == len(rows)
    assert usage["codebook_size"] == 256 and usage["used"] > 1
    print(f"w2vbert tokenizer on {len(rows)} dev utterances: {usage}")


def test_version_1_files_still_load_and_other_kinds_stay_version_1(tmp_path, default_corpus):
    from mu2slam_fairseq.speech_tokenizer import fit_tokenizer, load_tokenizer

    subset(default_corpus, "dev_speech", tmp_path, 8, 600)
    tok = fit_tokenizer("kmeans", tmp_path / "dev_speech.tsv", codebook_size=4, progress=False)
    tok.save(tmp_path / "km.pt")
    state = torch.load(tmp_path / "km.pt", weights_only=True)
    assert state["version"] == 1 and "quantizer" not in state
    again = load_tokenizer(tmp_path / "km.pt")
    f = np.random.default_rng(0).normal(size=(41, 80)).astype(np.float32)
    assert torch.equal(again.units_for_features(f), tok.units_for_features(f))
