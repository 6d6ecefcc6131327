"""SLAM / mSLAM pre-training (task, model and criterion ``mu2slam_slam``): the masks of each
data type, TLM targets, STM labels, CTC on the speech part of a pair, the registered
names, and fairseq-train on the small real corpus, both SLAM stages."""

import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import yaml
from fairseq.data import Dictionary

import mu2slam_fairseq  # noqa: F401  (registers the plugin)
from mu2slam_fairseq.criterions.slam import speech_ctc_loss, stm_loss
from mu2slam_fairseq.data.pipeline.masking import item_rng
from mu2slam_fairseq.data.pipeline.slam import (
    SlamMasking,
    collate_slam,
    pair_masks,
    stm_batch,
    stm_partner,
    text_span_mask,
)
from mu2slam_fairseq.models.architectures import mu2slam_slam_tiny
from mu2slam_fairseq.models.slam import SlamConfig, SlamModel, join
from mu2slam_fairseq.models.w2vbert import code_ids
from mu2slam_fairseq.symbols import MASK
from pretrain_corpus import build
from processes import train_inner

REPO = Path(__file__).resolve().parents[1]


def runs(mask: np.ndarray):
    """Lengths of the masked runs, in order."""
    out, n = [], 0
    for m in list(mask) + [False]:
        if m:
            n += 1
        elif n:
            out.append(n)
            n = 0
    return out


def circular_runs(mask: np.ndarray):
    """Runs of a mask read as a circle (started at an unmasked position)."""
    return runs(np.roll(mask, -int(np.argmin(mask))))


@pytest.mark.parametrize("seed", range(5))
def test_text_masks_are_15_percent_in_spans_of_5_or_20(seed):
    rng = np.random.default_rng(seed)
    slam = text_span_mask(200, 0.15, 5, rng)  # SLAM: 30 of 200 tokens in 6 spans of 5
    assert slam.sum() == 30 and circular_runs(slam) == [5] * 6
    assert all(r <= 5 for r in runs(slam))
    mslam = text_span_mask(400, 0.15, 20, rng)  # mSLAM: 60 of 400 in 3 spans of 20
    assert mslam.sum() == 60 and circular_runs(mslam) == [20] * 3


@pytest.mark.parametrize("seed", range(5))
def test_pair_masks_are_one_half_text_span_and_75_percent_of_speech(seed):
    speech, text = pair_masks(100, 37, SlamMasking(), np.random.default_rng(seed))
    assert speech.sum() == 75 and max(runs(speech)) <= 10
    assert runs(text) == [19]  # round(0.5 * 37) = 19, one contiguous span


def dictionary() -> Dictionary:
    d = Dictionary()
    for c in "abcdefghij":
        d.add_symbol(c)
    d.add_symbol(MASK)
    return d


def test_tlm_text_targets_are_the_original_tokens_at_masked_positions_only():
    d = dictionary()
    tokens = [torch.tensor([4, 5, 6, 7, 8]), torch.tensor([9, 10, 11])]
    masks = [torch.tensor([0, 1, 1, 0, 0]).bool(), torch.tensor([1, 0, 0]).bool()]
    samples = [
        {
            "feats": torch.zeros(20, 80),
            "speech_mask": torch.zeros(5, dtype=torch.bool),
            "tokens": t,
            "text_mask": m,
            "stm_negative": False,
            "stm_draw": 0.0,
        }
        for t, m in zip(tokens, masks)
    ]
    b = collate_slam(samples, "asr", d, SlamMasking(ctc=True))
    mask, pad = d.index(MASK), d.pad()
    assert b["tokens"].tolist() == [[4, mask, mask, 7, 8], [mask, 10, 11, pad, pad]]
    assert b["text_targets"].tolist() == [[pad, 5, 6, pad, pad], [9, pad, pad, pad, pad]]
    assert b["ctc_target"].tolist() == [[4, 5, 6, 7, 8], [9, 10, 11, pad, pad]]  # unmasked
    assert b["text_lengths"].tolist() == [5, 3] and "stm_labels" not in b


def tiny_model(vocab: int = 16, pad: int = 1) -> SlamModel:
    from argparse import Namespace

    args = Namespace()
    mu2slam_slam_tiny(args)
    cfg = SlamConfig(**{k: v for k, v in vars(args).items() if hasattr(SlamConfig, k)})
    torch.manual_seed(0)
    return SlamModel(cfg, vocab, pad).eval()


def pair_inputs():
    torch.manual_seed(1)
    feats = torch.randn(2, 64, 80)
    lengths = torch.tensor([64, 40])  # 16 and 10 steps of 40 ms
    speech_mask = torch.zeros(2, 16, dtype=torch.bool)
    speech_mask[0, 2:8] = True
    speech_mask[1, 1:4] = True
    tokens = torch.tensor([[4, 5, 6, 7], [8, 9, 1, 1]])
    targets = torch.tensor([[1, 5, 1, 1], [8, 1, 1, 1]])
    return feats, lengths, speech_mask, tokens, targets, torch.tensor([4, 2])


