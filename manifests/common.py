"""What every corpus script shares: reading corpus files exactly, measuring or featurizing
audio, writing manifests, validating them and printing the summary.

Corpus files are read as bytes and split on ``\\n`` only (a trailing ``\\r`` is removed),
then split on tabs: no CSV quoting, so unbalanced ``"`` and backslashes reach the manifest
unchanged, and a stray ``\\r`` or U+2028 inside a text can never shift lines. A text that
cannot be written to a manifest (a tab or line break inside it) or is empty drops its row,
and every dropped row is counted under its reason in the summary.

Audio paths in ``audio`` are written relative to ``--audio-root`` when given; otherwise
relative to the manifest's folder when the clip lies below it, or when the manifests are
written inside the corpus folder (then ``../`` paths keep corpus and manifests movable as
one tree); otherwise absolute. The validator and the data layer resolve relative paths
against the manifest's folder, or against ``--audio-root``/``audio_root`` when given.
With ``--features`` the clips' 80-dim log-Mel features go into one uncompressed zip beside
the manifests, and ``audio`` holds ``ZIP:OFFSET:LENGTH`` references. A clip may be a
``Segment`` of a longer file (lhotse supervisions); only features can hold one, since an
``audio`` path names a whole file.
"""

import argparse
import gzip
import os
import sys
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

from mu2slam_fairseq.atomic import AtomicFile
from mu2slam_fairseq.data.io.audio import SAMPLE_RATE, AudioError, load_waveform, n_fbank_frames
from mu2slam_fairseq.data.io.manifest import ManifestError, write_manifest
from mu2slam_fairseq.data.io.validate import Problem, validate_manifests

from .featurize import Source, build_feature_zip, file_signature, index_path

SPLIT_PREFIXES = ("train", "dev", "test")
FRAMES_PER_HOUR = 100 * 3600

# Reasons a clip cannot be used (shared wording, so the summary groups them).
MISSING_AUDIO = "missing audio file"
ZERO_BYTE_AUDIO = "zero-byte audio file"
UNREADABLE_AUDIO = "unreadable audio"
SHORT_AUDIO = "audio shorter than one 25 ms frame"
NONFINITE_AUDIO = "audio with NaN or infinite samples"
SEGMENT_NEEDS_FEATURES = "a segment of a longer recording: only --features can hold it"
EMPTY_TEXT = "empty text"
TAB_IN_TEXT = "tab inside a text"
BREAK_IN_TEXT = "line break inside a text"
NOT_UTF8 = "line is not valid UTF-8"


class PrepError(RuntimeError):
    """Inputs a script cannot work from (missing files, misaligned corpora, bad options)."""


# ----------------------------------------------------------------------------- reading


def open_binary(path: Path) -> IO[bytes]:
    """The file's bytes, gunzipped when it ends in ``.gz``."""
    return gzip.open(path, "rb") if str(path).endswith(".gz") else open(path, "rb")


def iter_lines(stream: Iterable[bytes]) -> Iterator[Tuple[int, Optional[str]]]:
    """``(1-based line number, text or None when not UTF-8)``, split on ``\\n`` only.

    One trailing ``\\r`` is removed (CRLF files); a UTF-8 byte order mark on line 1 too.
    """
    for number, raw in enumerate(stream, start=1):
        if raw.endswith(b"\n"):
            raw = raw[:-1]
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        try:
            yield number, raw.decode("utf-8")
        except UnicodeDecodeError:
            yield number, None


def text_lines(
    path: Path, lines: Iterable[Tuple[int, Optional[str]]], summary: "Summary"
) -> Iterator[Tuple[int, str]]:
    """The non-blank lines of ``path`` with their numbers; a line that is not UTF-8 is
    dropped and counted under ``NOT_UTF8``."""
    for number, text in lines:
        if text is None:
            summary.drop(NOT_UTF8, f"{path.name}:{number}")
        elif text.strip():
            yield number, text


def read_lines(path: Path) -> List[Tuple[int, Optional[str]]]:
    """All lines of a (possibly gzipped) text file, as ``iter_lines`` gives them."""
    with open_binary(path) as f:
        return list(iter_lines(f))


