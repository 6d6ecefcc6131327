"""The mu2slam_finetune task and mu2slam_seq2seq criterion on the small real corpus: forward
views without masks, SpecAugment on training batches only, synonym noise on decoder
inputs, validation BLEU/WER, vocabulary and architecture checks, fine-tuning a
pre-trained checkpoint through fairseq-train."""

import itertools
import math
import re
from argparse import Namespace
from pathlib import Path

import jiwer
import numpy as np
import pytest
import sacrebleu
import torch
import torch.nn.functional as F
import yaml
from fairseq import options, tasks
from fairseq.data import Dictionary
from fairseq.logging import metrics

import mu2slam_fairseq  # noqa: F401  (registers the task, model and criterion)
from mu2slam_fairseq.data.io.features import load_features
from mu2slam_fairseq.data.io.manifest import read_manifest
from mu2slam_fairseq.symbols import MASK, is_special, lang_symbol
from mu2slam_fairseq.data.pipeline.views import fairseq_sample
from mu2slam_fairseq.tasks.compat import CheckpointMismatchError
import finetune_corpus
from finetune_corpus import FINETUNE_ARGS, FINETUNE_CONFIG, REPO, train


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, fillets_root) -> Path:
    return finetune_corpus.corpus(tmp_path_factory, fillets_root)


def setup(data: Path, *extra: str, config: str = "finetune.yaml"):
    args = options.parse_args_and_arch(
        options.get_training_parser(),
        [
            str(data),
            "--user-dir",
            str(REPO / "mu2slam_fairseq"),
            *FINETUNE_ARGS,
            "--seed",
            "3",
            *extra,
        ],
    )
    args.data_config = config
    return args, tasks.setup_task(args)


def train_batch(task, max_tokens: int = 4000):
    task.load_dataset("train")
    return next(
        task.get_batch_iterator(
            task.datasets["train"], max_tokens=max_tokens, seed=3
        ).next_epoch_itr(shuffle=True)
    )


def write_config(corpus: Path, name: str, **changes) -> str:
    config = {**FINETUNE_CONFIG, **changes}
    (corpus / name).write_text(yaml.safe_dump(config, sort_keys=False))
    return name


def test_batch_size_counts_examples_per_update_by_share(corpus):
    """fairseq's --batch-size is the update's example budget, split AST 4 : ASR 2 : MT 2."""
    args, task = setup(corpus)
    task.load_dataset("train")
    itr = task.get_batch_iterator(
        task.datasets["train"], max_tokens=100000, max_sentences=16, seed=3
    )
    assert {tuple(sorted(b["types"].items())) for b in itr.next_epoch_itr(shuffle=True)} == {
        (("asr", 4), ("ast", 8), ("mt", 4))
    }


