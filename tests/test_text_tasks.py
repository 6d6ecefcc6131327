"""Text understanding as text -> text (paper §3.5): XNLI and TyDiQA-GoldP manifests, the t2t
data type, fine-tuning through fairseq-train, fairseq-generate and the scoring script."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from fairseq import options, tasks

import mu2slam_fairseq  # noqa: F401
from mu2slam_fairseq.data.io.manifest import read_manifest
from mu2slam_fairseq.data.io.vocab import build_vocab
from mu2slam_fairseq.scoring import cli as score_cli
from mu2slam_fairseq.scoring.metrics import normalize_answer, qa_f1
from mu2slam_manifests import tydiqa, xnli
from text_task_fixtures import QA, write_tydiqa, write_xnli

REPO = Path(__file__).resolve().parents[1]
UPDATES = 4  # one epoch: one validation and one checkpoint


def prepare(base: Path) -> Path:
    """XNLI and TyDiQA manifests, a character vocabulary over them and both data configs."""
    raw = write_xnli(base / "raw")
    qa = write_tydiqa(base / "raw" / "tydiqa")
    data = base / "data"
    assert (
        xnli.main(
            [
                "--xnli",
                str(raw["xnli"]),
                "--mt",
                str(raw["mt"]),
                "--train-langs",
                "en,de",
                "--langs",
                "en,de,fr",
                "--out",
                str(data),
                "--no-progress",
            ]
        )
        == 0
    )
    assert (
        tydiqa.main(
            [
                "--train",
                str(qa["train"]),
                "--dev",
                str(qa["dev"]),
                "--out",
                str(data),
                "--no-progress",
            ]
        )
        == 0
    )
    manifests = [
        data / f for f in ("train_xnli.tsv", "dev_xnli.tsv", "train_tydiqa.tsv", "dev_tydiqa.tsv")
    ]
    build_vocab(manifests, data / "vocab", kind="char", vocab_size=200, n_units=4)
    vocab = {"dict": "vocab/dict.txt", "spm": "vocab/spm.model"}
    for name, train, valid in (
        ("xnli", "train_xnli.tsv", "dev_xnli.tsv"),
        ("tydiqa", "train_tydiqa.tsv", "dev_tydiqa.tsv"),
    ):
        config = {
            "vocab": vocab,
            "batching": {"max_sentences_per_type": {"t2t": 6}, "updates_per_epoch": UPDATES},
            "corpora": [{"name": name, "type": "t2t", "splits": {"train": train, "valid": valid}}],
        }
        (data / f"{name}.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return data


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return prepare(tmp_path_factory.mktemp("text_tasks"))


def test_xnli_manifests(data):
    train = read_manifest(data / "train_xnli.tsv")
    assert len(train) == 21 and {r["src_lang"] for r in train} == {"en", "de"}
    assert {r["tgt_text"] for r in train} == {
        "entailment",
        "neutral",
        "contradiction",
    }  # contradictory mapped
    dev = read_manifest(data / "dev_xnli.tsv")
    assert [r["src_lang"] for r in dev] == ["en"] * 4 + ["de"] * 3 + ["fr"] * 2  # sw not asked for
    assert (
        dev[3]["src_text"] == 'She said "hello to everyone. </s> She greeted people.'
    )  # no quote handling
    assert (
        dev[3]["tgt_text"] == "entailment"
        and dev[3]["tgt_lang"] == "en"
        and dev[3]["id"] == "en-dev3"
    )
    assert len(read_manifest(data / "test_xnli_fr.tsv")) == 2


def test_tydiqa_manifests_and_context_window(data, tmp_path):
    dev = read_manifest(data / "dev_tydiqa.tsv")
    assert [r["id"] for r in dev] == [q for q, _, _, _ in QA]
    assert [r["src_lang"] for r in dev] == ["en", "en", "fi", "fi"]
    assert dev[1]["src_text"] == f"{QA[1][2]} </s> {QA[1][1]}" and json.loads(
        dev[1]["answers"]
    ) == ["1889", "in 1889"]
    assert [r["tgt_text"] for r in dev] == ["Paris", "1889", "Helsinki", "Suomenlahden rannalla"]
    raw = write_tydiqa(tmp_path / "raw")
    assert (
        tydiqa.main(
            [
                "--train",
                str(raw["train"]),
                "--dev",
                str(raw["dev"]),
                "--max-context-chars",
                "40",
                "--out",
                str(tmp_path / "out"),
                "--no-progress",
                "--no-validate",
            ]
        )
        == 0
    )
    for r in read_manifest(tmp_path / "out" / "train_tydiqa.tsv"):  # the window keeps the answer
        context = r["src_text"].split(" </s> ")[1]
        assert len(context) <= 40 and r["tgt_text"] in context
    heads = [
        r["src_text"].split(" </s> ")[1] for r in read_manifest(tmp_path / "out" / "dev_tydiqa.tsv")
    ]
    assert (
        heads[0] == "The Eiffel Tower stands in Paris. It was"
    )  # evaluation: the first 40 characters


def test_t2t_input_is_segments_joined_by_eos(data):
    args = options.parse_args_and_arch(
        options.get_training_parser(),
        [
            str(data),
            "--user-dir",
            str(REPO / "mu2slam_fairseq"),
            "--task",
            "mu2slam_finetune",
            "--data-config",
            "xnli.yaml",
            "--criterion",
            "mu2slam_seq2seq",
            "--arch",
            "mu2slam_tiny",
        ],
    )
    task = tasks.setup_task(args)
    task.load_dataset("test_xnli_de")  # a manifest stem as the subset
    batch = next(
        task.get_batch_iterator(task.datasets["test_xnli_de"], max_sentences=1).next_epoch_itr(
            shuffle=False
        )
    )
    d = task.dictionary
    src = batch["net_input"]["src_tokens"][0].tolist()
    assert src.count(d.eos()) == 1 and d.unk() not in src
    row = read_manifest(data / "test_xnli_de.tsv")[batch["id"][0]]
    premise, hypothesis = row["src_text"].split(" </s> ")
    cut = src.index(d.eos())
    assert (
        task.bpe.decode_ids(src[:cut]) == premise
        and task.bpe.decode_ids(src[cut + 1 :]) == hypothesis
    )
    assert task.bpe.decode_ids(batch["target"][0].tolist()) == row["tgt_text"]
    assert d[int(batch["net_input"]["tgt_lang"][0])] == "<lang_en>"  # labels are English words


GENERATED = """S-0\tx
T-0\tentailment
H-0\t-0.1\t▁ e n t
D-0\t-0.1\tentailment
D-0\t-0.5\tneutral
T-1\tneutral
D-1\t-0.2\tcontradiction
T-2\tcontradiction
D-2\t-0.3\tcontradiction
T-3\tneutral
D-3\t-0.3\t
2026-01-01 | INFO | fairseq_cli.generate | D-9 in a log line is not a hypothesis
"""


def test_scoring_script_exact(tmp_path, capsys):
    out = tmp_path / "gen.out"
    out.write_text(GENERATED, encoding="utf-8")
    assert score_cli.main(["accuracy", str(out)]) == 0
    assert capsys.readouterr().out.strip() == "accuracy: 50.00 (2/4)"
    qa = tmp_path / "qa.out"
    qa.write_text(
        "T-0\tParis\nD-0\t-1\tthe Paris!\nT-1\t1889\nD-1\t-1\tin 1889 too\nT-2\tSuomenlahden rannalla\n"
        "D-2\t-1\trannalla\n",
        encoding="utf-8",
    )
    assert score_cli.main(["qa", str(qa), "--json"]) == 0
    # 0: "paris" = "paris" (article, punctuation dropped); 1: P 1/3 R 1 -> 0.5; 2: P 1 R 1/2 -> 2/3
    result = json.loads(capsys.readouterr().out)
    assert result["exact_match"] == pytest.approx(100 / 3) and result["f1"] == pytest.approx(
        100 * (1 + 0.5 + 2 / 3) / 3
    )
    manifest = tmp_path / "m.tsv"
    manifest.write_text(
        'id\tsrc_text\ttgt_text\tanswers\nq0\tx\tParis\t["Paris"]\nq1\tx\t1889\t["1889", "in 1889 too"]\n'
        'q2\tx\tSuomenlahden rannalla\t["Suomenlahden rannalla"]\n',
        encoding="utf-8",
    )
    assert score_cli.main(["qa", str(qa), "--manifest", str(manifest), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)  # the second answer of q1 now matches exactly
    assert result["exact_match"] == pytest.approx(200 / 3) and result["f1"] == pytest.approx(
        100 * (1 + 1 + 2 / 3) / 3
    )
    assert (
        normalize_answer("The  Eiffel-Tower, an icon.") == "eiffeltower icon"
        and qa_f1("a b", "") == 0.0
    )


def _generate(data: Path, config: str, subset: str, ckpt: Path, scoring: str) -> str:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "fairseq_cli.generate",
            str(data),
            "--user-dir",
            "mu2slam_fairseq",
            "--task",
            "mu2slam_finetune",
            "--data-config",
            config,
            "--gen-subset",
            subset,
            "--path",
            str(ckpt),
            "--scoring",
            scoring,
            "--beam",
            "2",
            "--max-len-b",
            "12",
            "--batch-size",
            "4",
            "--cpu",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def _finetune(data: Path, config: str, save: Path, metric: str, *extra: str) -> str:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "fairseq_cli.train",
            str(data),
            "--user-dir",
            "mu2slam_fairseq",
            "--cpu",
            "--task",
            "mu2slam_finetune",
            "--data-config",
            config,
            "--criterion",
            "mu2slam_seq2seq",
            "--arch",
            "mu2slam_tiny",
            "--optimizer",
            "adam",
            "--lr",
            "2e-3",
            "--max-update",
            str(UPDATES),
            "--max-tokens",
            "3000",
            "--save-dir",
            str(save),
            "--no-epoch-checkpoints",
            "--log-format",
            "simple",
            "--best-checkpoint-metric",
            metric,
            "--maximize-best-checkpoint-metric",
            "--eval-gen-args",
            '{"beam": 1, "max_len_b": 12}',
            "--seed",
            "1",
            *extra,
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout + out.stderr


@pytest.mark.slow
def test_classification_finetune_generate_and_accuracy(data, tmp_path, capsys):
    log = _finetune(data, "xnli.yaml", tmp_path / "ckpt", "accuracy", "--eval-accuracy")
    assert re.search(r"valid on 'valid' subset \|.* accuracy [\d.]+", log)
    stdout = _generate(
        data, "xnli.yaml", "test_xnli", tmp_path / "ckpt" / "checkpoint_best.pt", "mu2slam_accuracy"
    )
    printed = re.search(
        r"Generate test_xnli with beam=2: (accuracy: [\d.]+ \(\d+/9\))", stdout
    ).group(1)
    gen = tmp_path / "gen.out"
    gen.write_text(stdout, encoding="utf-8")
    assert score_cli.main(["accuracy", str(gen)]) == 0
    assert capsys.readouterr().out.strip() == printed
    pairs = [(m.group(1), m.group(2)) for m in re.finditer(r"^T-(\d+)\t(.*)$", stdout, re.M)]
    hyps = dict(m.groups() for m in re.finditer(r"^D-(\d+)\t[^\t]*\t(.*)$", stdout, re.M))
    correct = sum(hyps[i] == ref for i, ref in pairs)
    assert printed == f"accuracy: {100 * correct / 9:.2f} ({correct}/9)"


@pytest.mark.slow
def test_qa_finetune_generate_and_f1_em(data, tmp_path, capsys):
    _finetune(data, "tydiqa.yaml", tmp_path / "ckpt", "accuracy", "--eval-accuracy")
    stdout = _generate(
        data, "tydiqa.yaml", "dev_tydiqa", tmp_path / "ckpt" / "checkpoint_best.pt", "mu2slam_qa"
    )
    printed = re.search(
        r"Generate dev_tydiqa with beam=2: F1: ([\d.]+) EM: ([\d.]+) \(n=4\)", stdout
    )
    gen = tmp_path / "gen.out"
    gen.write_text(stdout, encoding="utf-8")
    assert score_cli.main(["qa", str(gen), "--json"]) == 0
    scored = json.loads(capsys.readouterr().out)
    assert f"{scored['f1']:.2f}" == printed.group(
        1
    ) and f"{scored['exact_match']:.2f}" == printed.group(2)
    assert (
        score_cli.main(["qa", str(gen), "--manifest", str(data / "dev_tydiqa.tsv"), "--json"]) == 0
    )
    with_answers = json.loads(capsys.readouterr().out)
    assert with_answers["n"] == 4 and with_answers["f1"] >= scored["f1"]
