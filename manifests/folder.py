"""A folder of audio files with a transcript list -> ASR (or speech translation) manifests;
without a list -> an unlabeled speech manifest.

Audio: every ``.wav .flac .ogg .opus .mp3`` file below ``--audio-dir`` (any rate: n_frames
is measured after resampling to 16 kHz). A transcript list names each clip by its path
relative to ``--audio-dir``, with or without the extension, or by its bare file stem when
that is unique, followed by its text:

- ``--format tsv`` (default): ``NAME<TAB>TEXT`` per line, or ``NAME<TAB>TEXT<TAB>TRANSLATION``
  with ``--tgt-lang``; no quoting, so quotes and backslashes are kept;
- ``--format space``: ``NAME TEXT...`` split at the first run of spaces (Kaldi ``text`` files,
  LibriSpeech ``*.trans.txt``).

Ids are the clips' relative paths without extension. Outputs: ``<split>_asr_<lang>.tsv``,
``<split>_st_<lang>_<tgt>.tsv`` when translations are given, or ``<split>_speech_<lang>.tsv``
without a list.
"""

import argparse
import re
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from .common import PrepError, Summary, manifest_name, read_lines, text_lines, text_problem
from .rows import SPEECH_COLUMNS, UNLABELED_COLUMNS, asr_row, speech_row, st_row
from .template import Output, Pending, Script

COMMAND = "mu2slam-prep-folder"
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".opus", ".mp3")
SPACE = re.compile(r"[ \t]+")
DESCRIPTION = (
    "Make manifests from a folder of audio files (wav, flac, ogg, opus, mp3; searched "
    "recursively) and transcript lists: <split>_asr_<lang>.tsv, plus <split>_st_<lang>_<tgt>.tsv "
    "when the list has translations; without --transcripts, unlabeled speech "
    "<split>_speech_<lang>.tsv. A list line names a clip by its path below --audio-dir (with "
    "or without extension) or by its unique file stem."
)


def find_audio(audio_dir: Path) -> Dict[str, Path]:
    """``{relative path without extension: file}`` for every audio file below ``audio_dir``."""
    found: Dict[str, Path] = {}
    for p in sorted(audio_dir.rglob("*")):
        if p.suffix.lower() in AUDIO_EXTENSIONS and p.is_file():
            uid = p.relative_to(audio_dir).with_suffix("").as_posix()
            if uid in found:
                raise PrepError(f"{found[uid]} and {p} differ only in their extension; keep one")
            found[uid] = p
    if not found:
        raise PrepError(f"no audio files ({' '.join(AUDIO_EXTENSIONS)}) below {audio_dir}")
    return found


class Names:
    """Resolves the names a transcript list uses to clip ids."""

    def __init__(self, clips: Dict[str, Path], audio_dir: Path):
        self.lookup: Dict[str, str] = {}
        self.stems: Dict[str, List[str]] = {}
        for uid, p in clips.items():
            self.lookup[uid] = uid
            self.lookup[p.relative_to(audio_dir).as_posix()] = uid
            self.stems.setdefault(uid.rsplit("/", 1)[-1], []).append(uid)

    def resolve(self, name: str) -> Tuple[Optional[str], Optional[str]]:
        """``(clip id, None)`` or ``(None, why not)``."""
        name = name.strip()
        if name.startswith("./"):
            name = name[2:]
        if name in self.lookup:
            return self.lookup[name], None
        matches = self.stems.get(name, [])
        if len(matches) == 1:
            return matches[0], None
        return None, (
            "name matches several audio files" if matches else "no audio file for this name"
        )


def read_list(
    path: Path, fmt: str, with_translation: bool, header: bool, summary: Summary
) -> List[Tuple[str, List[str]]]:
    """``[(name, [text] or [text, translation])]`` of one transcript list."""
    entries = []
    want = 3 if with_translation else 2
    for number, line in text_lines(path, read_lines(path)[1 if header else 0 :], summary):
        where = f"{path.name}:{number}"
        fields = line.split("\t") if fmt == "tsv" else SPACE.split(line, maxsplit=1)
        if len(fields) != want:
            summary.drop(f"{len(fields)} fields where the list needs {want}", where)
            continue
        entries.append((fields[0], fields[1:]))
    return entries


def prepare(args: argparse.Namespace, out: Output) -> None:
    lang, tgt, split = args.lang, args.tgt_lang, args.split
    if args.format == "space" and tgt:
        raise PrepError(
            "--tgt-lang needs --format tsv (NAME, TEXT and TRANSLATION separated by tabs)"
        )
    manifest_name(split, "asr", lang)  # a bad split name fails before any audio is read
    clips = find_audio(args.audio_dir)
    if not args.transcripts:
        pending = [Pending(uid, uid, speech_row(uid, lang)) for uid in clips]
        out.write_speech(clips, "clips", [(pending, UNLABELED_COLUMNS, split, "speech", lang)])
        return

    names = Names(clips, args.audio_dir)
    labeled: Dict[str, List[str]] = {}
    for path in args.transcripts:
        for name, texts in read_list(path, args.format, bool(tgt), args.header, out.summary):
            uid, why = names.resolve(name)
            if uid is None:
                out.drop(why, name)
            elif uid in labeled:
                out.drop("clip listed twice", name)
            else:
                labeled[uid] = texts
    unused = len(clips) - len(labeled)
    if unused:
        out.note(f"{unused} audio file(s) have no line in the transcript list and are not used")
    asr, st = [], []
    for uid, texts in labeled.items():
        problem = text_problem(texts[0])
        problem = problem and f"transcript: {problem}"
        asr.append(Pending(uid, uid, asr_row(uid, texts[0], lang), problem))
        if tgt:
            translation = text_problem(texts[1])
            problem = problem or translation and f"translation: {translation}"
            st.append(Pending(uid, uid, st_row(uid, texts[0], texts[1], lang, tgt), problem))
    plans = [(asr, SPEECH_COLUMNS, split, "asr", lang)]
    if tgt:
        plans.append((st, SPEECH_COLUMNS, split, "st", lang, tgt))
    out.write_speech({uid: clips[uid] for uid in labeled}, "clips", plans)


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--audio-dir", type=Path, required=True, help="folder holding the audio files"
    )
    parser.add_argument("--lang", required=True, help="language code of the speech, e.g. nl")
    parser.add_argument(
        "--transcripts", nargs="+", type=Path, default=[], metavar="FILE", help="transcript list(s)"
    )
    parser.add_argument(
        "--format",
        choices=("tsv", "space"),
        default="tsv",
        help="tsv: NAME<TAB>TEXT[<TAB>TRANSLATION]; space: NAME TEXT (split at the first spaces) (default: tsv)",
    )
    parser.add_argument(
        "--header", action="store_true", help="the lists start with a header line to skip"
    )
    parser.add_argument(
        "--tgt-lang", help="the lists' third column is a translation into this language"
    )
    parser.add_argument(
        "--split",
        default="train",
        help="split name of the outputs, starting with train, dev or test (default: train)",
    )


main = Script(COMMAND, DESCRIPTION, arguments, prepare, corpus="audio_dir").main


if __name__ == "__main__":
    raise SystemExit(main())
