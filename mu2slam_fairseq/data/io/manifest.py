"""Reading and writing the TSV manifest shared by every data type.

The format is fairseq's speech_to_text one (tab-separated, header row, quoting disabled)
with extra optional columns, so a manifest written here loads in fairseq unchanged and
fairseq's own manifests load here. Unlike fairseq's writer, texts are never escaped:
quotes and backslashes stay as they are, and a tab or newline inside a field is an
error rather than a silently broken row. A UTF-8 byte order mark at the start of a
manifest (spreadsheet exports write one) is skipped on reading, not taken as part of the
first column name.
"""

import csv
import os
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, Optional, Sequence

from ...atomic import (
    write_text as atomic_write_text,
)  # also imported from here by the corpus scripts

COLUMNS = (
    "id",
    "audio",
    "n_frames",
    "src_text",
    "tgt_text",
    "src_lang",
    "tgt_lang",
    "speaker",
    "units",
)
SPEECH_REQUIRED = ("id", "audio", "n_frames")
TEXT_REQUIRED = ("id", "src_text")

Row = Dict[str, str]


class ManifestError(ValueError):
    """A problem in a manifest, located by file and (1-based, header = line 1) line."""

    def __init__(self, path: os.PathLike, line: Optional[int], problem: str):
        self.path, self.line, self.problem = str(path), line, problem
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {problem}")


def read_manifest(path: os.PathLike, required: Sequence[str] = ("id",)) -> List[Row]:
    """Rows as dicts keyed by column name; missing optional columns read as ''."""
    return list(iter_manifest(path, required))


def iter_manifest(path: os.PathLike, required: Sequence[str] = ("id",)) -> Iterator[Row]:
    """``read_manifest`` one row at a time, so that a huge manifest is never held whole."""
    path = Path(path)
    with open(path, encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f, delimiter="\t", quotechar=None, quoting=csv.QUOTE_NONE)
        try:
            header = next(reader)
        except StopIteration:
            raise ManifestError(path, None, "empty file (no header row)") from None
        missing = [c for c in required if c not in header]
        if missing:
            raise ManifestError(
                path, 1, f"missing column(s) {', '.join(missing)}; header is {header}"
            )
        if len(set(header)) != len(header):
            raise ManifestError(path, 1, f"duplicate column names in header {header}")
        for fields in reader:
            line = reader.line_num
            if not fields:
                continue
            if len(fields) != len(header):
                raise ManifestError(
                    path,
                    line,
                    f"{len(fields)} fields but the header has {len(header)} (a stray tab?)",
                )
            row = dict(zip(header, fields))
            for c in COLUMNS:
                row.setdefault(c, "")
            yield row


def _check_field(path: Path, index: int, column: str, value: str) -> None:
    if any(ch in value for ch in "\t\n\r"):
        raise ManifestError(
            path, index + 2, f"column {column!r} contains a tab or newline: {value!r}"
        )


def write_manifest(
    path: os.PathLike, rows: Iterable[Row], columns: Optional[Sequence[str]] = None
) -> int:
    """Write rows atomically (temporary file in the same folder, then rename).

    ``columns`` defaults to the standard columns that at least one row fills, in
    standard order, followed by any extra columns in first-seen order.
    """
    path = Path(path)
    rows = list(rows)
    if columns is None:
        filled = {k for r in rows for k, v in r.items() if v not in ("", None)}
        extra = [k for r in rows for k in r if k not in COLUMNS]
        columns = [c for c in COLUMNS if c in filled or c == "id"] + list(
            dict.fromkeys(e for e in extra if e in filled)
        )
    lines = ["\t".join(columns)]
    for i, row in enumerate(rows):
        values = []
        for c in columns:
            v = row.get(c, "")
            v = "" if v is None else str(v)
            _check_field(path, i, c, v)
            values.append(v)
        lines.append("\t".join(values))
    atomic_write_text(path, "\n".join(lines) + "\n")
    return len(rows)


def is_speech_row(row: Row) -> bool:
    return bool(row.get("audio"))
