"""Writing a tokenizer's ids into a manifest's ``units`` column (offline application).

Every speech row gets (or has refreshed) a space-separated list of ids, one per 40 ms
step of its features; text rows keep an empty ``units`` field. The other columns and
their order are kept, and the manifest is replaced atomically.
"""

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional

import torch
from tqdm import tqdm

from ..data.io.audio import AudioError
from ..data.io.manifest import read_manifest, write_manifest
from ..grid import grid_length
from .errors import TokenizerError
from .sources import AudioIndex, Utterance, features
from .tokenizer import SpeechTokenizer

BATCH = 32  # utterances per codebook search


@dataclass
class ApplySummary:
    rows: int = 0
    speech_rows: int = 0
    steps: int = 0
    failed: List[str] = field(default_factory=list)
    length_mismatches: List[str] = field(
        default_factory=list
    )  # rows whose n_frames disagrees with their features


def _header(path: Path) -> List[str]:
    """The column names, read like ``read_manifest`` reads them (a byte order mark skipped)."""
    with open(path, encoding="utf-8-sig", newline="") as f:
        return next(csv.reader(f, delimiter="\t", quotechar=None, quoting=csv.QUOTE_NONE))


def units_text(ids: torch.Tensor) -> str:
    return " ".join(map(str, ids.tolist()))


def apply_to_manifest(
    tokenizer: SpeechTokenizer,
    manifest: os.PathLike,
    output: Optional[os.PathLike] = None,
    audio_manifest: Optional[os.PathLike] = None,
    skip_errors: bool = False,
    progress: bool = True,
) -> ApplySummary:
    """Fill the ``units`` column of ``manifest`` (written to ``output``, by default in place).

    ``output`` must sit in the manifest's folder, where its relative audio paths point.
    """
    manifest = Path(manifest)
    output = Path(output) if output is not None else manifest
    if output.resolve().parent != manifest.resolve().parent:
        raise TokenizerError(
            f"{output}: write the manifest next to {manifest}; its audio paths are relative to that folder"
        )
    rows = read_manifest(manifest, required=("id",))
    columns = _header(manifest)
    if "units" not in columns:
        columns.append("units")
    summary = ApplySummary(rows=len(rows))
    audio = AudioIndex(audio_manifest) if tokenizer.needs_audio else None
    speech = [r for r in rows if r.get("audio")]
    summary.speech_rows = len(speech)
    for r in rows:
        r["units"] = ""
    with tqdm(
        total=len(speech), desc="units", unit="utt", disable=not progress, mininterval=1
    ) as bar:
        for start in range(0, len(speech), BATCH):
            done, vectors = [], []
            for row in speech[start : start + BATCH]:
                utt = Utterance(row["id"], row, manifest.parent)
                try:
                    if audio is not None:
                        v = tokenizer.vectors_for_waveform(audio.waveform(utt))
                    else:
                        v = tokenizer.vectors_for_features(features(utt))
                except (AudioError, TokenizerError) as e:
                    if not skip_errors:
                        raise
                    summary.failed.append(f"{row['id']}: {e}")
                    continue
                done.append(row)
                vectors.append(v)
            if vectors:
                ids = tokenizer.quantize(torch.cat(vectors)).split([len(v) for v in vectors])
                for row, u in zip(done, ids):
                    row["units"] = units_text(u)
                    summary.steps += len(u)
                    n = row.get("n_frames", "")
                    if n.isdigit() and int(grid_length(int(n))) != len(u):
                        summary.length_mismatches.append(row["id"])
            bar.update(len(speech[start : start + BATCH]))
    write_manifest(output, rows, columns)
    return summary
