"""The mu2slam model: interface, heads, padding invariance, incremental decoding, configs."""

import io
from contextlib import redirect_stdout
from typing import Dict, List, Optional

import pytest
import torch
from fairseq.data import Dictionary
from omegaconf import OmegaConf

import mu2slam_fairseq  # noqa: F401  (registers the model)
from mu2slam_fairseq.data.io.audio import fbank, load_waveform
from mu2slam_fairseq.symbols import MASK, lang_symbol, unit_symbol
from mu2slam_fairseq.grid import grid_length
from mu2slam_fairseq.models import Mu2SlamConfig, build_for_dictionary
from mu2slam_fairseq.models.conformer import masked_group_norm

ATOL = 1e-5
SENTENCES = {
    "nl": "wat is dit voor raar schip?",
    "en": "what kind of strange ship is that?",
    "cs": "co je to za divnou lod?",
}
N_UNITS = 32


def make_dictionary() -> Dictionary:
    d = Dictionary()
    for sentence in SENTENCES.values():
        for ch in sentence:
            d.add_symbol(ch)
    for k in range(N_UNITS):
        d.add_symbol(unit_symbol(k))
    for code in SENTENCES:
        d.add_symbol(lang_symbol(code))
    d.add_symbol(MASK)
    return d


D = make_dictionary()


def text_ids(code: str, n: Optional[int] = None) -> List[int]:
    ids = [D.index(ch) for ch in SENTENCES[code]]
    return ids[:n] if n is not None else ids


def lang(code: str) -> int:
    return D.index(lang_symbol(code))


def unit_ids(n: int, offset: int = 0) -> List[int]:
    return [D.index(unit_symbol((offset + 3 * i) % N_UNITS)) for i in range(n)]


@pytest.fixture(scope="module")
def speech(fillets_root) -> torch.Tensor:
    """Utterance-normalised log-Mel features of a real Dutch clip."""
    feats = torch.from_numpy(
        fbank(load_waveform(fillets_root / "sound/airplane/nl/let-m-divna.ogg"))
    )
    return (feats - feats.mean(0)) / feats.std(0).clamp(min=1e-3)


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_for_dictionary("mu2slam_tiny", D).eval()


def collate(
    items: List[Dict],
    extra_frames: int = 0,
    extra_tokens: int = 0,
    extra_target: int = 0,
    garbage: bool = False,
    per_token_lang: bool = False,
) -> Dict[str, torch.Tensor]:
    """A batch in the model's input convention (net_input plus prev_output_tokens/target)."""
    bsz = len(items)
    frames = [0 if it.get("speech") is None else len(it["speech"]) for it in items]
    n_text = [len(it.get("text", [])) for it in items]
    batch: Dict[str, torch.Tensor] = {}
    if max(frames) > 0:
        total = max(frames) + extra_frames
        src = torch.randn(bsz, total, 80) * 5 if garbage else torch.zeros(bsz, total, 80)
        mask = torch.zeros(bsz, grid_length(total), dtype=torch.bool)
        for i, it in enumerate(items):
            if frames[i]:
                src[i, : frames[i]] = it["speech"]
            for step in it.get("mask", []):
                mask[i, step] = True
        batch.update(src_speech=src, src_speech_lengths=torch.tensor(frames), speech_mask=mask)
    tokens = torch.full((bsz, max(n_text) + extra_tokens if max(n_text) else 0), D.pad())
    for i, it in enumerate(items):
        tokens[i, : n_text[i]] = torch.tensor(it.get("text", []), dtype=torch.long)
    batch.update(src_tokens=tokens, src_lengths=torch.tensor(n_text))
    batch["speech_lang"] = torch.tensor([lang(it.get("speech_lang", "nl")) for it in items])
    if per_token_lang:
        tl = torch.full(tokens.shape, D.pad())
        for i, it in enumerate(items):
            tl[i, : n_text[i]] = torch.tensor([lang(c) for c in it["token_langs"]])
        batch["text_lang"] = tl
    else:
        batch["text_lang"] = torch.tensor([lang(it.get("text_lang", "nl")) for it in items])
    batch["tgt_lang"] = torch.tensor([lang(it["tgt_lang"]) for it in items])
    batch["tgt_modality"] = torch.tensor([it["tgt_modality"] for it in items])
    n_tgt = [len(it["target"]) + 1 for it in items]
    prev = torch.full((bsz, max(n_tgt) + extra_target), D.pad())
    for i, it in enumerate(items):
        prev[i, : n_tgt[i]] = torch.tensor([D.eos()] + it["target"])
    batch["prev_output_tokens"] = prev
    return batch