def test_training_batches_hold_forward_views_without_masks(corpus):
    args, task = setup(corpus)
    assert task.data_cfg.speech_tokenizer is None  # no units needed: no tokenizer in finetune.yaml
    assert not any(r["units"] for r in read_manifest(corpus / "train_asr_nl.tsv"))
    sample = train_batch(task)
    assert sample["types"] == {"ast": 4, "asr": 2, "mt": 2}  # the paper's multi-task shares
    assert [v["name"] for v in sample["views"]] == ["asr_s2t", "ast_s2t", "mt_fwd"]
    mask = task.dictionary.index(MASK)
    for view in sample["views"]:
        tensors = [view["net_input"]["src_tokens"], view["mlm_target"]] + [
            t for dec in view["decoders"] for t in (dec["prev_output_tokens"], dec["target"])
        ]
        assert all(not (t == mask).any() for t in tensors)
        assert view["n_mlm"] == 0 and (view["mlm_target"] == task.dictionary.pad()).all()
        if view["net_input"]["speech_mask"] is not None:
            assert not view["net_input"]["speech_mask"].any()
    assert sample["views"][0]["ctc"] is not None  # available to --ctc-weight

    model = task.build_model(args)
    criterion = task.build_criterion(args)
    loss, sample_size, log = criterion(model, sample)
    assert sample_size == sample["ntokens"] == log["ntokens"]
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())  # data-parallel safe

    # without smoothing the loss is the summed cross-entropy of each view as a standard fairseq sample
    model.eval()
    plain = task.build_criterion(Namespace(**{**vars(args), "label_smoothing": 0.0}))
    total = 0.0
    for view in sample["views"]:
        s = fairseq_sample(view)
        logits, _ = model(**s["net_input"])
        total += F.cross_entropy(
            logits.flatten(0, 1), s["target"].flatten(), ignore_index=1, reduction="sum"
        ).item()
    assert math.isclose(plain(model, sample)[0].item(), total, rel_tol=1e-4)
    with_ctc = task.build_criterion(
        Namespace(**{**vars(args), "label_smoothing": 0.0, "ctc_weight": 0.5})
    )
    loss, _, log = with_ctc(model, sample)
    assert log["asr_s2t/ctc/n"] > 0 and "ast_s2t/ctc/loss" not in log  # CTC on ASR only
    assert math.isclose(loss.item(), total + 0.5 * log["asr_s2t/ctc/loss"], rel_tol=1e-4)


def test_data_config_for_finetuning_is_checked(corpus):
    bad_views = [{**FINETUNE_CONFIG["corpora"][0], "views": ["ast_s2t", "ast_t2s"]}]
    with pytest.raises(ValueError, match="forward view ast_s2t only"):
        setup(corpus, config=write_config(corpus, "bad_views.yaml", corpora=bad_views))
    speech = [{"name": "speech", "type": "speech", "splits": {"train": "train_speech.tsv"}}]
    with pytest.raises(
        ValueError, match=r"trains on asr, ast, mt, t2t corpora, not on speech \(speech\)"
    ):
        setup(corpus, config=write_config(corpus, "bad_type.yaml", corpora=speech))


def test_gen_subsets_are_single_type_standard_samples(corpus):
    _, task = setup(corpus)
    task.load_dataset("test_st_nl_en")  # a manifest stem
    task.load_dataset("asr_nl:test")  # CORPUS:SPLIT
    task.load_dataset("valid")
    assert not task.is_train_split(task.datasets["test_st_nl_en"])
    for subset, lang in (("test_st_nl_en", "en"), ("asr_nl:test", "nl")):
        batches = list(
            task.get_batch_iterator(task.datasets[subset], max_sentences=2).next_epoch_itr(
                shuffle=False
            )
        )
        assert sum(len(b["id"]) for b in batches) == 6 and all(len(b["id"]) <= 2 for b in batches)
        for b in batches:  # the target language comes from the manifest rows
            assert {task.dictionary[int(i)] for i in b["net_input"]["tgt_lang"]} == {
                lang_symbol(lang)
            }
            assert b["target"].shape == b["net_input"]["prev_output_tokens"].shape
    valid = list(
        task.get_batch_iterator(task.datasets["valid"], max_tokens=4000).next_epoch_itr(
            shuffle=False
        )
    )
    assert all(len(b["types"]) == 1 and "net_input" in b for b in valid)
    order = [k for k, _ in itertools.groupby(t for b in valid for t in b["types"])]
    assert sorted(order) == ["asr", "ast", "mt"]  # one type after the other
    with pytest.raises(ValueError, match="no split or manifest 'nope'; splits: test, train, valid"):
        task.load_dataset("nope")


