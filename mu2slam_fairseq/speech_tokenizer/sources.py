"""Speech rows of a manifest, as log-Mel features or as waveforms.

Paths in the ``audio`` column are relative to the manifest's folder. A waveform is needed
for the ``w2v-kmeans`` kind and for the stability report; when a manifest stores
precomputed features (``fbank80.zip:OFFSET:LENGTH``), the audio is looked up by ``id``
in a second manifest that lists the original audio files (``audio_manifest``).
"""

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Optional

import numpy as np

from ..data.io.audio import AudioError, load_waveform
from ..data.io.features import NPY_MAGIC, load_features, read_bytes
from ..data.io.manifest import Row, is_speech_row, read_manifest
from .errors import TokenizerError


@dataclass
class Utterance:
    id: str
    row: Row
    root: Path


def speech_rows(manifest: os.PathLike, limit: Optional[int] = None) -> List[Utterance]:
    """The rows with audio, in manifest order (the first ``limit`` of them when given)."""
    manifest = Path(manifest)
    rows = [
        Utterance(r["id"], r, manifest.parent)
        for r in read_manifest(manifest, required=("id", "audio"))
        if is_speech_row(r)
    ]
    return rows[:limit] if limit is not None else rows


class AudioIndex:
    """Finds the waveform of an utterance: in its own row, or by id in an audio manifest."""

    def __init__(self, audio_manifest: Optional[os.PathLike] = None):
        self.audio_manifest = Path(audio_manifest) if audio_manifest else None
        self.by_id: Dict[str, Utterance] = {}
        if self.audio_manifest is not None:
            self.by_id = {u.id: u for u in speech_rows(self.audio_manifest)}

    def waveform(self, utt: Utterance) -> np.ndarray:
        name, data = read_bytes(utt.row["audio"], utt.root)
        if data[:6] != NPY_MAGIC:
            return load_waveform(name, data)
        other = self.by_id.get(utt.id)
        if other is None:
            where = (
                f"id {utt.id!r} is not in {self.audio_manifest}"
                if self.audio_manifest
                else "pass an audio manifest (--audio-manifest) that lists the original audio by id"
            )
            raise TokenizerError(
                f"{name}: row {utt.id!r} holds stored features, not audio; {where}"
            )
        name, data = read_bytes(other.row["audio"], other.root)
        if data[:6] == NPY_MAGIC:
            raise TokenizerError(
                f"{name}: the audio manifest's row {utt.id!r} holds stored features too, not audio"
            )
        return load_waveform(name, data)


def features(utt: Utterance) -> np.ndarray:
    """Raw (frames, 80) log-Mel features of a row: stored ones, or computed from its audio."""
    return load_features(utt.row["audio"], utt.root)


def iter_inputs(
    utts: List[Utterance],
    waveforms: bool,
    audio: Optional[AudioIndex] = None,
    skip_errors: bool = False,
    failures: Optional[List[str]] = None,
) -> Iterator[tuple]:
    """(utterance, features or waveform) pairs; unreadable rows raise, or are skipped and listed."""
    audio = audio or AudioIndex()
    for utt in utts:
        try:
            x = audio.waveform(utt) if waveforms else features(utt)
        except (AudioError, TokenizerError) as e:
            if not skip_errors:
                raise
            if failures is not None:
                failures.append(f"{utt.id}: {e}")
            continue
        yield utt, x