@dataclass
class TsvRow:
    line: int
    fields: Dict[str, str]

    def __getitem__(self, column: str) -> str:
        return self.fields[column]

    def get(self, column: str, default: str = "") -> str:
        return self.fields.get(column, default)


def read_tsv(
    path: Path,
    summary: "Summary",
    columns: Optional[Sequence[str]] = None,
    required: Sequence[str] = (),
    lines: Optional[Iterable[Tuple[int, Optional[str]]]] = None,
) -> List[TsvRow]:
    """Rows of a tab-separated file with quoting disabled, keyed by column name.

    ``columns`` names the columns of a file without a header row; otherwise the first line
    is the header and ``required`` columns must be in it. Rows whose field count differs
    from the header, or that are not UTF-8, are dropped and counted. ``lines`` gives the
    file's lines when they come from elsewhere (an archive member named ``path``).
    """
    if lines is None:
        with open_binary(path) as f:
            return read_tsv(path, summary, columns, required, iter_lines(f))
    lines = iter(lines)
    if columns is None:
        first = next(lines, (1, ""))[1]
        if first is None or not first.strip():
            raise PrepError(f"{path}: no header row")
        header = first.split("\t")
        missing = [c for c in required if c not in header]
        if missing:
            raise PrepError(
                f"{path}: no column(s) {', '.join(missing)} in the header ({' '.join(header)})"
            )
    else:
        header = list(columns)
    rows = []
    for number, text in text_lines(path, lines, summary):
        fields = text.split("\t")
        if len(fields) != len(header):
            summary.drop(
                f"{len(fields)} fields where {path.name} has {len(header)} columns",
                f"{path.name}:{number}",
            )
            continue
        rows.append(TsvRow(number, dict(zip(header, fields))))
    return rows


def text_problem(text: str) -> Optional[str]:
    """Why ``text`` cannot go into a manifest unchanged, or None."""
    if not text.strip():
        return EMPTY_TEXT
    if "\t" in text:
        return TAB_IN_TEXT
    if "\n" in text or "\r" in text:
        return BREAK_IN_TEXT
    return None


def manifest_name(split: str, task: str, *langs: str) -> str:
    """fairseq's ``{split}_{task}_{langs}.tsv``; the split must start with train, dev or test."""
    if not split.startswith(SPLIT_PREFIXES):
        raise PrepError(f"split {split!r} must start with one of {', '.join(SPLIT_PREFIXES)}")
    return "_".join((split, task) + langs) + ".tsv"


# ----------------------------------------------------------------------------- summary


@dataclass
class ManifestStats:
    rows: int = 0
    frames: int = 0
    speech: bool = False
    languages: Counter = field(default_factory=Counter)

    def add(self, row: Dict[str, str]) -> None:
        self.rows += 1
        if row.get("audio"):
            self.speech = True
            self.frames += int(row.get("n_frames") or 0)
        src, tgt = row.get("src_lang", ""), row.get("tgt_lang", "")
        self.languages[src if not tgt or tgt == src else f"{src}->{tgt}"] += 1


