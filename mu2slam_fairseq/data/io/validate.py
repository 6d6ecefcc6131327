"""Checking manifests before training on them: ``mu2slam-validate MANIFEST [MANIFEST...]``.

Training discovers a broken row only when a batch reaches it, hours in; this finds every
problem at once and names the file and line (header = line 1) of each:

- missing columns (``id``; ``audio`` with ``n_frames``; ``src_text`` for text rows) and rows
  whose field count disagrees with the header;
- empty and duplicate ids;
- empty texts where the manifest needs them: ``tgt_text`` on every row when the manifest has
  that column (ASR, AST, MT), ``src_text`` on text-only rows;
- audio that is missing, empty or unreadable, features with NaN or infinite values, and
  ``n_frames`` that disagrees with the audio (the array length of stored features; for
  audio files the number of 80-dim log-Mel frames after resampling to 16 kHz, or the number
  of samples, fairseq's convention for raw-audio manifests);
- ``units`` that are not integers or not one per 40 ms step of ``n_frames``;
- unknown language codes in ``src_lang``/``tgt_lang`` (see ``langcodes``).

Ids, frame counts, units and audio references are judged by the checks the datasets
refuse or skip rows on (``row_checks``), in the same words.
A UTF-8 byte order mark before the header is accepted, as ``read_manifest`` skips it.
Exit status 1 when anything is wrong, 2 on bad usage.
"""

import argparse
import codecs
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from .audio import AudioError, load_waveform, n_fbank_frames
from .features import NPY_MAGIC, load_features, read_bytes
from .langcodes import KNOWN_LANGS, is_known_language, suggestion
from .row_checks import RowChecks


@dataclass(frozen=True)
class Problem:
    """One defect, located by file and 1-based line (None: the file as a whole)."""

    path: str
    line: Optional[int]
    message: str

    def __str__(self) -> str:
        return (
            f"{self.path}:{self.line}: {self.message}"
            if self.line is not None
            else f"{self.path}: {self.message}"
        )


# (frames, samples or None) for a stored item, or the error text; shared between manifests
# of one run, since ASR, AST and unlabeled-speech manifests point at the same features.
AudioCache = Dict[Tuple[str, str], Tuple[Optional[Tuple[int, Optional[int]]], Optional[str]]]


def _measure(
    field: str, checks: RowChecks
) -> Tuple[Optional[Tuple[int, Optional[int]]], Optional[str]]:
    """``((frames, samples), None)`` for readable audio or features, ``(None, problem)`` otherwise."""
    problem = checks.audio(field)
    if problem:
        return None, problem
    root = checks.audio_root
    try:
        name, data = read_bytes(field, root)
        if data[:6] == NPY_MAGIC:
            return (load_features(field, root).shape[0], None), None
        wav = load_waveform(name, data)
    except AudioError as e:
        message = str(e)
        if "NaN or infinite" in message:
            return None, f"NaN or infinite values: {message}"
        return None, f"unreadable audio: {message}"
    return (n_fbank_frames(len(wav)), len(wav)), None


