"""lhotse's JSONL manifests, read and written as plain JSON lines.

The ``lhotse`` package is not used: reading and writing its documented line format needs
only ``json`` and ``gzip``, while the package would add a dependency (and its audio stack)
to a plugin that decodes audio its own way. The fields are those of lhotse's ``to_dict``
(as in icefall's ``*_recordings_*.jsonl.gz`` and ``*_supervisions_*.jsonl.gz``):

- Recording: ``{"id", "sources": [{"type": "file", "channels": [0], "source": PATH}],
  "sampling_rate", "num_samples", "duration", "channel_ids"}``;
- SupervisionSegment: ``{"id", "recording_id", "start", "duration", "channel", "text",
  "language", "speaker", "custom"}``, fields without a value left out;
- MonoCut: ``{"id", "start", "duration", "channel", "supervisions": [...], "recording":
  {...}, "type": "MonoCut"}``, its supervisions' ``start`` relative to the cut.

Files ending in ``.gz`` are gzipped. A relative source path is resolved against the
current folder, as lhotse does.
"""

import gzip
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, Iterator, Optional, Tuple

from mu2slam_fairseq.atomic import atomic_write

from .common import PrepError, Summary, iter_lines, open_binary, text_lines

Record = Dict[str, object]


@dataclass
class Recording:
    """A recording whose audio is one file, or why it cannot be read as one."""

    id: str
    path: Optional[Path]
    duration: float
    problem: Optional[str] = None


@dataclass
class Supervision:
    id: str
    recording_id: str
    start: float
    duration: float
    text: str = ""
    language: str = ""
    speaker: str = ""
    custom: Dict[str, object] = field(default_factory=dict)


def read_jsonl(path: Path, summary: Summary) -> Iterator[Tuple[str, Record]]:
    """``(FILE:LINE, object)`` per non-blank line; a line that is not a JSON object stops
    the run (the file is not a lhotse manifest), one that is not UTF-8 is counted."""
    with open_binary(path) as f:
        try:
            for number, line in text_lines(path, iter_lines(f), summary):
                where = f"{path.name}:{number}"
                try:
                    record = json.loads(line)
                except ValueError as e:
                    raise PrepError(f"{path}:{number}: not a JSON line ({e})") from None
                if not isinstance(record, dict):
                    raise PrepError(
                        f"{path}:{number}: a JSON {type(record).__name__}, not an object"
                    )
                yield where, record
        except (OSError, EOFError) as e:
            raise PrepError(f"{path}: cannot read ({e})") from None


def required(record: Record, key: str, kind: type, where: str):
    """``record[key]`` when it is a ``kind``; otherwise the run stops, naming the line."""
    value = record.get(key)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise PrepError(f"{where}: field {key!r} must be a {kind.__name__}, found {value!r}")
    return value


def _text(record: Record, key: str) -> str:
    value = record.get(key)
    return value if isinstance(value, str) else ""


def recording(record: Record, where: str) -> Recording:
    """A Recording line (or a cut's ``recording``); missing required fields stop the run."""
    rid = required(record, "id", str, where)
    duration = required(record, "duration", float, where)
    sources = required(record, "sources", list, where)
    if len(sources) != 1 or not isinstance(sources[0], dict):
        return Recording(rid, None, duration, "recording with several audio sources")
    source = sources[0]
    if source.get("type") != "file":
        return Recording(rid, None, duration, f"recording source of type {source.get('type')!r}")
    return Recording(rid, Path(required(source, "source", str, where)), duration)


def supervision(record: Record, where: str) -> Supervision:
    """A SupervisionSegment line (or one inside a cut)."""
    custom = record.get("custom")
    return Supervision(
        id=required(record, "id", str, where),
        recording_id=_text(record, "recording_id"),
        start=required(record, "start", float, where),
        duration=required(record, "duration", float, where),
        text=_text(record, "text"),
        language=_text(record, "language"),
        speaker=_text(record, "speaker"),
        custom=custom if isinstance(custom, dict) else {},
    )


def recording_record(rid: str, path: Path, sampling_rate: int, num_samples: int) -> Record:
    return {
        "id": rid,
        "sources": [{"type": "file", "channels": [0], "source": str(path)}],
        "sampling_rate": sampling_rate,
        "num_samples": num_samples,
        "duration": num_samples / sampling_rate,
        "channel_ids": [0],
    }


def supervision_record(s: Supervision) -> Record:
    record: Record = {
        "id": s.id,
        "recording_id": s.recording_id,
        "start": s.start,
        "duration": s.duration,
        "channel": 0,
    }
    for key in ("text", "language", "speaker"):
        if getattr(s, key):
            record[key] = getattr(s, key)
    if s.custom:
        record["custom"] = s.custom
    return record


def cut_record(rec: Record, sup: Record) -> Record:
    """A MonoCut holding the whole recording and its one supervision, with the
    supervision's id."""
    return {
        "id": sup["id"],
        "start": 0.0,
        "duration": rec["duration"],
        "channel": 0,
        "supervisions": [sup],
        "recording": rec,
        "type": "MonoCut",
    }


def write_jsonl(path: Path, records: Iterable[Record]) -> None:
    """One JSON object per line, gzipped (without a timestamp, so reruns are identical)
    when ``path`` ends in ``.gz``, replacing ``path`` whole."""
    lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode("utf-8")
    with atomic_write(path, "wb") as f:
        if str(path).endswith(".gz"):
            with gzip.GzipFile(filename="", mode="wb", fileobj=f, mtime=0) as gz:
                gz.write(lines)
        else:
            f.write(lines)