@dataclass
class Summary:
    """Everything a run reports: manifests written, rows dropped (and why), validator problems."""

    command: str
    out: Path
    manifests: Dict[str, ManifestStats] = field(default_factory=dict)
    dropped: Counter = field(default_factory=Counter)
    examples: Dict[str, str] = field(default_factory=dict)
    notes: List[str] = field(default_factory=list)
    problems: List[Problem] = field(default_factory=list)
    validated: bool = False
    audio_frames: Dict[str, int] = field(default_factory=dict)  # distinct audio -> n_frames
    clips: int = 0  # and clips counted without their audio (see ``count_clip``)
    clip_frames: int = 0

    def drop(self, reason: str, example: str = "", n: int = 1) -> None:
        """Count ``n`` dropped rows under ``reason``; ``example`` names the first one."""
        self.dropped[reason] += n
        if example and reason not in self.examples:
            self.examples[reason] = example

    def note(self, message: str) -> None:
        self.notes.append(message)

    def count_clip(self, n_frames: int) -> None:
        """Count a clip the caller knows to be distinct from every other of the run, without
        keeping its audio field (streamed corpora of millions of clips)."""
        self.clips += 1
        self.clip_frames += n_frames

    def record(self, name: str, rows: Iterable[Dict[str, str]]) -> ManifestStats:
        stats = self.manifests.setdefault(name, ManifestStats())
        for row in rows:
            stats.add(row)
            if row.get("audio"):
                self.audio_frames[row["audio"]] = int(row.get("n_frames") or 0)
        return stats

    @property
    def paths(self) -> List[Path]:
        return [self.out / name for name in self.manifests]

    @property
    def hours(self) -> float:
        """Hours of distinct audio (ASR and ST manifests of one corpus share their clips)."""
        return (sum(self.audio_frames.values()) + self.clip_frames) / FRAMES_PER_HOUR

    @property
    def languages(self) -> List[str]:
        codes = set()
        for s in self.manifests.values():
            for key in s.languages:
                codes.update(key.split("->"))
        return sorted(codes)

    def text(self) -> str:
        lines = [f"{self.command}: wrote {len(self.manifests)} manifest(s) to {self.out}"]
        width = max([len(n) for n in self.manifests] + [8])
        lines.append(f"  {'manifest':{width}} {'rows':>9} {'hours':>8}  languages")
        for name, s in self.manifests.items():
            hours = f"{s.frames / FRAMES_PER_HOUR:.2f}" if s.speech else ""
            langs = " ".join(f"{k}:{v}" for k, v in sorted(s.languages.items()))
            lines.append(f"  {name:{width}} {s.rows:>9} {hours:>8}  {langs}")
        total = sum(s.rows for s in self.manifests.values())
        hours = f"{self.hours:.2f}" if self.audio_frames or self.clips else ""
        lines.append(
            f"  {'total':{width}} {total:>9} {hours:>8}  languages: {' '.join(self.languages)}"
        )
        if self.audio_frames or self.clips:
            lines.append(
                f"  ({len(self.audio_frames) + self.clips} distinct clips; total hours count each clip once)"
            )
        if self.dropped:
            lines.append(f"rows dropped: {sum(self.dropped.values())}")
            for reason, n in sorted(self.dropped.items(), key=lambda kv: (-kv[1], kv[0])):
                eg = f" (e.g. {self.examples[reason]})" if reason in self.examples else ""
                lines.append(f"  {n:>9}  {reason}{eg}")
        else:
            lines.append("rows dropped: 0")
        lines += [f"note: {n}" for n in self.notes]
        if self.validated:
            lines.append(
                f"validator: {len(self.problems)} problem(s)"
                if self.problems
                else "validator: no problems"
            )
            lines += [f"  {p}" for p in self.problems[:20]]
            if len(self.problems) > 20:
                lines.append(f"  ... and {len(self.problems) - 20} more")
        return "\n".join(lines)


# ----------------------------------------------------------------------------- options


@dataclass
class Options:
    """The output settings every script shares (see ``add_output_args``)."""

    out: Path
    corpus: Optional[Path] = None  # the corpus folder the script reads (see ``audio_field``)
    features: Optional[str] = None
    audio_root: Optional[Path] = None
    validate: bool = True
    check_audio: bool = True
    progress: bool = True


def add_output_args(parser: argparse.ArgumentParser, speech: bool = True) -> None:
    """--out, --no-validate, --no-progress and, for speech corpora, the audio options."""
    parser.add_argument(
        "--out",
        type=Path,
        required=True,
        help="folder the manifests (and the feature zip) are written to"
        if speech
        else "folder the manifests are written to",
    )
    if speech:
        where = parser.add_mutually_exclusive_group()
        where.add_argument(
            "--features",
            nargs="?",
            const="fbank80.zip",
            default=None,
            metavar="ZIP",
            help="compute 80-dim log-Mel features into OUT/ZIP (default name fbank80.zip) and point "
            "the manifests at it, so training never decodes audio; refuses to replace a zip that "
            "holds items of another run",
        )
        where.add_argument(
            "--audio-root",
            type=Path,
            default=None,
            help="write audio paths relative to this folder (pass the same --audio-root to "
            "mu2slam-validate and audio_root to training); default: relative to OUT when the "
            "clips lie below it or OUT lies inside the corpus folder, absolute otherwise",
        )
        parser.add_argument(
            "--no-check-audio",
            dest="check_audio",
            action="store_false",
            help="let the validator check rows only, without decoding every clip again",
        )
    parser.add_argument(
        "--no-validate",
        dest="validate",
        action="store_false",
        help="do not run the validator on the output",
    )
    parser.add_argument(
        "--no-progress", dest="progress", action="store_false", help="no progress bars"
    )