def test_specaugment_on_training_splits_only(corpus):
    specaugment = {
        "freq_mask_N": 2,
        "freq_mask_F": 20,
        "time_mask_N": 2,
        "time_mask_T": 30,
        "time_mask_p": 1.0,
        "time_wrap_W": 0,
    }  # fairseq prep scripts' spelling of time_warp_W
    _, task = setup(corpus, config=write_config(corpus, "specaug.yaml", specaugment=specaugment))
    (corpus / "s2t_config.yaml").write_text(yaml.safe_dump({"specaugment": specaugment}))
    _, task2 = setup(
        corpus, config=write_config(corpus, "specaug2.yaml", specaugment="s2t_config.yaml")
    )
    expected = {k: v for k, v in specaugment.items() if k != "time_wrap_W"}
    assert task.data_cfg.specaugment == task2.data_cfg.specaugment == {**expected, "time_warp_W": 0}
    for split in ("train", "valid", "test_st_nl_en"):
        task.load_dataset(split)
    rows = {r["id"]: r for r in read_manifest(corpus / "train_st_nl_en.tsv")}

    def speech_of(split: str, index: int):
        ds = task.datasets[split]
        corpus_ds, row = ds.locate(index)
        item = ds[index]
        raw = load_features(rows[corpus_ds.examples[row].id]["audio"], corpus)
        return item["views"][f"{corpus_ds.data_type}_s2t"].source.speech.numpy(), raw

    train = task.datasets["train"]
    index = int(train.offsets[[d.name for d in train.datasets].index("st_nl_en")])
    augmented, raw = speech_of("train", index)
    assert augmented.shape == raw.shape and not np.array_equal(augmented, raw)
    masked_bins = np.all(augmented == augmented[0:1], axis=0) & ~np.all(raw == raw[0:1], axis=0)
    assert masked_bins.sum() >= 1  # frequency bands set to one value
    assert np.array_equal(
        speech_of("train", index)[0], augmented
    )  # reproducible per (seed, epoch, index)
    train.set_epoch(2)
    assert not np.array_equal(speech_of("train", index)[0], augmented)
    for split in ("valid", "test_st_nl_en"):
        clean, raw = speech_of(split, 0)
        assert np.array_equal(clean, raw)
    with pytest.raises(ValueError, match="freq_mask_F must be > 0"):
        setup(corpus, config=write_config(corpus, "specaug3.yaml", specaugment={"freq_mask_N": 1}))


def test_synonym_noise_on_decoder_inputs_of_training_batches(corpus):
    prob, k = 0.1, 3
    args, task = setup(
        corpus,
        "--synonym-noise",
        str(prob),
        "--synonym-noise-k",
        str(k),
        "--synonym-noise-refresh",
        "5",
    )
    sample = train_batch(task)
    model = task.build_model(args)
    d = task.dictionary
    special = torch.tensor([is_special(d, i) for i in range(len(d))])
    originals = [
        (dec["prev_output_tokens"].clone(), dec["target"].clone())
        for v in sample["views"]
        for dec in v["decoders"]
    ]
    weight = model.decoder.embed_tokens.weight.detach()
    sims = F.normalize(weight, dim=-1) @ F.normalize(weight, dim=-1).T
    sims[:, special] = -2
    sims.fill_diagonal_(-2)
    top = sims.topk(k, dim=1).indices
    changed = eligible = 0
    for update in range(40):
        noisy = task.add_synonym_noise(sample, model, update)
        decs = [dec for v in noisy["views"] for dec in v["decoders"]]
        for (prev, target), dec in zip(originals, decs):
            assert torch.equal(dec["target"], target)  # targets never change
            out = dec["prev_output_tokens"]
            diff = out != prev
            assert not diff[special[prev]].any() and not special[out[diff]].any()
            for src, dst in zip(prev[diff].tolist(), out[diff].tolist()):
                assert dst in top[src].tolist()  # one of the k nearest by cosine
            changed += int(diff.sum())
            eligible += int((~special[prev]).sum())
    rate = changed / eligible
    assert abs(rate - prob) < 4 * math.sqrt(prob * (1 - prob) / eligible), rate
    for (prev, target), dec in zip(
        originals, [dec for v in sample["views"] for dec in v["decoders"]]
    ):
        assert torch.equal(dec["prev_output_tokens"], prev)  # the batch itself is left alone

    # the table follows the current embedding matrix, refreshed every 5 updates
    with torch.no_grad():
        model.decoder.embed_tokens.weight.mul_(torch.rand_like(weight))
    task.add_synonym_noise(sample, model, 44)
    assert torch.equal(
        task.synonym_noise.table, task.synonym_noise.neighbours(model.decoder.embed_tokens.weight)
    )

    # noised in train_step only, never in valid_step
    seen = []

    def capture(m, s, reduce=True):
        seen.append(s)
        return sum(p.sum() * 0 for p in m.parameters()), 1, {}

    class Backward:
        def backward(self, loss):
            loss.backward()

    task.train_step(sample, model, capture, Backward(), 3)
    task.valid_step(sample, model, capture)
    trained = torch.cat(
        [dec["prev_output_tokens"].flatten() for v in seen[0]["views"] for dec in v["decoders"]]
    )
    validated = torch.cat(
        [dec["prev_output_tokens"].flatten() for v in seen[1]["views"] for dec in v["decoders"]]
    )
    clean = torch.cat([prev.flatten() for prev, _ in originals])
    assert not torch.equal(trained, clean) and torch.equal(validated, clean)


