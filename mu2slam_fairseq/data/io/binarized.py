"""The binarized form of a manifest: memory-mapped arrays that training reads per item.

A TSV manifest is read whole and its texts encoded when a dataset is built, which holds
every row in Python objects in every process: fine for small corpora, not for tens of
millions of rows. ``mu2slam-binarize`` writes a manifest once into a folder that training
memory-maps instead, so a process holds only the arrays it touches:

- ``src.bin/.idx``, ``tgt.bin/.idx``: the texts' token ids, fairseq's ``MMapIndexedDataset``
  as ``fairseq-preprocess`` writes it (their ``sizes`` are the text lengths);
- ``units.bin/.idx``: speech units (empty where a row has none, see ``has_units.npy``);
- ``ids.bin/.idx``: the row ids as UTF-8 bytes; ``audio_paths.bin/.idx``: each distinct
  audio file once, as UTF-8 bytes;
- ``line.npy`` (manifest line, for messages), ``src_lang.npy``/``tgt_lang.npy`` (codes
  into ``meta.json``'s ``langs``), ``n_frames.npy``, ``audio_path.npy``,
  ``audio_offset.npy``/``audio_length.npy`` (``zip:offset:length``; -1 for a plain path);
- ``meta.json``: format, data type, row count, the manifest and audio root (relative to
  the folder, so both move together), languages and the dictionary's digest.

A folder holding ``meta.json`` is a binarized manifest (``is_binarized``). A folder
holding ``shards.json`` (``mu2slam-binarize --shards N``) holds N of them, the shards of
one manifest, which a data config may name as one split (``shard_folders``).
"""

import hashlib
import json
import os
import shutil
from array import array
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from fairseq.data import Dictionary
from fairseq.data.indexed_dataset import (
    MMapIndexedDataset,
    MMapIndexedDatasetBuilder,
    best_fitting_int_dtype,
)

from .features import split_zip_ref

FORMAT = "mu2slam-binarized/1"
META = "meta.json"
SHARDS = "shards.json"
TEXT_FIELDS = ("src", "tgt")
LANG_FIELDS = ("src_lang", "tgt_lang")
_INT_ARRAYS = {  # name -> dtype of the per-row arrays
    "line": np.int64,
    "n_frames": np.int32,
    "src_lang": np.int16,
    "tgt_lang": np.int16,
    "audio_path": np.int32,
    "audio_offset": np.int64,
    "audio_length": np.int64,
    "has_units": np.int8,
}


def is_binarized(path: os.PathLike) -> bool:
    """Whether ``path`` is a folder written by ``mu2slam-binarize``."""
    return (Path(path) / META).is_file()


