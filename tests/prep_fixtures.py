"""Shared pieces of the corpus-preparation tests: real speech re-encoded the way each corpus
ships it, and the checks every prepared manifest must pass (validator, reader, data layer)."""

import re
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import soundfile as sf
import torch
import torchaudio
from fairseq.data import Dictionary

from mu2slam_fairseq.data.io.audio import load_waveform, n_fbank_frames
from mu2slam_fairseq.data.pipeline.datasets import (
    AsrDataset,
    AstDataset,
    MtDataset,
    SpeechDataset,
    TextDataset,
)
from mu2slam_fairseq.data.io.manifest import read_manifest
from mu2slam_fairseq.symbols import MASK, lang_symbol, unit_symbol
from mu2slam_fairseq.data.io.validate import validate_manifest
from mu2slam_fairseq.grid import grid_length

_CLIPS: List[np.ndarray] = []
N_UNITS = 4
DATASETS = {
    "speech": SpeechDataset,
    "text": TextDataset,
    "asr": AsrDataset,
    "ast": AstDataset,
    "mt": MtDataset,
}


def speech(fillets_root: Path, n: int) -> List[np.ndarray]:
    """``n`` real 16 kHz utterances (Fish Fillets, Dutch voice actors), shortest first."""
    if len(_CLIPS) < n:
        paths = sorted((fillets_root / "sound" / "airplane" / "nl").glob("*.ogg"))
        paths += sorted((fillets_root / "sound" / "alibaba" / "nl").glob("*.ogg"))
        wavs = [load_waveform(p) for p in paths[:12]]
        _CLIPS[:] = sorted(wavs, key=len)[:12]
    assert len(_CLIPS) >= n
    return _CLIPS[:n]


def write_clip(path: Path, wav16k: np.ndarray, rate: int = 16000, **kwargs) -> int:
    """Write ``wav16k`` resampled to ``rate`` (soundfile picks the codec from kwargs or the
    extension); returns the n_frames the manifest must hold for it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    wav = wav16k
    if rate != 16000:
        wav = torchaudio.functional.resample(torch.from_numpy(wav16k), 16000, rate).numpy()
    sf.write(path, wav, rate, **kwargs)
    return n_fbank_frames(len(load_waveform(path)))


def write_text(path: Path, text: str) -> None:
    """Write bytes exactly (no newline translation)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8"))


def tsv(rows: List[List[str]]) -> str:
    return "".join("\t".join(r) + "\n" for r in rows)


def _dictionary(rows: List[Dict[str, str]]) -> Dictionary:
    d = Dictionary()
    chars = {c for r in rows for k in ("src_text", "tgt_text") for c in r[k].replace(" ", "\u2581")}
    for c in sorted(chars):
        d.add_symbol(c)
    for k in range(N_UNITS):
        d.add_symbol(unit_symbol(k))
    for lang in sorted({r[k] for r in rows for k in ("src_lang", "tgt_lang") if r[k]}):
        d.add_symbol(lang_symbol(lang))
    d.add_symbol(MASK)
    return d


def check_manifest(
    path: Path, data_type: str, audio_root: Optional[Path] = None
) -> List[Dict[str, str]]:
    """Validator-clean, readable, and every row becomes an example of the data layer."""
    problems = validate_manifest(path, audio_root=audio_root)
    assert problems == [], [str(p) for p in problems]
    rows = read_manifest(path)
    d = _dictionary(rows)
    ds = DATASETS[data_type](
        path,
        d,
        encode=lambda text, lang: [d.index(c) for c in text.replace(" ", "\u2581")],
        units_for_features=lambda feats: torch.zeros(grid_length(len(feats)), dtype=torch.long),
        audio_root=audio_root,
    )
    assert len(ds) == len(rows)
    ds[0]  # loads the audio (or stored features) of the first row
    return rows


def projection(rows: List[Dict[str, str]], *columns: str) -> List[tuple]:
    return [tuple(r[c] for c in columns) for r in rows]


def dropped(stdout: str) -> Dict[str, int]:
    """``{reason: rows}`` from a script's printed summary."""
    section = stdout.split("rows dropped:", 1)[1].split("\nvalidator:", 1)[0]
    return {
        m.group(2): int(m.group(1))
        for m in re.finditer(r"^ +(\d+)  (.+?)(?: \(e\.g\. .*\))?$", section, re.M)
    }