def test_validation_bleu_wer_and_cer_are_corpus_scores(corpus):
    args, task = setup(
        corpus, "--eval-bleu", "--eval-wer", "--eval-gen-args", '{"beam": 2, "max_len_b": 12}'
    )
    torch.manual_seed(0)
    model = task.build_model(args)
    criterion = task.build_criterion(args)
    task.load_dataset("valid")
    d = task.dictionary
    with torch.no_grad():  # a random model that emits visible text pieces (never eos, never
        weight = model.decoder.output_projection.weight  # a bare word boundary) up to max_len_b
        weight.normal_(0, 1)
        weight[torch.tensor([is_special(d, i) or d[i] == "\u2581" for i in range(len(d))])] = 0.0
    logs, pairs = [], {"ast": [], "mt": [], "asr": []}
    for batch in task.get_batch_iterator(task.datasets["valid"], max_tokens=4000).next_epoch_itr(
        shuffle=False
    ):
        logs.append(task.valid_step(batch, model, criterion)[2])
        view = batch["views"][0]
        pairs[view["type"]].append(task.generate_view(model, view))
    with metrics.aggregate() as agg:
        task.reduce_metrics(logs, criterion)
        values = agg.get_smoothed_values()
    assert task.metric_names == ["bleu", "ast_bleu", "mt_bleu", "wer"]
    # fairseq sums data-parallel logging outputs position by position: one key sequence
    # for batches of any type, training (the criterion's keys) and validation alike
    assert len({tuple(log) for log in logs}) == 1
    assert list(criterion(model, train_batch(task))[2]) == [
        k for k in logs[0] if not k.startswith("_")
    ]

    def joined(*types):
        return [h for t in types for hs, _ in pairs[t] for h in hs], [
            r for t in types for _, rs in pairs[t] for r in rs
        ]

    hyps, refs = joined("ast", "mt")
    assert values["bleu"] == round(sacrebleu.corpus_bleu(hyps, [refs]).score, 2)
    hyps, refs = joined("mt")
    assert values["mt_bleu"] == round(sacrebleu.corpus_bleu(hyps, [refs]).score, 2)
    hyps, refs = joined("asr")
    assert any(h.strip() for h in hyps)
    assert values["wer"] == round(100 * jiwer.wer(refs, hyps), 2)
    assert values["cer"] == round(
        100 * jiwer.cer([r.strip() for r in refs], [h.strip() for h in hyps]), 2
    )


def fake_checkpoint(corpus: Path, path: Path) -> Path:
    """What fairseq-train saves, as far as the checks read it: model config, weights, task state."""
    args = options.parse_args_and_arch(
        options.get_training_parser(),
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
        ],
    )
    task = tasks.setup_task(args)
    model = task.build_model(args)
    model_cfg = {
        k: v for k, v in vars(args).items() if isinstance(v, (int, float, str, bool, type(None)))
    }
    torch.save(
        {
            "cfg": {
                "model": {**model_cfg, "_name": "mu2slam_tiny"},
                "task": {"_name": "mu2slam_pretrain"},
            },
            "model": model.state_dict(),
            "task_state": task.state_dict(),
        },
        path,
    )
    return path


