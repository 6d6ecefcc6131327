"""Resolving a manifest's ``audio`` field to log-Mel features.

The field is either a path to an audio file (or a ``.npy`` of features), or
``archive.zip:OFFSET:LENGTH`` pointing at the bytes of one member of an uncompressed
zip (fairseq's convention). Offsets are taken from each member's local header, so
non-ASCII member names (whose header length differs from ``len(str)``) are correct.
"""

import array
import io
import os
import struct
import sys
import zlib
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


# The zip records FeatureZipWriter writes, laid out and filled in as Python's zipfile does,
# so that the same features give the same bytes as zipfile would write.
_LOCAL = struct.Struct("<4s2B4HL2L2H")
_CENTRAL = struct.Struct("<4s4B4HL2L5H2L")
_END64 = struct.Struct("<4sQ2H2L4Q")
_END64_LOCATOR = struct.Struct("<4sLQL")
_END = struct.Struct("<4s4H2LH")
ZIP64_LIMIT = (1 << 31) - 1  # zipfile's: larger offsets and sizes go into zip64 records
_VERSION, _ZIP64_VERSION = 20, 45
_DOS_TIME = ZIP_DATE_TIME[3] << 11 | ZIP_DATE_TIME[4] << 5 | ZIP_DATE_TIME[5] // 2
_DOS_DATE = (ZIP_DATE_TIME[0] - 1980) << 9 | ZIP_DATE_TIME[1] << 5 | ZIP_DATE_TIME[2]
_SYSTEM = 0 if sys.platform == "win32" else 3
_MODE = 0o644 << 16
_UTF8_NAME = 0x800


class FeatureZipWriter:
    """Features stored one item at a time as ``<key>.npy`` members of an uncompressed zip,
    each item's reference known as soon as it is stored, so a manifest can be written
    alongside (corpora too large to hold whole).

    What the central directory needs is kept in packed arrays (about 80 bytes an item,
    where zipfile keeps a ZipInfo of 400), since a corpus may have millions of items.
    ``open`` starts the zip under a temporary name; ``commit`` puts it in place, ``discard``
    removes it. As a context manager it commits when the block ends normally.
    """

    def __init__(self, zip_path: os.PathLike):
        self.path = Path(zip_path)
        self.count = 0
        self._file = None
        self._position = 0
        self._names = bytearray()
        self._name_ends = array.array("Q")
        self._crcs = array.array("L")
        self._sizes = array.array("Q")
        self._offsets = array.array("Q")

    def open(self) -> "FeatureZipWriter":
        # a fixed temporary name: a killed run leaves at most one stale archive, overwritten by the rerun
        self._file = atomic_write(self.path, "wb", temp_name=f".{self.path.name}.tmp")
        return self

    def add(self, key: str, feats: np.ndarray) -> str:
        """Store ``feats`` as ``<key>.npy``; returns ``'NAME.zip:OFFSET:LENGTH'``."""
        buf = io.BytesIO()
        np.save(buf, np.asarray(feats, dtype=np.float32), allow_pickle=False)
        data = buf.getvalue()
        if len(data) > ZIP64_LIMIT:
            raise ValueError(
                f"{key}: {len(data)} bytes of features is more than one zip member holds"
            )
        name, flags = _encode_name(f"{key}.npy")
        crc = zlib.crc32(data)
        header = _LOCAL.pack(
            b"PK\x03\x04",
            _VERSION,
            0,
            flags,
            0,
            _DOS_TIME,
            _DOS_DATE,
            crc,
            len(data),
            len(data),
            len(name),
            0,
        )
        self._file.file.write(header + name)
        self._file.file.write(data)
        offset = self._position
        self._position += len(header) + len(name) + len(data)
        self._names += name
        self._name_ends.append(len(self._names))
        self._crcs.append(crc)
        self._sizes.append(len(data))
        self._offsets.append(offset)
        self.count += 1
        return f"{self.path.name}:{offset + len(header) + len(name)}:{len(data)}"

    def _central_directory(self) -> None:
        f, start, begin, chunk = self._file.file, self._position, 0, []
        for i in range(self.count):
            name = bytes(self._names[begin : self._name_ends[i]])
            begin = self._name_ends[i]
            offset, extra, version = self._offsets[i], b"", _VERSION
            if offset > ZIP64_LIMIT:
                extra, offset, version = (
                    struct.pack("<HHQ", 1, 8, offset),
                    0xFFFFFFFF,
                    _ZIP64_VERSION,
                )
            size = self._sizes[i]
            chunk += [
                _CENTRAL.pack(
                    b"PK\x01\x02",
                    version,
                    _SYSTEM,
                    version,
                    0,
                    _encode_name_flags(name),
                    0,
                    _DOS_TIME,
                    _DOS_DATE,
                    self._crcs[i],
                    size,
                    size,
                    len(name),
                    len(extra),
                    0,
                    0,
                    0,
                    _MODE,
                    offset,
                ),
                name,
                extra,
            ]
            if len(chunk) >= 3000:
                f.write(b"".join(chunk))
                chunk = []
        f.write(b"".join(chunk))
        end = f.tell()
        count, size, offset = self.count, end - start, start
        if count > 0xFFFF or offset > ZIP64_LIMIT or size > ZIP64_LIMIT:
            f.write(_END64.pack(b"PK\x06\x06", 44, 45, 45, 0, 0, count, count, size, offset))
            f.write(_END64_LOCATOR.pack(b"PK\x06\x07", 0, end, 1))
            count, size, offset = min(count, 0xFFFF), min(size, 0xFFFFFFFF), min(offset, 0xFFFFFFFF)
        f.write(_END.pack(b"PK\x05\x06", 0, 0, count, count, size, offset, 0))

    def commit(self) -> None:
        self._central_directory()
        self._file.commit()

    def discard(self) -> None:
        self._file.discard()

    def __enter__(self) -> "FeatureZipWriter":
        return self.open()

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.discard()


def _encode_name(name: str) -> Tuple[bytes, int]:
    """A member name's bytes and flags, as zipfile encodes them (UTF-8 only when not ASCII)."""
    try:
        return name.encode("ascii"), 0
    except UnicodeEncodeError:
        return name.encode("utf-8"), _UTF8_NAME


def _encode_name_flags(name: bytes) -> int:
    return 0 if name.isascii() else _UTF8_NAME


def write_feature_zip(
    zip_path: os.PathLike, items: Iterable[Tuple[str, np.ndarray]]
) -> Dict[str, str]:
    """Store features as ``<key>.npy`` members of an uncompressed zip, atomically.

    Returns ``{key: 'NAME.zip:OFFSET:LENGTH'}`` with NAME the zip's file name, so
    manifests written next to the zip stay relocatable.
    """
    with FeatureZipWriter(zip_path) as writer:
        return {key: writer.add(key, feats) for key, feats in items}
