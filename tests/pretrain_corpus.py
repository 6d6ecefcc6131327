"""A small real corpus with every pre-training data type, its vocabulary, tokenizer and data config.

Dutch Fish Fillets recordings serve as unlabeled speech, nl ASR and nl->en AST; dialogue
lines in other languages as text and MT. Built with the package's own commands' code
(vocabulary, speech tokenizer), so the tests exercise what users run.
"""

from pathlib import Path

import yaml

from mu2slam_fairseq.data.io.manifest import read_manifest, write_manifest
from mu2slam_fairseq.data.io.vocab import build_vocab
from mu2slam_fairseq.speech_tokenizer import fit_tokenizer
from pretrain_data import pairs
from real_clips import st_manifest

N_UNITS = 32


def build(base: Path, fillets_root: Path, n_speech: int = 12) -> Path:
    """Writes manifests, vocab/, tokenizer.pt and data.yaml under ``base``; returns data.yaml."""
    st = read_manifest(st_manifest(fillets_root, base, level="alibaba", limit=n_speech))
    speech_cols = ("id", "audio", "n_frames", "src_lang")
    write_manifest(base / "train_speech.tsv", [{k: r[k] for k in speech_cols} for r in st])
    write_manifest(
        base / "train_asr_nl.tsv", [{**r, "tgt_text": r["src_text"], "tgt_lang": "nl"} for r in st]
    )
    write_manifest(base / "train_st_nl_en.tsv", st)
    write_manifest(base / "valid_st_nl_en.tsv", st[:4])
    text, mt = [], []
    for lang in ("de", "fr"):
        lines = pairs(fillets_root, lang)
        text += [
            {"id": f"{lang}{i}", "src_text": tr, "src_lang": lang}
            for i, (_, tr) in enumerate(lines[:40])
        ]
        mt += [
            {"id": f"{lang}{i}", "src_text": tr, "tgt_text": en, "src_lang": lang, "tgt_lang": "en"}
            for i, (en, tr) in enumerate(lines[40:70])
        ]
    write_manifest(base / "train_text.tsv", text)
    write_manifest(base / "train_mt.tsv", mt)
    manifests = [
        base / f
        for f in ("train_asr_nl.tsv", "train_st_nl_en.tsv", "train_text.tsv", "train_mt.tsv")
    ]
    build_vocab(manifests, base / "vocab", kind="char", vocab_size=300, n_units=N_UNITS)
    fit_tokenizer(
        "kmeans", base / "train_speech.tsv", codebook_size=N_UNITS, iterations=5, progress=False
    ).save(base / "tokenizer.pt")
    config = {
        "vocab": {"dict": "vocab/dict.txt", "spm": "vocab/spm.model"},
        "speech_tokenizer": "tokenizer.pt",
        "batching": {
            "shares": {"speech": 2, "text": 4, "asr": 1, "ast": 1, "mt": 1},
            "sentences_per_share": 1,
        },
        "corpora": [
            {"name": "speech", "type": "speech", "splits": {"train": "train_speech.tsv"}},
            {"name": "text", "type": "text", "splits": {"train": "train_text.tsv"}},
            {"name": "asr_nl", "type": "asr", "splits": {"train": "train_asr_nl.tsv"}},
            {
                "name": "st_nl_en",
                "type": "ast",
                "splits": {"train": "train_st_nl_en.tsv", "valid": "valid_st_nl_en.tsv"},
            },
            {"name": "mt", "type": "mt", "splits": {"train": "train_mt.tsv"}},
        ],
    }
    (base / "data.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return base / "data.yaml"
