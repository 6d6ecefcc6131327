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
from typing import Dict, List, Optional, Sequence, Tuple

from .common import (
    NOT_UTF8,
    Options,
    PrepError,
    Summary,
    add_output_args,
    finish,
    manifest_name,
    options_from,
    prepare_audio,
    read_lines,
    run,
    text_problem,
    write_speech,
)
from .rows import SPEECH_COLUMNS, UNLABELED_COLUMNS, asr_row

COMMAND = "mu2slam-prep-folder"
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".opus", ".mp3")
SPACE = re.compile(r"[ \t]+")


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
    for number, line in read_lines(path)[1 if header else 0 :]:
        where = f"{path.name}:{number}"
        if line is None:
            summary.drop(NOT_UTF8, where)
            continue
        if not line.strip():
            continue
        fields = line.split("\t") if fmt == "tsv" else SPACE.split(line, maxsplit=1)
        if len(fields) != want:
            summary.drop(f"{len(fields)} fields where the list needs {want}", where)
            continue
        entries.append((fields[0], fields[1:]))
    return entries


def prepare(
    audio_dir: Path,
    lang: str,
    transcripts: Sequence[Path],
    fmt: str,
    tgt: Optional[str],
    header: bool,
    split: str,
    opts: Options,
) -> Summary:
    summary = Summary(COMMAND, opts.out)
    if fmt == "space" and tgt:
        raise PrepError(
            "--tgt-lang needs --format tsv (NAME, TEXT and TRANSLATION separated by tabs)"
        )
    manifest_name(split, "asr", lang)  # a bad split name fails before any audio is read
    clips = find_audio(audio_dir)
    if not transcripts:
        ready, failed = prepare_audio(clips, opts, summary, desc="clips")
        rows = []
        for uid in clips:
            if uid in failed:
                summary.drop(failed[uid], uid)
                continue
            audio, n = ready[uid]
            rows.append(
                {"id": uid, "audio": audio, "n_frames": str(n), "src_lang": lang, "speaker": ""}
            )
        write_speech(manifest_name(split, "speech", lang), rows, UNLABELED_COLUMNS, opts, summary)
        return summary

    names = Names(clips, audio_dir)
    labeled: Dict[str, List[str]] = {}
    for path in transcripts:
        for name, texts in read_list(path, fmt, bool(tgt), header, summary):
            uid, why = names.resolve(name)
            if uid is None:
                summary.drop(why, name)
            elif uid in labeled:
                summary.drop("clip listed twice", name)
            else:
                labeled[uid] = texts
    unused = len(clips) - len(labeled)
    if unused:
        summary.note(f"{unused} audio file(s) have no line in the transcript list and are not used")
    ready, failed = prepare_audio({uid: clips[uid] for uid in labeled}, opts, summary, desc="clips")
    asr_rows, st_rows = [], []
    for uid, texts in labeled.items():
        if uid in failed:
            summary.drop(failed[uid], uid, n=2 if tgt else 1)
            continue
        audio, n = ready[uid]
        problem = text_problem(texts[0])
        if problem:
            summary.drop(f"transcript: {problem}", uid, n=2 if tgt else 1)
            continue
        asr_rows.append(asr_row(uid, audio, n, texts[0], lang, ""))
        if tgt:
            problem = text_problem(texts[1])
            if problem:
                summary.drop(f"translation: {problem}", uid)
            else:
                st_rows.append(
                    {
                        "id": uid,
                        "audio": audio,
                        "n_frames": str(n),
                        "src_text": texts[0],
                        "tgt_text": texts[1],
                        "src_lang": lang,
                        "tgt_lang": tgt,
                        "speaker": "",
                    }
                )
    write_speech(manifest_name(split, "asr", lang), asr_rows, SPEECH_COLUMNS, opts, summary)
    if tgt:
        write_speech(manifest_name(split, "st", lang, tgt), st_rows, SPEECH_COLUMNS, opts, summary)
    return summary


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog=COMMAND,
        description="Make manifests from a folder of audio files (wav, flac, ogg, opus, mp3; searched "
        "recursively) and transcript lists: <split>_asr_<lang>.tsv, plus <split>_st_<lang>_<tgt>.tsv "
        "when the list has translations; without --transcripts, unlabeled speech "
        "<split>_speech_<lang>.tsv. A list line names a clip by its path below --audio-dir (with "
        "or without extension) or by its unique file stem.",
    )
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
    add_output_args(parser)
    args = parser.parse_args(argv)
    opts = options_from(args, args.audio_dir)
    return run(
        COMMAND,
        lambda: finish(
            prepare(
                args.audio_dir,
                args.lang,
                args.transcripts,
                args.format,
                args.tgt_lang,
                args.header,
                args.split,
                opts,
            ),
            opts,
        ),
    )


if __name__ == "__main__":
    raise SystemExit(main())
