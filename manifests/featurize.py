"""Computing 80-dim log-Mel features into one zip, reusing it when nothing changed.

The index beside the zip records what went in (each item's key and a signature of its
source) and what came out (reference and frame count per key, and why an item failed), so
a second build with the same sources skips feature extraction entirely.
"""

import hashlib
import json
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

from mu2slam_fairseq.data.io.audio import AudioError, fbank
from mu2slam_fairseq.data.io.features import write_feature_zip
from mu2slam_fairseq.data.io.manifest import atomic_write_text

INDEX_VERSION = 1


class Source:
    """One item to featurize: its key, a loader for its 16 kHz waveform and a signature."""

    def __init__(self, key: str, load: Callable[[], np.ndarray], signature: str):
        self.key, self.load, self.signature = key, load, signature


def _fingerprint(sources: List[Source]) -> str:
    h = hashlib.sha256(f"v{INDEX_VERSION}".encode())
    for s in sources:
        h.update(f"\n{s.key}\t{s.signature}".encode("utf-8"))
    return h.hexdigest()


def index_path(zip_path: Path) -> Path:
    return zip_path.with_name(f".{zip_path.name}.index.json")


def build_feature_zip(
    zip_path: Path, sources: List[Source], progress: bool = True, desc: str = "fbank"
) -> Tuple[Dict[str, Tuple[str, int]], Dict[str, str], bool]:
    """``({key: (zip ref, n_frames)}, {key: why it failed}, reused)`` for ``sources``.

    Items are stored in the order given; an item whose audio cannot be read or is shorter
    than one frame is left out and reported.
    """
    zip_path = Path(zip_path)
    sources = sorted(sources, key=lambda s: s.key)
    fingerprint = _fingerprint(sources)
    index_file = index_path(zip_path)
    if zip_path.exists() and index_file.exists():
        try:
            index = json.loads(index_file.read_text(encoding="utf-8"))
        except ValueError:
            index = {}
        if (
            index.get("fingerprint") == fingerprint
            and index.get("zip_size") == zip_path.stat().st_size
        ):
            items = {k: (v[0], int(v[1])) for k, v in index["items"].items()}
            return items, dict(index["failed"]), True

    failed: Dict[str, str] = {}
    frames: Dict[str, int] = {}

    def generate():
        it = sources
        if progress:
            from tqdm import tqdm

            it = tqdm(sources, desc=desc, unit="utt", mininterval=1.0)
        for s in it:
            try:
                feats = fbank(s.load())
            except AudioError as e:
                failed[s.key] = str(e)
                continue
            if not np.isfinite(feats).all():
                failed[s.key] = "features contain NaN or infinite values"
                continue
            frames[s.key] = int(feats.shape[0])
            yield s.key, feats

    refs = write_feature_zip(zip_path, generate())
    items = {k: (refs[k], frames[k]) for k in refs}
    index = {
        "fingerprint": fingerprint,
        "zip_size": zip_path.stat().st_size,
        "items": {k: [items[k][0], items[k][1]] for k in sorted(items)},
        "failed": {k: failed[k] for k in sorted(failed)},
    }
    atomic_write_text(
        index_file, json.dumps(index, ensure_ascii=False, indent=0, sort_keys=True) + "\n"
    )
    return items, failed, False


def file_signature(path: Path, root: Optional[Path] = None) -> str:
    """Where a source file is (relative to ``root``) and its size: enough to notice changes."""
    try:
        size = path.stat().st_size
    except OSError:
        size = -1
    rel = path.relative_to(root) if root is not None and path.is_relative_to(root) else path
    return f"{rel}:{size}"