def run(model, batch: Dict[str, torch.Tensor], dtype=torch.float64):
    batch = {k: (v.to(dtype) if v.is_floating_point() else v) for k, v in batch.items()}
    prev = batch.pop("prev_output_tokens")
    with torch.no_grad():
        logits, extra = model(prev_output_tokens=prev, **batch)
        lprobs = model.get_normalized_probs((logits, extra), log_probs=True)
    return extra["encoder_out"], lprobs


def mixed_items(speech: torch.Tensor) -> List[Dict]:
    """Speech-only, text-only, speech+text and text+text items of mixed lengths."""
    return [
        dict(speech=speech[:37], tgt_lang="nl", tgt_modality=1, target=text_ids("nl", 9)),
        dict(
            text=text_ids("en", 6),
            text_lang="en",
            tgt_lang="cs",
            tgt_modality=1,
            target=text_ids("cs"),
        ),
        dict(
            speech=speech[40:93],
            text=text_ids("nl", 7),
            mask=[1, 4, 5],
            tgt_lang="nl",
            tgt_modality=0,
            target=unit_ids(14),
        ),
        dict(
            text=text_ids("en", 10) + text_ids("nl", 8),
            text_lang="en",
            tgt_lang="en",
            tgt_modality=0,
            target=unit_ids(5, 1),
        ),
        dict(
            speech=speech[:71], tgt_lang="en", tgt_modality=0, target=unit_ids(18, 2), mask=[0, 17]
        ),
    ]


def assert_item_matches(enc_b, lp_b, i: int, enc_1, lp_1, n_target: int) -> None:
    out_b, pad_b = enc_b["encoder_out"][0], enc_b["encoder_padding_mask"][0]
    out_1, pad_1 = enc_1["encoder_out"][0], enc_1["encoder_padding_mask"][0]
    n = int((~pad_1[0]).sum())
    assert out_1.size(0) == n and int((~pad_b[i]).sum()) == n and not pad_b[i, :n].any()
    assert int(enc_b["speech_steps"][0][i]) == int(enc_1["speech_steps"][0][0])
    torch.testing.assert_close(out_b[:n, i], out_1[:, 0], rtol=0, atol=ATOL)
    torch.testing.assert_close(lp_b[i, :n_target], lp_1[0, :n_target], rtol=0, atol=ATOL)


# ---------------------------------------------------------------- interface


def test_registered_names_and_config():
    from fairseq.models import ARCH_MODEL_REGISTRY, MODEL_REGISTRY

    assert "mu2slam" in MODEL_REGISTRY
    for arch in ["mu2slam_tiny", "mu2slam_small", "mu2slam_base"]:
        assert ARCH_MODEL_REGISTRY[arch] is MODEL_REGISTRY["mu2slam"]
    cfg = OmegaConf.structured(Mu2SlamConfig())
    assert OmegaConf.to_container(cfg, resolve=True)["embed_dim"] == 1024


def test_shapes_and_lengths(model, speech):
    items = mixed_items(speech)
    batch = collate(items)
    enc, lprobs = run(model.float(), batch, torch.float32)
    steps = [grid_length(len(it["speech"])) if it.get("speech") is not None else 0 for it in items]
    totals = [s + len(it.get("text", [])) for s, it in zip(steps, items)]
    out, pad = enc["encoder_out"][0], enc["encoder_padding_mask"][0]
    assert out.shape == (max(totals), len(items), 192) and pad.shape == (len(items), max(totals))
    assert (~pad).sum(1).tolist() == totals
    assert enc["speech_steps"][0].tolist() == steps
    assert enc["tgt_lang"][0].tolist() == batch["tgt_lang"].tolist()
    assert enc["tgt_modality"][0].tolist() == batch["tgt_modality"].tolist()
    for key in ["encoder_embedding", "encoder_states", "src_tokens", "src_lengths"]:
        assert enc[key] == []
    assert lprobs.shape == (*batch["prev_output_tokens"].shape, len(D))
    assert model.mlm_logits(enc).shape == (len(items), max(totals), len(D))
    masked = ~pad & (torch.rand(pad.shape) < 0.5)
    torch.testing.assert_close(model.mlm_logits(enc, masked), model.mlm_logits(enc)[masked])
    assert model.ctc_logits(enc).shape == (max(totals), len(items), len(D))
    assert model.ctc_blank == D.bos()


