"""fairseq-generate on our manifests with a fine-tuned checkpoint: the BLEU and WER it
prints equal sacreBLEU and jiwer run independently on its hypothesis and reference lines.

``--prefix-size`` forces the first target symbols, so that even a briefly trained model
produces hypotheses that share words and n-grams with the references and the scores are
not trivially 0 or 100.
"""

import re
import subprocess
import sys
from pathlib import Path
from typing import List, Tuple

import jiwer
import pytest
import sacrebleu
import torch

import finetune_corpus
from finetune_corpus import REPO
from mu2slam_fairseq.data.io.manifest import read_manifest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def finetuned(tmp_path_factory, fillets_root) -> Path:
    return finetune_corpus.finetuned(tmp_path_factory, fillets_root)


def generate(
    data: Path,
    ckpt: Path,
    subset: str,
    scoring: str,
    *extra: str,
    prefix: int = 12,
    cpu: bool = True,
) -> str:
    """``fairseq-generate`` on the fine-tuning corpus; its output. ``cpu`` False: on the
    GPU in fp16."""
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
            "finetune.yaml",
            "--gen-subset",
            subset,
            "--path",
            str(ckpt),
            "--scoring",
            scoring,
            "--beam",
            "2",
            "--max-len-b",
            "40",
            "--batch-size",
            "3",
            *(["--prefix-size", str(prefix)] if prefix else []),
            "--cpu" if cpu else "--fp16",
            *extra,
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def lines(stdout: str) -> Tuple[List[str], List[str]]:
    """(detokenized hypotheses, references) by sample id, from the D- and T- lines."""
    refs = dict(re.findall(r"^T-(\d+)\t(.*)$", stdout, re.M))
    hyps = dict(re.findall(r"^D-(\d+)\t[^\t]*\t(.*)$", stdout, re.M))
    assert refs.keys() == hyps.keys() and len(refs) == 6
    ids = sorted(refs, key=int)
    return [hyps[i] for i in ids], [refs[i] for i in ids]


def test_checkpoint_loads_weights_only(finetuned):
    state = torch.load(finetuned)  # torch's default: weights_only=True
    assert state["cfg"]["task"]["_name"] == "mu2slam_finetune"


def test_generate_sacrebleu_equals_sacrebleu_on_its_lines(finetuned):
    data = finetuned_data()
    stdout = generate(data, finetuned, "test_st_nl_en", "sacrebleu")
    printed = re.search(r"^Generate test_st_nl_en with beam=2: (BLEU = .*)$", stdout, re.M).group(1)
    hyps, refs = lines(stdout)
    assert all(h.strip() for h in hyps) and not any(
        "▁" in h or "<" in h for h in hyps
    )  # detokenized text
    expected = sacrebleu.corpus_bleu(hyps, [refs])
    assert printed == expected.format()
    assert expected.counts[0] > 0  # the prefix guarantees shared words
    assert set(refs) <= {
        r["tgt_text"] for r in read_manifest(data / "test_st_nl_en.tsv")
    }  # the manifest's targets


def test_generate_wer_equals_jiwer_on_its_lines(finetuned):
    stdout = generate(finetuned_data(), finetuned, "test_asr_nl", "wer")
    printed = float(
        re.search(r"^Generate test_asr_nl with beam=2: WER: ([\d.]+)$", stdout, re.M).group(1)
    )
    hyps, refs = lines(stdout)
    expected = 100 * jiwer.wer(refs, hyps)
    assert printed == pytest.approx(round(expected, 2), abs=1e-9)
    assert sum(h == r for h, r in zip(hyps, refs)) < len(refs) and any(
        h.split()[:1] == r.split()[:1] for h, r in zip(hyps, refs)
    )


def finetuned_data() -> Path:
    return finetune_corpus._CACHE["corpus"]


@pytest.mark.parametrize("flags", [["--ctc-greedy"], ["--ctc-decoding-weight", "0.5"]])
def test_generate_asr_with_the_ctc_head(finetuned, flags):
    """CTC best path and joint CTC/attention beam search through fairseq-generate: hypotheses
    for every utterance, and the printed WER is jiwer's on them."""
    stdout = generate(finetuned_data(), finetuned, "test_asr_nl", "wer", *flags, prefix=0)
    printed = float(
        re.search(r"^Generate test_asr_nl with beam=2: WER: ([\d.]+)$", stdout, re.M).group(1)
    )
    hyps, refs = lines(stdout)
    assert printed == pytest.approx(round(100 * jiwer.wer(refs, hyps), 2), abs=1e-9)
    assert not any("▁" in h or "<" in h for h in hyps)


def test_ctc_flags_refuse_each_other(finetuned):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "fairseq_cli.generate",
            str(finetuned_data()),
            "--user-dir",
            "mu2slam_fairseq",
            "--task",
            "mu2slam_finetune",
            "--data-config",
            "finetune.yaml",
            "--gen-subset",
            "test_asr_nl",
            "--path",
            str(finetuned),
            "--ctc-greedy",
            "--ctc-decoding-weight",
            "0.3",
            "--cpu",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode != 0 and "drop --ctc-decoding-weight, or --ctc-greedy" in out.stderr
    with pytest.raises(AssertionError, match="--prefix-size forces decoder tokens"):
        generate(finetuned_data(), finetuned, "test_asr_nl", "wer", "--ctc-greedy")