def shard_folders(path: os.PathLike) -> Optional[List[Path]]:
    """The shards a ``shards.json`` in folder ``path`` lists, in order; None without one."""
    listing = Path(path) / SHARDS
    if not listing.is_file():
        return None
    try:
        names = json.loads(listing.read_text(encoding="utf-8"))["shards"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{listing}: unreadable ({e})") from None
    return [Path(path) / name for name in names]


def write_shard_list(folder: Path, names: Sequence[str]) -> None:
    """``shards.json`` naming the shard folders of ``folder``, written last and atomically."""
    tmp = folder / f".{SHARDS}.tmp"
    tmp.write_text(json.dumps({"format": FORMAT, "shards": list(names)}) + "\n", encoding="utf-8")
    os.replace(tmp, folder / SHARDS)


def dictionary_digest(dictionary: Dictionary) -> str:
    """Identifies a dictionary's symbols, so ids are never read with another one."""
    return hashlib.sha256("\n".join(dictionary.symbols).encode("utf-8")).hexdigest()[:16]


class _Builder:
    """fairseq's builder plus the ``.idx`` it finalizes into."""

    def __init__(self, prefix: Path, dtype):
        self.prefix = prefix
        self.builder = MMapIndexedDatasetBuilder(f"{prefix}.bin", dtype=dtype)

    def add(self, values: np.ndarray) -> None:
        self.builder.add_item(torch.from_numpy(np.asarray(values, dtype=np.int64)))

    def finish(self) -> None:
        self.builder.finalize(f"{self.prefix}.idx")


def _utf8(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-8"), dtype=np.uint8)


class BinarizedWriter:
    """Writes one manifest's examples into a new folder, then renames it into place, so a
    killed run never leaves a half-written corpus that training would take for whole."""

    def __init__(
        self,
        out: os.PathLike,
        manifest: os.PathLike,
        data_type: str,
        audio_root: os.PathLike,
        dictionary: Dictionary,
        texts: Sequence[str],
        default_langs: Dict[str, Optional[str]],
    ):
        self.out = Path(out)
        self.tmp = self.out.with_name(f".{self.out.name}.tmp")
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.tmp.mkdir(parents=True)
        self.meta = {
            "format": FORMAT,
            "type": data_type,
            "manifest": os.path.relpath(Path(manifest).resolve(), self.out.resolve().parent),
            "audio_root": os.path.relpath(Path(audio_root).resolve(), self.out.resolve().parent),
            "dictionary": dictionary_digest(dictionary),
            "texts": list(texts),
            "default_langs": dict(default_langs),
        }
        token_dtype = best_fitting_int_dtype(len(dictionary))
        self.texts = {t: _Builder(self.tmp / t, token_dtype) for t in texts}
        self.units = _Builder(self.tmp / "units", np.int32)
        self.ids = _Builder(self.tmp / "ids", np.uint8)
        self.audio_paths = _Builder(self.tmp / "audio_paths", np.uint8)
        self.arrays = {name: array("q") for name in _INT_ARRAYS}
        self.langs: Dict[str, int] = {}
        self.paths: Dict[str, int] = {}

    def _code(self, table: Dict[str, int], value: str, builder: Optional[_Builder] = None) -> int:
        if value not in table:
            table[value] = len(table)
            if builder is not None:
                builder.add(_utf8(value))
        return table[value]

    def add(
        self,
        row_id: str,
        line: int,
        texts: Dict[str, np.ndarray],
        langs: Dict[str, str],
        audio: str = "",
        n_frames: int = 0,
        units: Optional[np.ndarray] = None,
    ) -> None:
        """One example: its texts by field (``src``, ``tgt``), languages by field."""
        a = self.arrays
        self.ids.add(_utf8(row_id))
        a["line"].append(line)
        for name, builder in self.texts.items():
            builder.add(texts[name])
        for field in LANG_FIELDS:
            a[field].append(self._code(self.langs, langs[field]) if langs.get(field) else -1)
        ref = split_zip_ref(audio) if audio else None
        path = ref[0] if ref else audio
        a["audio_path"].append(self._code(self.paths, path, self.audio_paths) if audio else -1)
        a["audio_offset"].append(ref[1] if ref else -1)
        a["audio_length"].append(ref[2] if ref else -1)
        a["n_frames"].append(n_frames)
        a["has_units"].append(units is not None)
        self.units.add(units if units is not None else np.zeros(0, dtype=np.int64))

    def finish(self) -> Path:
        """Finalize every file and move the folder into place; returns it."""
        for builder in (*self.texts.values(), self.units, self.ids, self.audio_paths):
            builder.finish()
        for name, values in self.arrays.items():
            np.save(self.tmp / f"{name}.npy", np.asarray(values, dtype=_INT_ARRAYS[name]))
        self.meta["rows"] = len(self.arrays["line"])
        self.meta["langs"] = sorted(self.langs, key=self.langs.get)
        (self.tmp / META).write_text(json.dumps(self.meta, indent=1) + "\n", encoding="utf-8")
        if self.out.exists():
            shutil.rmtree(self.out)
        os.replace(self.tmp, self.out)
        return self.out

    def abort(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)


class BinarizedManifest:
    """Read access to a binarized manifest; nothing per row is loaded until asked for."""

    def __init__(self, folder: os.PathLike):
        self.folder = Path(folder)
        try:
            self.meta = json.loads((self.folder / META).read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise ValueError(f"{self.folder / META}: unreadable ({e})") from None
        if self.meta.get("format") != FORMAT:
            raise ValueError(
                f"{self.folder}: format {self.meta.get('format')!r}, expected {FORMAT!r}: "
                "run mu2slam-binarize again"
            )
        self.data_type: str = self.meta["type"]
        self.manifest = (self.folder.parent / self.meta["manifest"]).resolve()
        self.audio_root = (self.folder.parent / self.meta["audio_root"]).resolve()
        self.langs: List[str] = list(self.meta["langs"])
        self._open()

    def _open(self) -> None:
        self.arrays = {n: np.load(self.folder / f"{n}.npy", mmap_mode="r") for n in _INT_ARRAYS}
        names = (*self.meta["texts"], "units", "ids", "audio_paths")
        self.indexed = {  # an empty .bin cannot be mapped (e.g. units of a text corpus)
            n: MMapIndexedDataset(str(self.folder / n))
            for n in names
            if (self.folder / f"{n}.bin").stat().st_size
        }
        self._paths: Dict[int, str] = {}

    def __getstate__(self):  # data workers reopen the maps instead of copying them
        return {"folder": self.folder, "meta": self.meta}

    def __setstate__(self, state) -> None:
        self.__init__(state["folder"])

    def __len__(self) -> int:
        return int(self.meta["rows"])

    def _string(self, name: str, i: int) -> str:
        return self.indexed[name][i].numpy().astype(np.uint8).tobytes().decode("utf-8")

    def id(self, i: int) -> str:
        return self._string("ids", i)

    def line(self, i: int) -> int:
        return int(self.arrays["line"][i])

    def text(self, field: str, i: int) -> np.ndarray:
        """Token ids (int64) of text field ``src`` or ``tgt`` of row i."""
        return self.indexed[field][i].numpy()

    def text_lengths(self, field: str) -> np.ndarray:
        return self.indexed[field].sizes

    def lang(self, field: str, i: int) -> str:
        code = int(self.arrays[field][i])
        return self.langs[code] if code >= 0 else ""

    def lang_codes(self, field: str) -> np.ndarray:
        return self.arrays[field]

    def audio(self, i: int) -> str:
        """The ``audio`` field as the manifest had it."""
        k = int(self.arrays["audio_path"][i])
        if k < 0:
            return ""
        if k not in self._paths:
            self._paths[k] = self._string("audio_paths", k)
        offset = int(self.arrays["audio_offset"][i])
        if offset < 0:
            return self._paths[k]
        return f"{self._paths[k]}:{offset}:{int(self.arrays['audio_length'][i])}"

    def n_frames(self) -> np.ndarray:
        return self.arrays["n_frames"]

    def units(self, i: int) -> Optional[np.ndarray]:
        return self.indexed["units"][i].numpy() if self.arrays["has_units"][i] else None

    def rows_without_units(self) -> int:
        return int(len(self) - np.count_nonzero(self.arrays["has_units"]))