def test_speech_only_and_text_only_batches(model, speech):
    speech_items = [
        dict(speech=speech[:30], tgt_lang="nl", tgt_modality=1, target=text_ids("nl", 4))
    ]
    batch = collate(speech_items)
    assert batch["src_tokens"].shape == (1, 0)
    enc, _ = run(model.float(), batch, torch.float32)
    assert enc["encoder_out"][0].shape[0] == grid_length(30)
    text_items = [
        dict(text=text_ids("cs", 5), text_lang="cs", tgt_lang="cs", tgt_modality=1, target=[5])
    ]
    batch = collate(text_items)
    assert "src_speech" not in batch
    enc, _ = run(model, batch, torch.float32)
    assert enc["encoder_out"][0].shape[0] == 5 and enc["speech_steps"][0].tolist() == [0]


def test_tied_and_untied_heads():
    torch.manual_seed(0)
    tied = build_for_dictionary("mu2slam_tiny", D)
    emb = tied.encoder.embed_tokens.weight
    assert tied.decoder.embed_tokens.weight is emb
    assert tied.decoder.output_projection.weight is emb
    assert tied.mlm_head.weight is emb and tied.ctc_proj.weight is emb
    assert tied.encoder.input_embeddings is tied.decoder.input_embeddings
    untied = build_for_dictionary(
        "mu2slam_tiny",
        D,
        no_share_encoder_decoder_embed=True,
        no_share_decoder_input_output_embed=True,
        no_share_mlm_head_embed=True,
        no_share_ctc_head_embed=True,
    )
    weights = [
        untied.encoder.embed_tokens.weight,
        untied.decoder.embed_tokens.weight,
        untied.decoder.output_projection.weight,
        untied.mlm_head.weight,
        untied.ctc_proj.weight,
    ]
    assert len({id(w) for w in weights}) == 5
    n_tied = sum(p.numel() for p in tied.parameters())
    assert sum(p.numel() for p in untied.parameters()) == n_tied + 4 * len(D) * 192


def test_unknown_language_index_is_an_error(model, speech):
    batch = collate([dict(text=text_ids("nl", 3), tgt_lang="nl", tgt_modality=1, target=[5])])
    batch["text_lang"] = torch.tensor([D.index("w")])
    with pytest.raises(ValueError, match="language-tag"):
        run(model, batch, torch.float32)


# ------------------------------------------------------- padding invariance


def test_group_norm_without_padding_is_torch_group_norm():
    x = torch.randn(3, 8, 11, dtype=torch.float64)
    for groups in (1, 4):
        gn = torch.nn.GroupNorm(groups, 8).double()
        torch.nn.init.normal_(gn.weight)
        torch.nn.init.normal_(gn.bias)
        no_pad = torch.zeros(3, 11, dtype=torch.bool)
        torch.testing.assert_close(masked_group_norm(x, gn, no_pad), gn(x), rtol=0, atol=1e-10)


def test_frontend_steps_follow_the_grid(model):
    fe = model.encoder.frontend.float()
    for n in [1, 2, 3, 4, 5, 8, 9, 37]:
        feats = torch.randn(1, n, 80)
        with torch.no_grad():
            out, steps = fe(feats, torch.tensor([n]))
        assert out.size(1) == grid_length(n) == int(steps[0])


def test_padding_invariance(model, speech):
    """Each item of a padded mixed batch gets the same outputs as when run alone."""
    model = model.double()
    items = mixed_items(speech)
    enc_b, lp_b = run(model, collate(items))
    for i, item in enumerate(items):
        enc_1, lp_1 = run(model, collate([item]))
        assert_item_matches(enc_b, lp_b, i, enc_1, lp_1, len(item["target"]) + 1)


