"""Fine-tuning a SLAM / mSLAM encoder with a new decoder (``mu2slam_slam_seq2seq``): the
encoder and CTC head come exactly from the pre-training checkpoint, the fine-tuning
encoder computes what pre-training's encoder computes on unmasked input, sizes that do
not fit are refused by name, and fairseq-train / fairseq-generate run it on real speech."""

import re
from argparse import Namespace
from pathlib import Path

import pytest
import torch
import yaml
from fairseq.data import Dictionary
from fairseq.models import ARCH_CONFIG_REGISTRY

import finetune_corpus
from mu2slam_fairseq.models.slam import SlamConfig, SlamModel
from mu2slam_fairseq.models.slam_seq2seq import (
    SlamEncoderMismatchError,
    SlamSeq2SeqConfig,
    SlamSeq2SeqModel,
)
from mu2slam_fairseq.symbols import lang_symbol
from test_generate import generate


def dictionary() -> Dictionary:
    d = Dictionary()
    for s in ["a", "b", "c", lang_symbol("en"), lang_symbol("nl")]:
        d.add_symbol(s)
    return d


def config(cls, arch: str, **overrides):
    args = Namespace(**overrides)
    ARCH_CONFIG_REGISTRY[arch](args)
    return cls.from_namespace(args)


def save_slam(path: Path, d: Dictionary, **overrides) -> SlamModel:
    """A fresh tiny SLAM model written as fairseq writes a checkpoint (cfg.model, model)."""
    cfg = config(SlamConfig, "mu2slam_slam_tiny", **overrides)
    model = SlamModel(cfg, len(d), d.pad())
    model_cfg = {"_name": "mu2slam_slam_tiny", **vars(cfg)}
    torch.save({"cfg": {"model": model_cfg}, "model": model.state_dict()}, path)
    return model.eval()


def seq2seq(d: Dictionary, path: Path = None, **overrides) -> SlamSeq2SeqModel:
    cfg = config(SlamSeq2SeqConfig, "mu2slam_slam_seq2seq_tiny", **overrides)
    cfg.load_pretrained_encoder_from = str(path) if path else None
    task = Namespace(source_dictionary=d, target_dictionary=d)
    return SlamSeq2SeqModel.build_model(cfg, task).eval()


def test_encoder_and_ctc_head_come_from_the_slam_checkpoint(tmp_path):
    d = dictionary()
    slam = save_slam(tmp_path / "slam.pt", d)
    model = seq2seq(d, tmp_path / "slam.pt", decoder_embed_dim=64)
    assert model.encoder.state_dict().keys() == slam.encoder.state_dict().keys()
    for k, v in slam.encoder.state_dict().items():
        assert torch.equal(model.encoder.state_dict()[k], v), k
    assert torch.equal(model.ctc_head.weight, slam.ctc_head.weight)
    assert torch.equal(model.ctc_head.bias, slam.ctc_head.bias)
    # the fine-tuning encoder on speech is pre-training's speech path without masks
    feats, lengths = torch.randn(2, 40, 80), torch.tensor([40, 28])
    with torch.no_grad():
        enc = model.encoder(torch.zeros(2, 0, dtype=torch.long), lengths * 0, feats, lengths)
        sp = slam.encoder.speech(feats, lengths)
        expected = slam.encoder.shared(slam.encoder.speech_norm(sp["c"]), sp["padding"])
    assert enc["encoder_out"][0].shape == (10, 2, 192)
    assert torch.equal(enc["encoder_padding_mask"][0], sp["padding"])
    assert torch.equal(enc["encoder_out"][0].transpose(0, 1), expected)
    # text: the shared stack over the text embedding
    tokens = torch.tensor([[4, 5, 6], [6, 4, d.pad()]])
    with torch.no_grad():
        enc = model.encoder(tokens, torch.tensor([3, 2]))
        w, padding = slam.encoder.text_embed(tokens)
    assert torch.equal(enc["encoder_out"][0].transpose(0, 1), slam.encoder.shared(w, padding))
    # a decoder of width 64 attends to the encoder's 192
    prev = torch.tensor([[d.eos(), 4], [d.eos(), 5]])
    with torch.no_grad():
        logits, _ = model(tokens, torch.tensor([3, 2]), prev)
    assert logits.shape == (2, 2, len(d))