def test_tlm_speech_targets_are_the_quantizer_ids_of_the_masked_steps():
    model = tiny_model()
    feats, lengths, speech_mask, tokens, targets, text_lengths = pair_inputs()
    with torch.no_grad():
        out = model.pair_forward(feats, lengths, speech_mask, tokens, targets, text_lengths)
        x, steps = model.encoder.features(feats, lengths)
    assert steps.tolist() == [16, 10]
    expected = torch.cat([code_ids(model.quantizer, x[b][speech_mask[b]]) for b in range(2)])
    assert out["mlm_targets"].tolist() == expected.tolist()
    assert out["mlm_logits"].shape == (9, model.num_codes)
    assert out["text_targets"].tolist() == [5, 8]  # the masked tokens, in order
    assert out["text_logits"].shape == (2, 16)


def test_stm_partners_and_labels():
    assert [stm_partner(0, u, 4) for u in (0.0, 0.34, 0.67, 0.999)] == [1, 2, 3, 3]
    assert stm_partner(3, 0.5, 4) == 1 and stm_partner(2, 0.9, 1) == 2
    for b in range(2, 7):  # never the example itself
        assert all(stm_partner(i, u, b) != i for i in range(b) for u in np.linspace(0, 0.999, 50))
    texts = [torch.tensor([4, 5]), torch.tensor([6]), torch.tensor([7, 8, 9]), torch.tensor([6])]
    samples = [
        {"tokens": t, "stm_negative": neg, "stm_draw": u}
        for t, neg, u in zip(texts, [True, False, True, True], [0.0, 0.5, 0.7, 0.0])
    ]
    b = stm_batch(samples, pad=1)
    # 0 reads 1's text; 1 is a true pair; 2 -> (2 + 1 + 2) % 4 = 1; 3 -> 0
    assert b["stm_partner"].tolist() == [1, 1, 1, 0]
    assert b["stm_labels"].tolist() == [0, 1, 0, 0]
    assert b["stm_tokens"].tolist() == [[6, 1], [6, 1], [6, 1], [4, 5]]
    samples[3]["stm_draw"] = 0.5  # 3 -> (3 + 1 + 1) % 4 = 1, whose text equals its own
    assert stm_batch(samples, pad=1)["stm_labels"].tolist() == [0, 1, 0, 1]


def test_stm_negatives_follow_the_example_seed():
    """A pair's STM draws come after its two masks from item_rng(seed, epoch, index)."""
    s = SlamMasking(stm=True)
    for key in range(20):
        rng = item_rng(7, 1, key)
        pair_masks(50, 12, s, rng)
        negative, draw = rng.random() < 0.5, rng.random()
        again = item_rng(7, 1, key)
        pair_masks(50, 12, s, again)
        assert (again.random() < 0.5, again.random()) == (negative, draw)


def test_stm_loss_is_two_class_cross_entropy():
    logits = torch.tensor([[0.0, 2.0], [1.0, -1.0]])
    loss, n, ok = stm_loss(logits, torch.tensor([1, 1]))
    hand = math.log(1 + math.exp(-2.0)) + math.log(1 + math.exp(2.0))
    assert n == 2 and ok == 1 and loss.item() == pytest.approx(hand, rel=1e-6)


def test_ctc_reads_the_speech_part_of_the_pair_only():
    model = tiny_model()
    feats, lengths, speech_mask, tokens, targets, text_lengths = pair_inputs()
    with torch.no_grad():
        out = model.pair_forward(feats, lengths, speech_mask, tokens, targets, text_lengths)
        sp = model.speech_encoder(feats, lengths, speech_mask)
        w, _ = model.encoder.text_embed(tokens)
        x, padding, _ = join([(model.encoder.speech_norm(sp["c"]), sp["steps"]), (w, text_lengths)])
        h = model.encoder.shared(x, padding)
    ctc_target = torch.tensor([[4, 5, 6, 7], [8, 9, 1, 1]])
    hand = 0.0
    for b, (steps, n) in enumerate([(16, 4), (10, 2)]):
        speech_part = h[b, :steps]  # the text follows at steps .. steps + n
        lp = F.log_softmax(model.ctc_head(speech_part), -1)[:, None]
        hand += (
            F.ctc_loss(
                lp, ctc_target[b : b + 1, :n], torch.tensor([steps]), torch.tensor([n]), blank=0
            ).item()
            * n
        )  # torch's default: mean over target lengths
    loss, n, _ = speech_ctc_loss(out["ctc_logits"], out["speech_steps"], ctc_target, 1, 0)
    assert n == 6 and loss.item() == pytest.approx(hand, rel=1e-5)
    assert torch.allclose(out["speech_hidden"][1, :10], h[1, :10])
    assert out["speech_hidden"][1, 10:].abs().sum() == 0  # padding, not text positions