def test_changing_only_padding_changes_nothing(model, speech):
    model = model.double()
    items = mixed_items(speech)
    enc_a, lp_a = run(model, collate(items))
    enc_b, lp_b = run(
        model, collate(items, extra_frames=23, extra_tokens=4, extra_target=3, garbage=True)
    )
    for i, item in enumerate(items):
        n = int((~enc_a["encoder_padding_mask"][0][i]).sum())
        torch.testing.assert_close(
            enc_a["encoder_out"][0][:n, i], enc_b["encoder_out"][0][:n, i], rtol=0, atol=ATOL
        )
        m = len(item["target"]) + 1
        torch.testing.assert_close(lp_a[i, :m], lp_b[i, :m], rtol=0, atol=ATOL)


def test_per_token_text_languages(model, speech):
    """text_lang may be (B, L): one tag per token, e.g. for a text+text pair of two languages."""
    model = model.double()
    a, b = text_ids("en", 6), text_ids("nl", 5)
    item = dict(
        speech=speech[:20], text=a + b, text_lang="en", tgt_lang="nl", tgt_modality=1, target=b
    )
    same = dict(item, token_langs=["en"] * 11)
    enc_1, lp_1 = run(model, collate([item]))
    enc_2, lp_2 = run(
        model, collate([same, dict(same, text=a, token_langs=["en"] * 6)], per_token_lang=True)
    )
    torch.testing.assert_close(
        enc_1["encoder_out"][0][:, 0], enc_2["encoder_out"][0][:, 0], rtol=0, atol=ATOL
    )
    mixed = dict(item, token_langs=["en"] * 6 + ["nl"] * 5)
    enc_3, _ = run(model, collate([mixed], per_token_lang=True))
    assert (enc_3["encoder_out"][0] - enc_1["encoder_out"][0]).abs().max() > 1e-3


def test_encoder_selects_rows_and_cuts_steps(model, speech):
    """select_rows: rows of a shared encoder pass, as a criterion reads one view of it."""
    a, b = text_ids("en", 6), text_ids("nl", 5)
    items = [
        dict(speech=speech[:40], text=a, text_lang="en", tgt_lang="nl", tgt_modality=1, target=b),
        dict(speech=speech[:20], text=b, text_lang="nl", tgt_lang="en", tgt_modality=1, target=a),
    ]
    enc, _ = run(model.double(), collate(items))
    assert model.encoder.select_rows(enc, torch.arange(2)) is enc
    one = model.encoder.select_rows(enc, torch.tensor([1]), steps=7)
    assert torch.equal(one["encoder_out"][0], enc["encoder_out"][0][:7, 1:2])
    assert torch.equal(one["encoder_padding_mask"][0], enc["encoder_padding_mask"][0][1:2, :7])
    assert torch.equal(one["speech_steps"][0], enc["speech_steps"][0][1:2])


def test_speech_mask_replaces_the_front_end_output(model, speech):
    model = model.double()
    steps = grid_length(40)
    a = dict(speech=speech[:40], mask=list(range(steps)), tgt_lang="nl", tgt_modality=1, target=[5])
    b = dict(a, speech=speech[50:90])
    enc_a, _ = run(model, collate([a]))
    enc_b, _ = run(model, collate([b]))
    torch.testing.assert_close(enc_a["encoder_out"][0], enc_b["encoder_out"][0], rtol=0, atol=1e-12)
    enc_c, _ = run(model, collate([dict(b, mask=[])]))
    assert (enc_c["encoder_out"][0] - enc_b["encoder_out"][0]).abs().max() > 1e-3


# ---------------------------------------------------------------- decoding


