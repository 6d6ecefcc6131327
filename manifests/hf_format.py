"""A local Hugging Face dataset read with pyarrow alone: its shards, each shard's split and
config, and its rows one record batch at a time (memory holds one batch of audio, never a
shard or the corpus).

Layouts, as ``datasets`` and the Hub leave them:

- Hub snapshots: ``[<config>/]<split>-00000-of-00004.parquet``, ``data/<split>-*.parquet``
  and the parquet conversions' ``<config>/<split>/0000.parquet``;
- the ``datasets`` cache: ``<name>-<split>[-00000-of-00004].arrow`` (Arrow IPC stream)
  beside ``dataset_info.json``;
- ``save_to_disk``: ``[<split>/]data-00000-of-00001.arrow`` beside ``dataset_info.json``
  and ``state.json`` (whose ``_split`` names the split).

The split is the shard name's last ``-`` field (without ``-NNNNN-of-NNNNN``) or the
nearest folder named like a split, else ``state.json``'s; the config is the first folder
under the root that is neither a split nor ``data``, else ``dataset_info.json``'s
``config_name``. ClassLabel columns (integers) are named from the features that
``datasets`` stores in the schema metadata (key ``huggingface``) or in
``dataset_info.json``.
"""

import contextlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import pyarrow as pa
import pyarrow.ipc
import pyarrow.parquet as pq

from .common import PrepError

BATCH_ROWS = 64  # rows decoded at once: a few MB of audio
SPLIT_NAMES = (
    "train",
    "validation",
    "dev",
    "test",
    "other",
    "invalidated",
    "validated",
    "9_hours",
    "1_hours",
)
_SHARD_SUFFIX = re.compile(r"-\d{5}-of-\d{5}$")
ARROW_FILE_MAGIC = b"ARROW1"


@dataclass
class Shard:
    """One parquet or arrow file of the dataset, with its split and config ('' if unknown)."""

    path: Path
    split: str
    config: str

    @property
    def name(self) -> str:
        return self.path.name


def _info_json(shard: Path, root: Path, name: str) -> Optional[Dict[str, Any]]:
    """``name`` (dataset_info.json, state.json) from the shard's folder or the nearest above it
    up to ``root``."""
    for folder in [shard.parent, *shard.parent.parents]:
        f = folder / name
        if f.is_file():
            try:
                return json.loads(f.read_text(encoding="utf-8"))
            except ValueError as e:
                raise PrepError(f"{f}: not JSON ({e})") from None
        if folder == root:
            break
    return None


def _split_of(path: Path, root: Path) -> str:
    stem = _SHARD_SUFFIX.sub("", path.name.split(".", 1)[0])
    if stem.rsplit("-", 1)[-1] in SPLIT_NAMES:
        return stem.rsplit("-", 1)[-1]
    for part in reversed(path.relative_to(root).parts[:-1]):
        if part in SPLIT_NAMES:
            return part
    state = _info_json(path, root, "state.json") or {}
    return str(state.get("_split") or "")


def _config_of(path: Path, root: Path) -> str:
    for part in path.relative_to(root).parts[:-1]:
        if part not in SPLIT_NAMES and part != "data":
            return part
    info = _info_json(path, root, "dataset_info.json") or {}
    config = str(info.get("config_name") or "")
    return "" if config == "default" else config


def find_shards(root: Path) -> List[Shard]:
    """Every ``*.parquet`` and ``*.arrow`` below ``root`` (or ``root`` itself), in path order;
    hidden folders and ``datasets``' ``cache-*.arrow`` files of ``.map`` results are skipped."""
    if root.is_file():
        files = [root]
        root = root.parent
    elif root.is_dir():
        files = sorted(
            p
            for ext in ("*.parquet", "*.arrow")
            for p in root.rglob(ext)
            if not any(part.startswith(".") for part in p.relative_to(root).parts)
            and not p.name.startswith("cache-")
        )
    else:
        raise PrepError(f"{root} does not exist")
    if not files:
        raise PrepError(f"{root} holds no .parquet or .arrow shards")
    return [Shard(p, _split_of(p, root), _config_of(p, root)) for p in files]


def _features(schema: pa.Schema, shard: Path, root: Path) -> Dict[str, Any]:
    """The ``datasets`` features stored with the shard (schema metadata or dataset_info.json)."""
    meta = (schema.metadata or {}).get(b"huggingface")
    if meta:
        try:
            features = json.loads(meta).get("info", {}).get("features")
        except ValueError:
            features = None
        if isinstance(features, dict):
            return features
    info = _info_json(shard, root, "dataset_info.json") or {}
    return info.get("features") or {}


def class_names(features: Dict[str, Any], column: str) -> Optional[List[str]]:
    """A ClassLabel column's names, or None when it is no ClassLabel."""
    feature = features.get(column)
    if isinstance(feature, dict) and feature.get("_type") == "ClassLabel":
        return list(feature.get("names") or [])
    return None


@contextlib.contextmanager
def _open(path: Path):
    """``(schema, rows or None, batches)`` of a parquet file or an arrow file or stream."""
    try:
        if path.suffix == ".parquet":
            with pq.ParquetFile(path) as f:

                def batches(columns: Sequence[str]) -> Iterator[pa.RecordBatch]:
                    yield from f.iter_batches(batch_size=BATCH_ROWS, columns=columns)

                yield f.schema_arrow, f.metadata.num_rows, batches
            return
        with pa.OSFile(str(path)) as source:
            if source.read(len(ARROW_FILE_MAGIC)) == ARROW_FILE_MAGIC:
                reader = pa.ipc.open_file(source)

                def batches(columns: Sequence[str]) -> Iterator[pa.RecordBatch]:
                    for i in range(reader.num_record_batches):
                        yield reader.get_batch(i).select(columns)

            else:
                source.seek(0)
                reader = pa.ipc.open_stream(source)

                def batches(columns: Sequence[str]) -> Iterator[pa.RecordBatch]:
                    for batch in reader:
                        yield batch.select(columns)

            yield reader.schema, None, batches
    except (pa.ArrowException, OSError) as e:
        raise PrepError(f"{path}: not a readable {path.suffix[1:]} shard ({e})") from None


class ShardReader:
    """The rows of one shard, batch by batch, as ``{column: value}`` for ``columns``.

    The file is opened to check its columns, then again only while its rows are read:
    pyarrow keeps buffers of an open file, which would add up over many shards."""

    def __init__(self, shard: Shard, root: Path, columns: Sequence[str]):
        self.shard = shard
        with _open(shard.path) as (schema, rows, _):
            self.rows: Optional[int] = rows
        missing = [c for c in columns if c not in schema.names]
        if missing:
            raise PrepError(
                f"{shard.path}: no column(s) {', '.join(missing)} (it has {' '.join(schema.names)})"
            )
        self.columns = list(columns)
        self.features = _features(schema, shard.path, root)

    def __iter__(self) -> Iterator[Tuple[int, Dict[str, Any]]]:
        """``(row number in the shard, from 0, {column: value})``."""
        number = 0
        with _open(self.shard.path) as (_, _, batches):
            try:
                for batch in batches(self.columns):
                    for offset in range(0, batch.num_rows, BATCH_ROWS):
                        for row in batch.slice(offset, BATCH_ROWS).to_pylist():
                            yield number, row
                            number += 1
            except (pa.ArrowException, OSError) as e:
                raise PrepError(f"{self.shard.path}: unreadable after row {number} ({e})") from None