def validate_manifest(
    path: os.PathLike,
    langs: Optional[Iterable[str]] = None,
    extra_langs: Iterable[str] = (),
    check_audio: bool = True,
    audio_root: Optional[os.PathLike] = None,
    frame_tolerance: int = 0,
    cache: Optional[AudioCache] = None,
) -> List[Problem]:
    """Every problem of one manifest, in line order.

    ``langs`` restricts the allowed language codes to exactly these; ``extra_langs`` adds
    codes to the known ones. Relative audio paths are resolved against ``audio_root`` or,
    by default, the manifest's own folder.
    """
    path = Path(path)
    where = str(path)
    problems: List[Problem] = []
    allowed = set(langs) if langs is not None else None
    extra = set(extra_langs)
    root = Path(audio_root) if audio_root is not None else path.parent
    cache = {} if cache is None else cache
    checks = RowChecks(root)

    def report(line: Optional[int], message: str) -> None:
        problems.append(Problem(where, line, message))

    try:
        raw = path.read_bytes()
    except OSError as e:
        report(None, f"cannot read manifest ({e.strerror or e})")
        return problems
    lines = raw.removeprefix(codecs.BOM_UTF8).split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    if not lines or not lines[0].strip():
        report(None, "empty file (no header row)")
        return problems

    def decode(number: int, data: bytes) -> Optional[str]:
        try:
            return data.decode("utf-8").rstrip("\r")
        except UnicodeDecodeError as e:
            report(number, f"not valid UTF-8 (byte {e.start})")
            return None

    header_text = decode(1, lines[0])
    if header_text is None:
        return problems
    header = header_text.split("\t")
    for column in sorted({c for c in header if header.count(c) > 1}):
        report(1, f"duplicate column {column!r} in header")
    missing = [c for c in ("id",) if c not in header]
    if "audio" in header and "n_frames" not in header:
        missing.append("n_frames")
    if "n_frames" in header and "audio" not in header:
        missing.append("audio")
    if "audio" not in header and "src_text" not in header:
        missing.append("audio or src_text")
    if missing:
        report(1, f"missing column(s): {', '.join(missing)} (header: {' '.join(header)})")
    has_tgt = "tgt_text" in header

    for number, data in enumerate(lines[1:], start=2):
        text = decode(number, data)
        if text is None or not text.strip():
            continue
        fields = text.split("\t")
        if len(fields) != len(header):
            report(number, f"{len(fields)} fields but the header has {len(header)} (a stray tab?)")
            continue
        row = dict(zip(header, fields))
        uid = row.get("id", "")
        first = checks.duplicate_of(uid, number) if uid else None
        if "id" in header and not uid:
            report(number, "empty id")
        elif first is not None:
            report(number, f"duplicate id {uid!r} (first on line {first})")
        audio = row.get("audio", "")
        n_frames = row.get("n_frames", "")
        if audio:
            if has_tgt and not row["tgt_text"].strip():
                report(number, "empty tgt_text on a labeled speech row")
        elif "audio" in header and (n_frames or "src_text" not in header):
            report(number, "empty audio field" + (f" (n_frames is {n_frames})" if n_frames else ""))
        else:
            if "src_text" in header and not row["src_text"].strip():
                report(number, "empty src_text on a text row")
            elif "src_text" in header and has_tgt and not row["tgt_text"].strip():
                report(number, "empty tgt_text on a text pair row")
        for column in ("src_lang", "tgt_lang"):
            code = row.get(column, "")
            if not code:
                continue
            if allowed is not None and code not in allowed:
                report(
                    number, f"{column} {code!r} is not one of --langs {' '.join(sorted(allowed))}"
                )
            elif allowed is None and code not in extra and not is_known_language(code):
                hint = suggestion(code)
                report(
                    number,
                    f"unknown language code {code!r} in {column}"
                    + (f" (did you mean {hint!r}?)" if hint else ""),
                )
        if not audio:
            continue
        declared: Optional[int] = None
        if "n_frames" in header:
            declared, problem = checks.n_frames(n_frames)
            if problem:
                report(number, problem)
                declared = None
        if declared is not None and row.get("units"):
            problem = checks.units(row["units"], declared)[1]
            if problem:
                report(number, problem)
        if not check_audio:
            continue
        key = (str(root), audio)
        if key not in cache:
            cache[key] = _measure(audio, checks)
        measured, error = cache[key]
        if error:
            report(number, error)
            continue
        frames, samples = measured
        if frames == 0:
            report(number, f"audio {audio} is shorter than one 25 ms frame")
        elif (
            declared is not None
            and abs(declared - frames) > frame_tolerance
            and declared != samples
        ):
            what = f"{frames} feature frames" + (
                f" ({samples} samples at 16 kHz)" if samples is not None else ""
            )
            report(number, f"n_frames {declared} disagrees with the audio: {audio} has {what}")
    return problems


def validate_manifests(paths: Sequence[os.PathLike], **kwargs) -> List[Problem]:
    """Problems of several manifests, sharing one audio cache."""
    cache: AudioCache = kwargs.pop("cache", None) or {}
    problems: List[Problem] = []
    for p in paths:
        problems.extend(validate_manifest(p, cache=cache, **kwargs))
    return problems


def _codes(values: Optional[Sequence[str]]) -> Optional[List[str]]:
    if values is None:
        return None
    return [c for v in values for c in v.replace(",", " ").split()]


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="mu2slam-validate",
        description="Check TSV manifests (ASR, AST, MT, text, unlabeled speech) before training. "
        "Prints each problem as FILE:LINE: problem (line 1 is the header) and exits with "
        "status 1 if there is any.",
    )
    parser.add_argument("manifests", nargs="+", metavar="MANIFEST", help="manifest .tsv files")
    parser.add_argument(
        "--langs",
        nargs="+",
        metavar="CODE",
        help="allow only these language codes (space- or comma-separated), e.g. --langs en de",
    )
    parser.add_argument(
        "--extra-langs",
        nargs="+",
        metavar="CODE",
        default=[],
        help=f"accept these codes besides the {len(KNOWN_LANGS)} known ones and their "
        "region/script variants (zh-CN, cmn_hans_cn, ...)",
    )
    parser.add_argument(
        "--check-audio",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="open every audio file or stored feature item to check it is readable and "
        "agrees with n_frames (default: on)",
    )
    parser.add_argument(
        "--audio-root",
        type=Path,
        default=None,
        help="resolve relative audio paths against this folder (default: each manifest's folder)",
    )
    parser.add_argument(
        "--frame-tolerance",
        type=int,
        default=0,
        metavar="N",
        help="accept n_frames within N frames of the measured count (default: 0)",
    )
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="print problems only, no summary"
    )
    args = parser.parse_args(argv)
    problems = validate_manifests(
        args.manifests,
        langs=_codes(args.langs),
        extra_langs=_codes(args.extra_langs) or [],
        check_audio=args.check_audio,
        audio_root=args.audio_root,
        frame_tolerance=args.frame_tolerance,
    )
    for p in problems:
        print(p)
    if not args.quiet:
        bad = len({p.path for p in problems})
        print(
            f"{len(args.manifests)} manifest(s) checked: "
            + (f"{len(problems)} problem(s) in {bad} file(s)" if problems else "no problems"),
            file=sys.stderr,
        )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