def options_from(args: argparse.Namespace, corpus: Optional[Path] = None) -> Options:
    """The shared options; ``corpus`` is the folder the script reads from."""
    return Options(
        out=args.out,
        corpus=corpus,
        features=getattr(args, "features", None),
        audio_root=getattr(args, "audio_root", None),
        validate=args.validate,
        check_audio=getattr(args, "check_audio", True),
        progress=args.progress,
    )


def progress(
    items: Iterable, opts: Options, desc: str, total: Optional[int] = None, unit: str = "row"
) -> Iterable:
    """``items`` with a progress bar on stderr unless --no-progress."""
    if not opts.progress:
        return items
    from tqdm import tqdm

    return tqdm(items, desc=desc, total=total, unit=unit, mininterval=1.0, file=sys.stderr)


# ----------------------------------------------------------------------------- audio


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def audio_field(path: Path, opts: Options) -> str:
    """How a manifest written to ``opts.out`` refers to ``path`` (see the module docstring)."""
    path = Path(os.path.abspath(path))
    out = Path(os.path.abspath(opts.out))
    if opts.audio_root is not None:
        root = Path(os.path.abspath(opts.audio_root))
        return path.relative_to(root).as_posix() if _inside(path, root) else str(path)
    corpus = Path(os.path.abspath(opts.corpus)) if opts.corpus is not None else None
    if _inside(path, out) or (
        corpus is not None and _inside(out, corpus) and _inside(path, corpus)
    ):
        return Path(os.path.relpath(path, out)).as_posix()
    return str(path)


@dataclass(frozen=True)
class Segment:
    """``duration`` seconds of ``path`` from ``start``: a clip that is part of a longer file."""

    path: Path
    start: float
    duration: float

    def load(self) -> np.ndarray:
        """The segment's samples at 16 kHz, cut after resampling the whole file."""
        first = round(self.start * SAMPLE_RATE)
        return load_waveform(self.path)[first : first + round(self.duration * SAMPLE_RATE)]

    def signature(self) -> str:
        return f"{file_signature(self.path)}@{self.start}+{self.duration}"


Clip = Union[Path, Segment]


def audio_problem(message: str) -> str:
    """The summary's reason for an ``AudioError`` message."""
    if "shorter than one" in message:
        return SHORT_AUDIO
    return NONFINITE_AUDIO if "NaN or infinite" in message else UNREADABLE_AUDIO


def _precheck(path: Path) -> Optional[str]:
    try:
        size = path.stat().st_size
    except OSError:
        return MISSING_AUDIO
    return ZERO_BYTE_AUDIO if size == 0 else None


def guard_zip(zip_path: Path, keys: Iterable[str]) -> None:
    """Refuse to replace a feature zip that holds items this run would not write again."""
    if not zip_path.exists():
        return
    try:
        with zipfile.ZipFile(zip_path) as zf:
            stored = {n[: -len(".npy")] for n in zf.namelist() if n.endswith(".npy")}
    except zipfile.BadZipFile:
        raise PrepError(
            f"{zip_path} exists and is not a zip; remove it or choose another --features name"
        ) from None
    foreign = stored - set(keys)
    if foreign:
        raise PrepError(
            f"{zip_path} holds {len(foreign)} item(s) of another run (e.g. {sorted(foreign)[0]!r}); "
            "choose another --features name or --out folder"
        )


def _source(key: str, clip: Clip) -> Source:
    if isinstance(clip, Segment):
        return Source(key, clip.load, clip.signature())
    return Source(key, (lambda: load_waveform(clip)), file_signature(clip))