def test_fairseq_train_knows_the_slam_names():
    """--help lists the criterion (fairseq prints its choices; tasks and architectures are
    metavars there), and the training parser takes the task, both architectures and the
    criterion, with the task's and model's own options."""
    out = subprocess.run(
        [sys.executable, "-m", "fairseq_cli.train", "--user-dir", "mu2slam_fairseq", "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert re.search(r"--criterion \{[^}]*\bmu2slam_slam\b", out.stdout)
    from fairseq import options
    from fairseq.models import ARCH_MODEL_REGISTRY
    from fairseq.tasks import TASK_REGISTRY

    assert "mu2slam_slam" in TASK_REGISTRY
    assert ARCH_MODEL_REGISTRY["mu2slam_slam_tiny"] is ARCH_MODEL_REGISTRY["mu2slam_slam_base"]
    for arch, layers in (("mu2slam_slam_base", (1024, 8, 16)), ("mu2slam_slam_tiny", (192, 2, 2))):
        args = options.parse_args_and_arch(
            options.get_training_parser(),
            ["DATA", "--task", "mu2slam_slam", "--arch", arch, "--criterion", "mu2slam_slam"]
            + ["--slam-preset", "slam", "--tlm-weight", "0.5"],
        )
        assert (args.embed_dim, args.speech_layers, args.shared_layers) == layers
        assert args.slam_preset == "slam" and args.tlm_weight == 0.5
    for arch, sizes in (
        ("mu2slam_slam_seq2seq_base", (1024, 16, 512, 6)),
        ("mu2slam_slam_seq2seq_tiny", (192, 2, 192, 2)),
    ):
        args = options.parse_args_and_arch(
            options.get_training_parser(),
            ["DATA", "--task", "mu2slam_finetune", "--arch", arch, "--criterion", "mu2slam_seq2seq"]
            + ["--load-pretrained-encoder-from", "mslam.pt"],
        )
        assert (
            args.embed_dim,
            args.shared_layers,
            args.decoder_embed_dim,
            args.decoder_layers,
        ) == sizes
        assert args.load_pretrained_encoder_from == "mslam.pt"


# ---------------------------------------------------------------- fairseq-train, two stages


def train(data: Path, save: Path, updates: int, *extra: str) -> list:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "fairseq_cli.train",
            str(data),
            "--user-dir",
            "mu2slam_fairseq",
            "--task",
            "mu2slam_slam",
            "--data-config",
            "slam.yaml",
            "--slam-preset",
            "slam",
            "--arch",
            "mu2slam_slam_tiny",
            "--criterion",
            "mu2slam_slam",
            "--optimizer",
            "adam",
            "--lr",
            "1e-3",
            "--lr-scheduler",
            "inverse_sqrt",
            "--warmup-updates",
            "3",
            "--max-update",
            str(updates),
            "--max-tokens",
            "20000",
            "--cpu",
            "--num-workers",
            "0",
            "--save-dir",
            str(save),
            "--no-epoch-checkpoints",
            "--disable-validation",
            "--log-interval",
            "1",
            "--log-format",
            "json",
            "--seed",
            "1",
            *extra,
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return train_inner(out.stdout + out.stderr)


@pytest.mark.slow
def test_two_stage_fairseq_train_gives_finite_falling_losses(tmp_path, fillets_root):
    config = yaml.safe_load(build(tmp_path, fillets_root).read_text())
    config["batching"]["shares"] = {"speech": 2, "text": 4, "asr": 3, "ast": 2, "mt": 1}
    (tmp_path / "slam.yaml").write_text(yaml.safe_dump(config))
    stage1 = train(tmp_path, tmp_path / "stage1", 12, "--self-supervised-only")
    assert len(stage1) == 12 and "stm" not in stage1[-1] and "tlm_text_mlm" not in stage1[-1]
    loss = [float(s["loss"]) for s in stage1]
    assert all(math.isfinite(v) for v in loss)
    assert sum(loss[-4:]) / 4 < sum(loss[:4]) / 4, loss
    stage2 = train(
        tmp_path,
        tmp_path / "stage2",
        12,
        "--restore-file",
        str(tmp_path / "stage1" / "checkpoint_last.pt"),
        "--reset-optimizer",
        "--reset-dataloader",
        "--reset-meters",
        "--reset-lr-scheduler",
    )
    assert len(stage2) == 12
    for key in ("stm", "tlm_text_mlm", "tlm_speech_mlm", "text_mlm", "speech_mlm"):
        assert all(math.isfinite(float(s[key])) for s in stage2), key
    loss = [float(s["loss"]) for s in stage2]
    assert sum(loss[-4:]) / 4 < sum(loss[:4]) / 4, loss
    # stage 2 starts from stage 1's weights: its text MLM starts where stage 1 ended
    assert float(stage2[0]["text_mlm"]) < float(stage1[0]["text_mlm"])


def test_pairs_and_stm_run_under_bf16_autocast():
    """Under --autocast-bf16 the speech part (layer norm: float32) and the text part of a
    pair reach ``join`` in different dtypes; the joined pass must take both."""
    model = tiny_model()
    feats, lengths, speech_mask, tokens, targets, text_lengths = pair_inputs()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        out = model.pair_forward(feats, lengths, speech_mask, tokens, targets, text_lengths)
        stm = model.stm_forward(feats, lengths, tokens, text_lengths)
    assert torch.isfinite(out["ctc_logits"].float()).all() and stm.shape == (2, 2)
