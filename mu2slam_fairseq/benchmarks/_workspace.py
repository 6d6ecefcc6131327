"""A small workspace of real utterances of the default corpus: manifests, vocabulary,
speech tokenizer and data configs, as every benchmark trains on."""

import argparse
import contextlib
import os
import tempfile
import time
from pathlib import Path
from typing import Dict, Iterator, List, Optional

import numpy as np
import yaml

QUICK_SIZES = dict(n_speech=16, n_text=60, max_frames=300)  # --quick: a few short utterances
CORPUS_ENV = "MU2SLAM_TEST_CORPUS"
# the default corpus's manifests the workspace draws from
SOURCE_MANIFESTS = {
    "speech": "train_st_nl_en.tsv",
    "asr": "train_asr_nl.tsv",
    "ast": "train_st_nl_en.tsv",
    "text": "train_text.tsv",
    "mt": "train_mt.tsv",
}


def default_corpus() -> Path:
    """The default corpus (``mu2slam-prep-default-corpus``) in the cache the tests share."""
    if os.environ.get(CORPUS_ENV):
        return Path(os.environ[CORPUS_ENV])
    from mu2slam_manifests.debian import DEFAULT_CACHE

    return DEFAULT_CACHE.parent / "test-corpus"


def find_corpus(path: Optional[Path]) -> Path:
    path = Path(path) if path is not None else default_corpus()
    missing = [m for m in sorted(set(SOURCE_MANIFESTS.values())) if not (path / m).is_file()]
    if missing:
        raise SystemExit(
            f"{path}: not a default corpus (no {', '.join(missing)}); "
            f"build one with: mu2slam-prep-default-corpus --out {path}"
        )
    return path


def _pick(rows: List[Dict[str, str]], n: int, rng: np.random.Generator) -> List[Dict[str, str]]:
    keep = rng.permutation(len(rows))[:n]
    return [rows[i] for i in sorted(keep)]


def build_workspace(
    corpus: Path,
    out: Path,
    n_speech: int = 48,
    n_text: int = 400,
    max_frames: int = 1000,
    units: int = 1024,
    seed: int = 1,
    max_text_chars: Optional[int] = None,
) -> Path:
    """Manifests of real rows of the default corpus, a char vocabulary, a speech tokenizer
    and the data configs, in ``out``.

    The speech, ASR and AST corpora hold the same nl utterances (so every model sees the
    same audio); units are precomputed into the manifests, as a real run would do once.
    Returns ``out``. Takes a few seconds.
    """
    from ..data.io.manifest import read_manifest, write_manifest
    from ..data.io.s2t_config import write_s2t_config
    from ..data.io.vocab import build_vocab
    from ..speech_tokenizer import apply_to_manifest, fit_tokenizer

    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    zip_link = out / "fbank80.zip"
    if not zip_link.exists():
        zip_link.symlink_to((corpus / "fbank80.zip").resolve())
    st = [
        r
        for r in read_manifest(corpus / SOURCE_MANIFESTS["ast"])
        if 0 < int(r["n_frames"]) <= max_frames
    ]
    st = _pick(st, n_speech, rng)
    ids = {r["id"] for r in st}
    asr = [r for r in read_manifest(corpus / SOURCE_MANIFESTS["asr"]) if r["id"] in ids]
    speech = [{k: r[k] for k in ("id", "audio", "n_frames", "src_lang")} for r in st]

    def short(rows):
        return [
            r
            for r in rows
            if max_text_chars is None
            or max(len(r["src_text"]), len(r["tgt_text"])) <= max_text_chars
        ]

    text = _pick(short(read_manifest(corpus / SOURCE_MANIFESTS["text"])), n_text, rng)
    mt = _pick(short(read_manifest(corpus / SOURCE_MANIFESTS["mt"])), n_text, rng)
    for name, rows in (("speech", speech), ("asr", asr), ("ast", st), ("text", text), ("mt", mt)):
        write_manifest(out / f"train_{name}.tsv", rows)
    texts = [out / f"train_{t}.tsv" for t in ("asr", "ast", "text", "mt")]
    build_vocab(
        texts,
        out / "vocab",
        kind="char",
        vocab_size=4000,
        n_units=units,
        budget=4 * n_text,
        seed=seed,
    )
    tokenizer = fit_tokenizer(
        "bestrq", out / "train_speech.tsv", codebook_size=units, seed=seed, progress=False
    )
    tokenizer.save(out / "tokenizer.pt")
    for name in ("speech", "asr", "ast"):  # a copy without units, for the tokenizer on the fly
        write_manifest(out / f"raw_{name}.tsv", read_manifest(out / f"train_{name}.tsv"))
        apply_to_manifest(tokenizer, out / f"train_{name}.tsv", progress=False)
    types = ("speech", "text", "asr", "ast", "mt")
    corpora = [{"name": t, "type": t, "splits": {"train": f"train_{t}.tsv"}} for t in types]
    raw = [
        {
            "name": t,
            "type": t,
            "splits": {"train": f"{'raw' if t in ('speech', 'asr', 'ast') else 'train'}_{t}.tsv"},
        }
        for t in types
    ]
    vocab = {"dict": "vocab/dict.txt", "spm": "vocab/spm.model"}
    batching = {
        "shares": {"speech": 4, "text": 8, "ast": 1, "asr": 1, "mt": 1},
        "sentences_per_share": 1,
    }
    configs = {
        "pretrain.yaml": {
            "vocab": vocab,
            "speech_tokenizer": "tokenizer.pt",
            "batching": batching,
            "corpora": corpora,
        },
        "pretrain_raw.yaml": {
            "vocab": vocab,
            "speech_tokenizer": "tokenizer.pt",
            "batching": batching,
            "corpora": raw,
        },
        "pretrain_single.yaml": {
            "vocab": vocab,
            "speech_tokenizer": "tokenizer.pt",
            "corpora": corpora,
            "batching": {"shares": {t: 1 for t in types}, "sentences_per_share": 1},
        },
        "finetune_ast.yaml": {
            "vocab": vocab,
            "batching": {"shares": {"ast": 1}},
            "corpora": [
                {
                    "name": "ast",
                    "type": "ast",
                    "splits": {"train": "train_ast.tsv", "test": "test_ast.tsv"},
                }
            ],
        },
    }
    write_manifest(out / "test_ast.tsv", st)  # decoding rewrites it with the utterances it decodes
    for name, cfg in configs.items():
        (out / name).write_text(yaml.safe_dump(cfg, sort_keys=False))
    write_s2t_config(out / "s2t.yaml", out / "vocab" / "dict.txt", out / "vocab" / "spm.model", out)
    return out


@contextlib.contextmanager
def workspace(args: argparse.Namespace, **sizes: int) -> Iterator[Path]:
    """A fresh workspace in a temporary folder, removed afterwards (``--quick``: a few short utterances)."""
    if args.quick:
        sizes = QUICK_SIZES
    with tempfile.TemporaryDirectory(prefix="mu2slam-bench-") as tmp:
        t = time.perf_counter()
        ws = build_workspace(args.corpus, Path(tmp), seed=args.seed, **sizes)
        print(
            f"workspace: real utterances of {args.corpus.name}, set up in {time.perf_counter() - t:.1f} s",
            flush=True,
        )
        yield ws