def prepare_audio(
    clips: Dict[str, Clip], opts: Options, summary: Summary, desc: str = "audio"
) -> Tuple[Dict[str, Tuple[str, int]], Dict[str, str]]:
    """``({key: (audio field, n_frames)}, {key: why it is unusable})`` for ``clips``.

    n_frames is always measured from the audio (decoded and resampled to 16 kHz, as the
    validator and the data layer do), never taken from a corpus's own duration column.
    """
    failed: Dict[str, str] = {}
    usable: Dict[str, Clip] = {}
    for key, clip in clips.items():
        problem = _precheck(clip.path if isinstance(clip, Segment) else clip)
        if problem:
            failed[key] = problem
        elif isinstance(clip, Segment) and not opts.features:
            failed[key] = SEGMENT_NEEDS_FEATURES
        else:
            usable[key] = clip
    ready: Dict[str, Tuple[str, int]] = {}
    if opts.features:
        zip_path = opts.out / opts.features
        guard_zip(zip_path, usable)
        sources = [_source(key, clip) for key, clip in usable.items()]
        items, errors, reused = build_feature_zip(
            zip_path, sources, progress=opts.progress, desc=desc
        )
        if reused:
            summary.note(f"{zip_path.name} already held these clips' features; reused it")
        ready = dict(items)
        failed.update({k: audio_problem(m) for k, m in errors.items()})
        if not items and zip_path.exists():
            zip_path.unlink()
            index_path(zip_path).unlink(missing_ok=True)
        return ready, failed
    for key, path in progress(usable.items(), opts, desc, total=len(usable), unit="clip"):
        try:
            n = n_fbank_frames(len(load_waveform(path)))
        except AudioError as e:
            failed[key] = audio_problem(str(e))
            continue
        if n == 0:
            failed[key] = SHORT_AUDIO
            continue
        ready[key] = (audio_field(path, opts), n)
    return ready, failed


# ----------------------------------------------------------------------------- writing


def write_rows(
    name: str, rows: List[Dict[str, str]], columns: Sequence[str], opts: Options, summary: Summary
) -> None:
    """Write one manifest whole (skipped, with a note, when no row is left)."""
    if not rows:
        summary.note(f"{name}: no rows left, not written")
        return
    opts.out.mkdir(parents=True, exist_ok=True)
    write_manifest(opts.out / name, rows, columns)
    summary.record(name, rows)


class StreamingManifest:
    """A manifest written row by row (corpora too large to hold), atomically; its clips, if
    any, are counted by the caller (``Summary.count_clip``).

    Rows go to a temporary file in the target folder, renamed over the target only when
    the ``with`` block ends without an error; an empty result writes nothing.
    """

    def __init__(self, path: Path, columns: Sequence[str], summary: Summary):
        self.path, self.columns, self.summary = Path(path), tuple(columns), summary
        self.stats = ManifestStats()
        self._pending: Optional[AtomicFile] = None
        self._file: Optional[IO[str]] = None

    def __enter__(self) -> "StreamingManifest":
        self._pending = AtomicFile(self.path, "w", encoding="utf-8", newline="")
        self._file = self._pending.file
        self._file.write("\t".join(self.columns) + "\n")
        return self

    def write(self, row: Dict[str, str]) -> None:
        values = []
        for c in self.columns:
            v = row.get(c, "") or ""
            if any(ch in v for ch in "\t\n\r"):
                raise ManifestError(
                    self.path, self.stats.rows + 2, f"column {c!r} contains a tab or newline: {v!r}"
                )
            values.append(v)
        self._file.write("\t".join(values) + "\n")
        self.stats.add(row)

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None and self.stats.rows:
            self._pending.commit()
            self.summary.manifests[self.path.name] = self.stats
        else:
            self._pending.discard()
            if exc_type is None:
                self.summary.note(f"{self.path.name}: no rows left, not written")


# ----------------------------------------------------------------------------- finishing


def finish(summary: Summary, opts: Options) -> int:
    """Validate what was written, print the summary; exit status 1 if the validator objects
    or nothing was written."""
    if opts.validate and summary.manifests:
        summary.problems = validate_manifests(
            summary.paths, audio_root=opts.audio_root, check_audio=opts.check_audio
        )
        summary.validated = True
    print(summary.text())
    if not summary.manifests:
        print(
            f"{summary.command}: no manifest was written (every row was dropped, or no input matched)",
            file=sys.stderr,
        )
        return 1
    return 1 if summary.problems else 0


def run(command: str, body: Callable[[], int]) -> int:
    """Run a script's body, turning input problems into one message and exit status 2."""
    try:
        return body()
    except (PrepError, ManifestError) as e:
        print(f"{command}: error: {e}", file=sys.stderr)
        return 2