def test_vocabulary_and_architecture_mismatch_are_clear_errors(corpus, tmp_path):
    ckpt = fake_checkpoint(corpus, tmp_path / "pretrained.pt")
    args, task = setup(corpus, "--finetune-from-model", str(ckpt))
    model = task.build_model(args)
    model.load_state_dict(torch.load(ckpt)["model"])  # fits

    args, task = setup(
        corpus,
        "--finetune-from-model",
        str(ckpt),
        "--encoder-layers",
        "3",
        "--decoder-ffn-embed-dim",
        "512",
    )
    with pytest.raises(CheckpointMismatchError) as e:
        task.build_model(args)
    assert "encoder_layers: checkpoint 4, this run 3" in str(e.value)
    assert "decoder_ffn_embed_dim: checkpoint 768, this run 512" in str(e.value)

    d = Dictionary.load(str(corpus / "vocab" / "dict.txt"))
    d.add_symbol(lang_symbol("cs"))
    other = tmp_path / "other"
    other.mkdir()
    d.save(str(other / "dict.txt"))
    vocab = {"dict": str(other / "dict.txt"), "spm": str(corpus / "vocab" / "spm.model")}
    args, task = setup(
        corpus,
        "--finetune-from-model",
        str(ckpt),
        config=write_config(corpus, "other_vocab.yaml", vocab=vocab),
    )
    with pytest.raises(CheckpointMismatchError) as e:
        task.build_model(args)
    n = len(d)
    assert f"the checkpoint's dictionary has {n - 1} symbols, this run's {n}" in str(e.value)
    assert "only in this run: <lang_cs>" in str(e.value)
    with pytest.raises(CheckpointMismatchError, match="only in this run: <lang_cs>"):
        task.load_state_dict(torch.load(ckpt)["task_state"])  # what fairseq-generate calls


# ---------------------------------------------------------------- through fairseq-train


@pytest.mark.slow
def test_fairseq_train_finetunes_a_pretrained_checkpoint(corpus, tmp_path_factory, fillets_root):
    ckpt = finetune_corpus.finetuned(tmp_path_factory, fillets_root)
    log = finetune_corpus.finetune_log()
    pretrained = finetune_corpus.pretrained(tmp_path_factory, fillets_root)
    assert f"loading pretrained model from {pretrained}" in log
    valid = re.search(r"valid on 'valid' subset \|(.*)", log).group(1)
    assert re.search(r"\| bleu [\d.]+", valid) and re.search(r"\| wer [\d.]+", valid)
    assert re.search(r"ast_s2t/dec_loss [\d.]+.*mt_fwd/dec_loss [\d.]+", valid)
    state = torch.load(ckpt)  # torch's default weights-only loading
    assert (
        state["extra_state"]["best"] is not None and state["cfg"]["task"]["synonym_noise"] == 0.06
    )
    before = torch.load(pretrained)["model"]
    assert any(not torch.equal(before[k], v) for k, v in state["model"].items() if k in before)


@pytest.mark.slow
def test_fairseq_train_refuses_another_architecture(
    corpus, tmp_path_factory, fillets_root, tmp_path
):
    pretrained = finetune_corpus.pretrained(tmp_path_factory, fillets_root)
    with pytest.raises(AssertionError) as e:
        train(
            corpus,
            tmp_path,
            *FINETUNE_ARGS,
            "--finetune-from-model",
            str(pretrained),
            "--max-update",
            "1",
            "--encoder-layers",
            "2",
            timeout=300,
        )
    assert "encoder_layers: checkpoint 4, this run 2" in str(e.value)