def test_target_language_changes_the_decoder_distribution(model, speech):
    model = model.double()
    item = dict(speech=speech[:60], tgt_lang="en", tgt_modality=1, target=text_ids("en", 8))
    enc, lp_en = run(model, collate([item]))
    _, lp_cs = run(model, collate([dict(item, tgt_lang="cs")]))
    assert (lp_en - lp_cs).abs().max() > 1e-3
    # the decoder's own tgt_lang argument overrides the one in encoder_out
    prev = collate([item])["prev_output_tokens"]
    with torch.no_grad():
        over = model.decoder(prev, encoder_out=enc, tgt_lang=torch.tensor([lang("cs")]))
    lp_over = model.get_normalized_probs(over, log_probs=True)
    torch.testing.assert_close(lp_over, lp_cs, rtol=0, atol=ATOL)
    _, lp_units = run(model, collate([dict(item, tgt_modality=0)]))
    assert (lp_en - lp_units).abs().max() > 1e-3


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_incremental_decoding_matches_full_decoding(model, speech, dtype):
    """Step-by-step decoding with beam-search reordering gives the full-sequence log-probs."""
    model = model.to(dtype)
    items = mixed_items(speech)[:3]
    for it in items:
        it["target"] = (it["target"] * 3)[:9]
    batch = collate(items)
    batch = {k: v.to(dtype) if v.is_floating_point() else v for k, v in batch.items()}
    prev = batch.pop("prev_output_tokens")
    beam = 2
    prev = prev.repeat_interleave(beam, 0)
    prev[1::beam, 1:] = prev[1::beam, 1:].roll(1, dims=1)  # a second, different hypothesis
    with torch.no_grad():
        enc = model.encoder(**batch)
        enc = model.encoder.reorder_encoder_out(enc, torch.arange(3).repeat_interleave(beam))
        full = model.get_normalized_probs(model.decoder(prev, encoder_out=enc), log_probs=True)
        state: Dict = {}
        steps: List[torch.Tensor] = []
        for t in range(prev.size(1)):
            if t in (3, 6):  # beam search reorders hypotheses within each sentence
                order = torch.tensor([1, 1, 2, 3, 5, 4] if t == 3 else [0, 0, 3, 2, 4, 4])
                enc = model.encoder.reorder_encoder_out(enc, order)
                model.decoder.reorder_incremental_state_scripting(state, order)
                prev, full = prev[order], full[order]
                steps = [s[order] for s in steps]
            out = model.decoder(prev[:, : t + 1], encoder_out=enc, incremental_state=state)
            steps.append(model.get_normalized_probs(out, log_probs=True)[:, -1])
    torch.testing.assert_close(torch.stack(steps, 1), full, rtol=0, atol=ATOL)


def test_sequence_generator_needs_no_prefix(model, speech):
    from fairseq.sequence_generator import SequenceGenerator

    model = model.float()
    items = mixed_items(speech)[:3]
    batch = collate(items)
    net_input = {k: v for k, v in batch.items() if k != "prev_output_tokens"}
    sample = {"id": torch.arange(3), "net_input": net_input}
    gen = SequenceGenerator([model], D, beam_size=3, max_len_b=7)
    with torch.no_grad():
        hypos = gen.generate([model], sample)
    assert len(hypos) == 3
    for h in hypos:
        assert len(h) == 3 and h[0]["tokens"][-1] == D.eos() and len(h[0]["tokens"]) <= 8


# ------------------------------------------------------- precision, configs


def test_bf16_autocast_forward_backward(speech):
    torch.manual_seed(0)
    model = build_for_dictionary("mu2slam_tiny", D).train()
    batch = collate(mixed_items(speech))
    prev = batch.pop("prev_output_tokens")
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits, extra = model(prev_output_tokens=prev, **batch)
        enc = extra["encoder_out"]
        lprobs = model.get_normalized_probs((logits, extra), log_probs=True)
        dec_loss = -lprobs[..., D.index("w")].mean()
        mlm = model.mlm_logits(enc, ~enc["encoder_padding_mask"][0]).float().log_softmax(-1)
        ctc = model.ctc_logits(enc).float().log_softmax(-1)
        lengths = (~enc["encoder_padding_mask"][0]).sum(1)
        targets = torch.tensor([text_ids("nl", 3)] * len(lengths))
        ctc_loss = torch.nn.functional.ctc_loss(
            ctc,
            targets,
            lengths,
            torch.full_like(lengths, 3),
            blank=model.ctc_blank,
            zero_infinity=True,
        )
        loss = dec_loss - mlm[:, D.index("a")].mean() + ctc_loss
    assert logits.dtype == torch.bfloat16 and torch.isfinite(loss)
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