def test_a_checkpoint_of_other_sizes_is_refused_by_name(tmp_path):
    d = dictionary()
    save_slam(tmp_path / "slam.pt", d, shared_layers=3)
    with pytest.raises(SlamEncoderMismatchError, match="shared_layers: checkpoint 3, this model 2"):
        seq2seq(d, tmp_path / "slam.pt")


def test_the_base_architecture_is_mslams_fine_tuning_model():
    cfg = config(SlamSeq2SeqConfig, "mu2slam_slam_seq2seq_base")
    assert (cfg.embed_dim, cfg.speech_layers, cfg.shared_layers) == (1024, 8, 16)
    assert (cfg.decoder_layers, cfg.decoder_embed_dim, cfg.decoder_dropout) == (6, 512, 0.3)


@pytest.mark.slow
def test_mslam_pretrain_finetune_generate_on_real_speech(tmp_path_factory, fillets_root):
    """mSLAM-CTC pre-training, then stage-1 multi-task and stage-2 ASR fine-tuning of its
    encoder with a new decoder, then fairseq-generate with joint CTC/attention decoding."""
    data = finetune_corpus.corpus(tmp_path_factory, fillets_root)
    slam = yaml.safe_load((data / "data.yaml").read_text())
    slam["batching"] = {"shares": {"speech": 1, "text": 2, "asr": 2, "ast": 1}}
    (data / "mslam.yaml").write_text(yaml.safe_dump(slam))
    work = tmp_path_factory.mktemp("mslam")
    tiny = ("--optimizer", "adam", "--lr", "1e-3", "--max-tokens", "4000")
    finetune_corpus.train(
        data, work / "pretrain", "--task", "mu2slam_slam", "--data-config", "mslam.yaml",
        "--slam-preset", "mslam", "--arch", "mu2slam_slam_tiny", "--criterion", "mu2slam_slam",
        *tiny, "--max-update", "2", "--disable-validation", "--no-epoch-checkpoints",
    )  # fmt: skip
    finetune = ("--task", "mu2slam_finetune", "--criterion", "mu2slam_seq2seq", *tiny)
    finetune += ("--arch", "mu2slam_slam_seq2seq_tiny", "--ctc-weight", "0.5")
    out = finetune_corpus.train(
        data, work / "stage1", "--data-config", "finetune.yaml", *finetune,
        "--load-pretrained-encoder-from", str(work / "pretrain" / "checkpoint_last.pt"),
        "--max-update", "2", "--disable-validation", "--no-epoch-checkpoints",
    )  # fmt: skip
    log = out.stdout + out.stderr
    assert "encoder and CTC head from" in log
    for term in ("asr_s2t/ctc_loss", "ast_s2t/dec_loss", "mt_fwd/dec_loss"):
        assert re.search(rf"\| {term} [\d.]+ \|", log), term
    stage2 = yaml.safe_load((data / "finetune.yaml").read_text())
    stage2["corpora"] = [c for c in stage2["corpora"] if c["type"] == "asr"]
    (data / "asr_only.yaml").write_text(yaml.safe_dump(stage2))
    finetune_corpus.train(
        data, work / "stage2", "--data-config", "asr_only.yaml", *finetune,
        "--finetune-from-model", str(work / "stage1" / "checkpoint_last.pt"),
        "--max-update", "2", "--eval-wer", "--best-checkpoint-metric", "wer",
        "--no-epoch-checkpoints",
    )  # fmt: skip
    ckpt = work / "stage2" / "checkpoint_best.pt"
    extra = ("--data-config", "asr_only.yaml", "--ctc-decoding-weight", "0.3")
    stdout = generate(data, ckpt, "test_asr_nl", "wer", *extra, prefix=0)
    assert len(re.findall(r"^H-\d+\t", stdout, flags=re.M)) == 6
    assert re.search(r"WER: [\d.]+", stdout)
