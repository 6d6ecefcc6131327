"""The paper-size model (mu2slam_base) builds and trains one step on one real utterance."""

import pytest
import torch
from fairseq.data import Dictionary

import mu2slam_fairseq  # noqa: F401  (registers the model)
from mu2slam_fairseq.data.io.audio import fbank, load_waveform
from mu2slam_fairseq.symbols import MASK, lang_symbol, unit_symbol
from mu2slam_fairseq.grid import grid_length
from mu2slam_fairseq.models import build_for_dictionary
from mu2slam_fairseq.models.describe import summary

TRANSCRIPT = "wat is dit voor raar schip?"  # sound/airplane/nl/let-m-divna.ogg
TRANSLATION = "what kind of strange ship is that?"


@pytest.mark.slow
def test_base_model_forward_backward_on_a_real_utterance(fillets_root):
    d = Dictionary()
    for ch in TRANSCRIPT + TRANSLATION:
        d.add_symbol(ch)
    for k in range(1024):
        d.add_symbol(unit_symbol(k))
    for code in ["nl", "en"]:
        d.add_symbol(lang_symbol(code))
    d.add_symbol(MASK)

    feats = torch.from_numpy(
        fbank(load_waveform(fillets_root / "sound/airplane/nl/let-m-divna.ogg"))
    )
    feats = (feats - feats.mean(0)) / feats.std(0).clamp(min=1e-3)
    steps = grid_length(len(feats))

    torch.manual_seed(0)
    model = build_for_dictionary("mu2slam_base", d).train()
    counts = summary(model)
    assert 0.57e9 <= counts["encoder (front end + Conformer)"] <= 0.63e9
    assert 0.66e9 <= counts["total"] <= 0.73e9
    assert len(model.encoder.layers) == 24 and len(model.decoder.layers) == 6

    nl, en = d.index(lang_symbol("nl")), d.index(lang_symbol("en"))
    mask = torch.zeros(1, steps, dtype=torch.bool)
    mask[0, 5:15] = True
    target = torch.tensor([[d.index(c) for c in TRANSLATION] + [d.eos()]])
    prev = torch.cat([torch.tensor([[d.eos()]]), target[:, :-1]], 1)
    logits, extra = model(
        src_tokens=torch.zeros(1, 0, dtype=torch.long),
        src_lengths=torch.zeros(1, dtype=torch.long),
        prev_output_tokens=prev,
        src_speech=feats[None],
        src_speech_lengths=torch.tensor([len(feats)]),
        speech_lang=torch.tensor([nl]),
        speech_mask=mask,
        tgt_lang=torch.tensor([en]),
        tgt_modality=torch.tensor([1]),
    )
    enc = extra["encoder_out"]
    assert enc["encoder_out"][0].shape == (steps, 1, 1024)
    lprobs = model.get_normalized_probs((logits, extra), log_probs=True)
    dec_loss = torch.nn.functional.nll_loss(lprobs[0], target[0])
    unit_targets = torch.tensor([d.index(unit_symbol(k)) for k in range(10)])
    mlm_loss = torch.nn.functional.cross_entropy(model.mlm_logits(enc, mask), unit_targets)
    transcript = torch.tensor([[d.index(c) for c in TRANSCRIPT]])
    ctc_loss = torch.nn.functional.ctc_loss(
        model.ctc_logits(enc).log_softmax(-1),
        transcript,
        torch.tensor([steps]),
        torch.tensor([transcript.size(1)]),
        blank=model.ctc_blank,
    )
    loss = dec_loss + mlm_loss + ctc_loss
    assert torch.isfinite(loss)
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