def test_half_model_forward_backward(speech):
    """fairseq's ``--fp16`` halves the model and every float input (FP16Optimizer): the
    forward pass must keep to fp16 throughout (no fp32 tensor of ours meets an fp16
    weight), and the heads' losses, taken in fp32, stay finite. Run on CPU, which has fp16
    kernels for every operation involved."""
    torch.manual_seed(0)
    model = build_for_dictionary("mu2slam_tiny", D).train().half()
    batch = {
        k: v.half() if v.is_floating_point() else v for k, v in collate(mixed_items(speech)).items()
    }
    prev = batch.pop("prev_output_tokens")
    logits, extra = model(prev_output_tokens=prev, **batch)
    enc = extra["encoder_out"]
    assert logits.dtype == enc["encoder_out"][0].dtype == torch.float16
    lprobs = model.get_normalized_probs((logits, extra), log_probs=True)
    ctc = model.ctc_logits(enc).float().log_softmax(-1)
    lengths = enc["speech_steps"][0]
    targets = torch.tensor([text_ids("nl", 3)] * len(lengths))
    ctc_loss = torch.nn.functional.ctc_loss(
        ctc,
        targets,
        lengths,
        torch.full_like(lengths, 3),
        blank=model.ctc_blank,
        zero_infinity=True,
    )
    loss = -lprobs[..., D.index("w")].float().mean() + ctc_loss
    assert torch.isfinite(loss)
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_activation_checkpointing_gives_the_same_gradients(speech):
    grads = []
    for checkpointing in (False, True):
        torch.manual_seed(0)
        model = (
            build_for_dictionary("mu2slam_tiny", D, checkpoint_activations=checkpointing)
            .double()
            .eval()
        )
        batch = collate(mixed_items(speech))
        batch = {k: v.double() if v.is_floating_point() else v for k, v in batch.items()}
        logits, extra = model(**batch)
        (
            logits.logsumexp(-1).sum() + model.mlm_logits(extra["encoder_out"]).logsumexp(-1).sum()
        ).backward()
        grads.append({n: p.grad for n, p in model.named_parameters()})
    assert grads[0].keys() == grads[1].keys()
    for name in grads[0]:
        torch.testing.assert_close(grads[0][name], grads[1][name], rtol=0, atol=1e-9, msg=name)


def test_command_line_architecture_and_checkpoint_round_trip(tmp_path, speech):
    """--arch through fairseq's parser and OmegaConf; a weights-only checkpoint restores the model."""
    from fairseq import options
    from fairseq.dataclass.utils import convert_namespace_to_omegaconf
    from fairseq.models import build_model

    parser = options.get_training_parser()
    args = options.parse_args_and_arch(
        parser,
        [str(tmp_path), "--task", "translation", "--arch", "mu2slam_tiny", "--encoder-layers", "3"],
    )
    cfg = convert_namespace_to_omegaconf(args)
    assert cfg.model._name == "mu2slam_tiny"
    assert (
        cfg.model.embed_dim == 192
        and cfg.model.encoder_layers == 3
        and cfg.model.decoder_layers == 2
    )
    task = type("Task", (), {"source_dictionary": D, "target_dictionary": D})()
    torch.manual_seed(0)
    model = build_model(cfg.model, task).eval()
    assert len(model.encoder.layers) == 3
    model_cfg = OmegaConf.to_container(cfg.model, resolve=True, enum_to_str=True)
    assert not any(isinstance(v, str) and v.startswith("/") for v in model_cfg.values())
    path = tmp_path / "checkpoint.pt"
    torch.save({"cfg": {"model": model_cfg}, "model": model.state_dict()}, path)
    state = torch.load(path, weights_only=True)
    restored = build_model(OmegaConf.create(state["cfg"]["model"]), task).eval()
    restored.load_state_dict(
        state["model"], strict=True, model_cfg=OmegaConf.create(state["cfg"]["model"])
    )
    batch = collate(mixed_items(speech)[:3])
    _, lp_a = run(model, batch, torch.float32)
    _, lp_b = run(restored, batch, torch.float32)
    torch.testing.assert_close(lp_a, lp_b, rtol=0, atol=0)


def test_describe_parameter_counts():
    from mu2slam_fairseq.models.describe import main, summary, synthetic_dictionary

    with torch.device("meta"):
        char = summary(build_for_dictionary("mu2slam_base", synthetic_dictionary(4096, 1024, 101)))
        spm = summary(build_for_dictionary("mu2slam_base", synthetic_dictionary(64000, 1024, 101)))
    assert 0.57e9 <= char["encoder (front end + Conformer)"] <= 0.63e9
    assert 0.57e9 <= char["encoder incl. its input embeddings"] <= 0.63e9
    assert 0.665e9 <= char["total"] <= 0.735e9
    assert 55e6 <= spm["total"] - char["total"] <= 70e6
    out = io.StringIO()
    with redirect_stdout(out):
        main(["mu2slam_tiny", "--vocab-size", "100"])
    assert "total" in out.getvalue() and "encoder Conformer stack" in out.getvalue()
