"""Resolving a manifest's ``audio`` field to log-Mel features.

The field is either a path to an audio file (or a ``.npy`` of features), or
``archive.zip:OFFSET:LENGTH`` pointing at the bytes of one member of an uncompressed
zip (fairseq's convention). Offsets are taken from each member's local header, so
non-ASCII member names (whose header length differs from ``len(str)``) are correct.
"""

import io
import os
import zipfile
from pathlib import Path
from typing import Dict, Iterable, Optional, Tuple

import numpy as np

from ...atomic import atomic_write
from .audio import AudioError, fbank, load_waveform

NPY_MAGIC = b"\x93NUMPY"
ZIP_DATE_TIME = (1980, 1, 1, 0, 0, 0)


def split_zip_ref(field: str) -> Optional[Tuple[str, int, int]]:
    """``('a.zip', offset, length)`` for a zip reference, None for a plain path."""
    parts = field.rsplit(":", 2)
    if len(parts) == 3 and parts[0].endswith(".zip") and parts[1].isdigit() and parts[2].isdigit():
        return parts[0], int(parts[1]), int(parts[2])
    return None


def resolve(field: str, root: Optional[os.PathLike]) -> Path:
    path = Path(field)
    return path if path.is_absolute() or root is None else Path(root) / path


def reference_problem(
    field: str, root: Optional[os.PathLike] = None, sizes: Optional[Dict[Path, int]] = None
) -> Optional[str]:
    """Why the file an ``audio`` field names cannot hold its item (missing, empty, shorter
    than a zip reference's end), found without reading it; None when it may.

    ``sizes`` caches file sizes (-1: missing) across calls, so a zip is looked up once."""
    ref = split_zip_ref(field)
    path = resolve(ref[0] if ref else field, root)
    sizes = {} if sizes is None else sizes
    if path not in sizes:
        try:
            sizes[path] = path.stat().st_size if path.is_file() else -1
        except OSError:
            sizes[path] = -1
    size = sizes[path]
    if size < 0:
        return f"audio {'zip ' if ref else ''}not found: {path}"
    if ref is None:
        return f"empty audio file: {path}" if size == 0 else None
    _, offset, length = ref
    if length == 0:
        return f"empty audio: {field} has length 0"
    if offset + length > size:
        return f"{path} is truncated: the item ends at byte {offset + length}, the file has {size} bytes"
    return None


def read_bytes(field: str, root: Optional[os.PathLike] = None) -> Tuple[str, bytes]:
    """(name for messages, raw bytes) of the item an ``audio`` field names."""
    ref = split_zip_ref(field)
    if ref is None:
        path = resolve(field, root)
        try:
            return str(path), path.read_bytes()
        except OSError as e:
            raise AudioError(f"{path}: {e.strerror or e}") from None
    zpath, offset, length = ref
    path = resolve(zpath, root)
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read(length)
    except OSError as e:
        raise AudioError(f"{path}: {e.strerror or e}") from None
    if len(data) != length:
        raise AudioError(
            f"{path}:{offset}:{length}: zip is truncated ({len(data)} of {length} bytes)"
        )
    return f"{path}:{offset}:{length}", data


def load_features(field: str, root: Optional[os.PathLike] = None) -> np.ndarray:
    """(frames, 80) float32 features for an ``audio`` field: stored features or audio."""
    name, data = read_bytes(field, root)
    if data[:6] == NPY_MAGIC:
        try:
            feats = np.load(io.BytesIO(data), allow_pickle=False)
        except Exception as e:
            raise AudioError(f"{name}: unreadable .npy features ({e})") from None
    else:
        feats = fbank(load_waveform(name, data))
    if feats.ndim != 2 or feats.shape[0] == 0:
        raise AudioError(f"{name}: features have shape {feats.shape}, expected (frames, dims)")
    if not np.isfinite(feats).all():
        raise AudioError(f"{name}: features contain NaN or infinite values")
    return feats.astype(np.float32, copy=False)


class FeatureZipWriter:
    """Features stored one item at a time as ``<key>.npy`` members of an uncompressed zip,
    each item's reference known as soon as it is stored, so a manifest can be written
    alongside (corpora too large to hold whole).

    ``open`` starts the zip under a temporary name; ``commit`` puts it in place, ``discard``
    removes it. As a context manager it commits when the block ends normally.
    """

    def __init__(self, zip_path: os.PathLike):
        self.path = Path(zip_path)
        self.count = 0
        self._file = None
        self._zip: Optional[zipfile.ZipFile] = None

    def open(self) -> "FeatureZipWriter":
        # a fixed temporary name: a killed run leaves at most one stale archive, overwritten by the rerun
        self._file = atomic_write(self.path, "w+b", temp_name=f".{self.path.name}.tmp")
        self._zip = zipfile.ZipFile(self._file.file, "w", compression=zipfile.ZIP_STORED)
        return self

    def add(self, key: str, feats: np.ndarray) -> str:
        """Store ``feats`` as ``<key>.npy``; returns ``'NAME.zip:OFFSET:LENGTH'``."""
        buf = io.BytesIO()
        np.save(buf, np.asarray(feats, dtype=np.float32), allow_pickle=False)
        # A fixed timestamp and mode: the same features give a byte-identical zip.
        info = zipfile.ZipInfo(f"{key}.npy", date_time=ZIP_DATE_TIME)
        info.compress_type = zipfile.ZIP_STORED
        info.external_attr = 0o644 << 16
        self._zip.writestr(info, buf.getvalue())
        # the data starts after the member's local header, whose length only the file tells
        f = self._file.file
        end = f.tell()
        f.seek(info.header_offset)
        header = f.read(30)
        f.seek(end)
        name_len = int.from_bytes(header[26:28], "little")
        extra_len = int.from_bytes(header[28:30], "little")
        offset = info.header_offset + 30 + name_len + extra_len
        self.count += 1
        return f"{self.path.name}:{offset}:{info.file_size}"

    def commit(self) -> None:
        self._zip.close()
        self._file.commit()

    def discard(self) -> None:
        self._zip.close()
        self._file.discard()

    def __enter__(self) -> "FeatureZipWriter":
        return self.open()

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.discard()


def write_feature_zip(
    zip_path: os.PathLike, items: Iterable[Tuple[str, np.ndarray]]
) -> Dict[str, str]:
    """Store features as ``<key>.npy`` members of an uncompressed zip, atomically.

    Returns ``{key: 'NAME.zip:OFFSET:LENGTH'}`` with NAME the zip's file name, so
    manifests written next to the zip stay relocatable.
    """
    with FeatureZipWriter(zip_path) as writer:
        return {key: writer.add(key, feats) for key, feats in items}
