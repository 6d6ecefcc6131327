"""A small real pre-training corpus for the data-layer tests.

Dutch Fish Fillets recordings (speech, ASR, nl->en AST), dialogue lines in several
languages with skewed counts (text, xx->en MT), a character dictionary with speech units,
language tags and <mask>, and a fixed random-projection quantizer standing in for the
speech tokenizer (the same function writes the ``units`` column and serves on the fly).
"""

import re
from pathlib import Path
from typing import Dict, List

import numpy as np
import torch
from fairseq.data import Dictionary

from mu2slam_fairseq.data.io.manifest import read_manifest, write_manifest
from mu2slam_fairseq.symbols import MASK, lang_symbol, unit_symbol
from mu2slam_fairseq.grid import grid_length
from real_clips import st_manifest

N_UNITS = 16
LANGS = ("cs", "de", "en", "fr", "nl")
TEXT_COUNTS = {"de": 240, "fr": 60, "cs": 15}  # skewed on purpose (16 : 4 : 1)
MT_COUNTS = {"de": 120, "fr": 30, "cs": 10}
_PAIR = re.compile(
    r'dialogId\("([^"]+)",\s*"[^"]*",\s*"((?:[^"\\]|\\.)*)"\)\s*dialogStr\("((?:[^"\\]|\\.)*)"\)'
)


class ToyQuantizer:
    """Nearest of N_UNITS random directions for each 40 ms step of stacked frames."""

    def __init__(self, dims: int = 80, seed: int = 0):
        self.proj = (
            np.random.default_rng(seed).standard_normal((4 * dims, N_UNITS)).astype(np.float32)
        )

    def __call__(self, feats: torch.Tensor) -> torch.Tensor:
        x = np.asarray(feats, dtype=np.float32)
        steps = grid_length(len(x))
        x = np.concatenate([x, np.repeat(x[-1:], 4 * steps - len(x), axis=0)])
        x = x - x.mean(axis=0, keepdims=True)
        return torch.from_numpy((x.reshape(steps, -1) @ self.proj).argmax(axis=1)).long()


class CharEncoder:
    """Characters as text pieces (spaces as '▁'), enough to exercise every text path."""

    def __init__(self, d: Dictionary):
        self.d = d

    def __call__(self, text: str, lang: str) -> List[int]:
        return [self.d.index(c) for c in text.replace(" ", "\u2581")]


def formula(counts: Dict[str, int], T: float) -> Dict[str, float]:
    """Temperature sampling by hand: p_l proportional to (n_l / N)^(1/T)."""
    total = sum(counts.values())
    w = {k: (n / total) ** (1 / T) for k, n in counts.items()}
    return {k: v / sum(w.values()) for k, v in w.items()}


def pairs(fillets_root: Path, lang: str) -> List[tuple]:
    """(English, translation) pairs of ``lang`` over all levels, in level and file order."""
    out = []
    for f in sorted((fillets_root / "script").glob(f"*/dialogs_{lang}.lua")):
        out += [(m.group(2), m.group(3)) for m in _PAIR.finditer(f.read_text(encoding="utf-8"))]
    return [(en, tr) for en, tr in out if tr.strip() and "%" not in tr and "\\" not in tr]


def dictionary_for(texts: List[str]) -> Dictionary:
    d = Dictionary()
    for ch in sorted({c for t in texts for c in t.replace(" ", "\u2581")}):
        d.add_symbol(ch)
    for k in range(N_UNITS):
        d.add_symbol(unit_symbol(k))
    for lang in LANGS:
        d.add_symbol(lang_symbol(lang))
    d.add_symbol(MASK)
    return d


_CACHE: Dict[str, Dict] = {}


def build_corpus(base: Path, fillets_root: Path) -> Dict:
    """Manifests (speech with units, asr without, ast with, text, mt) and the dictionary."""
    if "corpus" in _CACHE:
        return _CACHE["corpus"]
    base.mkdir(parents=True, exist_ok=True)
    st_rows = read_manifest(st_manifest(fillets_root, base, level="alibaba", limit=10))
    quantize = ToyQuantizer()
    from mu2slam_fairseq.data.io.features import load_features

    with_units = []
    for r in st_rows:
        units = quantize(torch.from_numpy(load_features(r["audio"], base)))
        with_units.append({**r, "units": " ".join(map(str, units.tolist()))})
    paths = {}
    paths["speech"] = base / "speech_train.tsv"
    write_manifest(
        paths["speech"],
        [{k: r[k] for k in ("id", "audio", "n_frames", "src_lang", "units")} for r in with_units],
    )
    paths["asr"] = base / "asr_nl_train.tsv"
    write_manifest(
        paths["asr"],
        [{k: r[k] for k in ("id", "audio", "n_frames", "src_text", "src_lang")} for r in st_rows],
    )
    paths["ast"] = base / "st_nl_en_train.tsv"
    write_manifest(paths["ast"], with_units)

    text_rows, mt_rows = [], []
    for lang, n in TEXT_COUNTS.items():
        lines = pairs(fillets_root, lang)
        assert len(lines) >= n + MT_COUNTS[lang], f"only {len(lines)} {lang} lines"
        text_rows += [
            {"id": f"{lang}_{i}", "src_text": tr, "src_lang": lang}
            for i, (_, tr) in enumerate(lines[:n])
        ]
        mt_rows += [
            {
                "id": f"{lang}_en_{i}",
                "src_text": tr,
                "tgt_text": en,
                "src_lang": lang,
                "tgt_lang": "en",
            }
            for i, (en, tr) in enumerate(lines[n : n + MT_COUNTS[lang]])
        ]
    paths["text"] = base / "text_train.tsv"
    write_manifest(paths["text"], text_rows)
    paths["mt"] = base / "mt_train.tsv"
    write_manifest(paths["mt"], mt_rows)

    texts = [r["src_text"] for r in st_rows] + [r["tgt_text"] for r in st_rows]
    texts += (
        [r["src_text"] for r in text_rows]
        + [r["src_text"] for r in mt_rows]
        + [r["tgt_text"] for r in mt_rows]
    )
    d = dictionary_for(texts)
    d.save(str(base / "dict.txt"))
    _CACHE["corpus"] = {
        "base": base,
        "paths": paths,
        "dict": d,
        "encode": CharEncoder(d),
        "quantize": quantize,
    }
    return _CACHE["corpus"]
