"""Common Voice (any release) -> ASR manifests, and unlabeled speech from its other clips.

A release unpacks to ``cv-corpus-<version>-<date>/<locale>/`` with ``clips/*.mp3``
(48 kHz) and ``{train,dev,test,validated,invalidated,other}.tsv``. The TSV headers change
between releases (v4: ``client_id path sentence up_votes down_votes age gender accent``;
v5-v12 add ``locale segment``; later ``accents``; v17+ add ``sentence_id``,
``sentence_domain`` and ``variant``), so columns are selected by name: ``path``,
``sentence`` and, when present, ``client_id`` (the speaker).

Outputs per locale (the locale's own code, e.g. ``zh-CN``, ``sv-SE``):
``{train,dev,test}_asr_<locale>.tsv`` (id = clip name without ``.mp3``, transcript in both
``src_text`` and ``tgt_text``) and, with ``--speech``, ``train_speech_<locale>.tsv`` from
the clips of ``--speech-from`` (default ``other.tsv``: recorded but not yet validated),
leaving out every clip of the dev and test manifests.
"""

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from .common import PrepError, Summary, read_tsv, text_problem
from .rows import SPEECH_COLUMNS, UNLABELED_COLUMNS, asr_row, speech_row
from .template import Output, Pending, Script

COMMAND = "mu2slam-prep-common-voice"
ASR_SPLITS = ("train", "dev", "test")
DESCRIPTION = (
    "Make ASR manifests {train,dev,test}_asr_<locale>.tsv from a Common Voice release "
    "(any version: columns are found by header name), and optionally unlabeled speech "
    "train_speech_<locale>.tsv. Input: ROOT is either one locale folder (holding clips/ and "
    "train.tsv, dev.tsv, test.tsv) or the release folder cv-corpus-<version>-<date> holding "
    "locale folders. Clips that are missing, empty (zero bytes) or unreadable are dropped and "
    "counted; texts are copied unchanged."
)


@dataclass
class Clip:
    """One row of a Common Voice TSV, by column name."""

    line: int
    path: str
    sentence: str
    client_id: str

    @property
    def id(self) -> str:
        return self.path[: -len(".mp3")] if self.path.endswith(".mp3") else self.path


def read_clips(tsv: Path, summary: Summary, need_sentence: bool = True) -> List[Clip]:
    """The rows of a Common Voice TSV of any release (columns found by header name)."""
    required = ("path", "sentence") if need_sentence else ("path",)
    rows = read_tsv(tsv, summary, required=required)
    return [Clip(r.line, r["path"], r.get("sentence"), r.get("client_id")) for r in rows]


def clip_file(folder: Path, path: str) -> Path:
    """``folder/clips/<path>``; early releases list paths without ``.mp3``."""
    clip = folder / "clips" / path
    if (
        not path.endswith(".mp3")
        and not clip.exists()
        and clip.with_name(clip.name + ".mp3").exists()
    ):
        return clip.with_name(clip.name + ".mp3")
    return clip


def clip_index(clips: List[Clip], summary: Summary, what: str) -> Dict[str, Clip]:
    """``{path: clip}``; a repeated path keeps its first row and counts the others."""
    index: Dict[str, Clip] = {}
    for c in clips:
        if c.path in index:
            summary.drop(f"duplicate path in {what}", c.path)
        else:
            index[c.path] = c
    return index


def locale_dirs(root: Path, langs: Optional[Sequence[str]]) -> List[Path]:
    """``root`` itself when it is a locale folder, else its locale subfolders (or ``langs``)."""
    if (root / "clips").is_dir():
        if langs and root.name not in langs:
            raise PrepError(
                f"{root} is the locale {root.name!r}, not one of --langs {' '.join(langs)}"
            )
        return [root]
    found = sorted(p for p in root.iterdir() if (p / "clips").is_dir()) if root.is_dir() else []
    if langs:
        missing = [lang for lang in langs if not (root / lang / "clips").is_dir()]
        if missing:
            raise PrepError(f"no locale folder with clips/ for {', '.join(missing)} under {root}")
        return [root / lang for lang in langs]
    if not found:
        raise PrepError(f"{root} has no clips/ folder and no locale folders holding one")
    return found


def prepare(args: argparse.Namespace, out: Output) -> None:
    plans = []  # (pending rows, columns, split, task, locale)
    clips: Dict[str, Path] = {}
    for folder in locale_dirs(args.root, args.langs):
        lang = folder.name
        by_split = {}
        for split in ASR_SPLITS:
            tsv = folder / f"{split}.tsv"
            if not tsv.exists():
                out.note(f"{lang}: no {tsv.name}")
                continue
            by_split[split] = list(
                clip_index(read_clips(tsv, out.summary), out.summary, f"{lang}/{tsv.name}").values()
            )
        unlabeled = []
        if args.speech:
            held_out = {c.path for s in ("dev", "test") for c in by_split.get(s, [])}
            seen = set()
            for name in args.speech_from:
                tsv = folder / f"{name}.tsv"
                if not tsv.exists():
                    raise PrepError(f"{tsv} does not exist (see --speech-from)")
                for c in read_clips(tsv, out.summary, need_sentence=False):
                    if c.path in held_out:
                        out.drop("unlabeled clip is in dev or test", c.path)
                    elif c.path not in seen:
                        seen.add(c.path)
                        unlabeled.append(c)
        for c in [c for cs in by_split.values() for c in cs] + unlabeled:
            clips[f"{lang}/{c.id}"] = clip_file(folder, c.path)
        for split, cs in by_split.items():
            pending = [
                Pending(
                    f"{lang}/{c.id}",
                    c.path,
                    asr_row(c.id, c.sentence, lang, c.client_id),
                    text_problem(c.sentence),
                )
                for c in cs
            ]
            plans.append((pending, SPEECH_COLUMNS, split, "asr", lang))
        if args.speech:
            pending = [
                Pending(f"{lang}/{c.id}", c.path, speech_row(c.id, lang, c.client_id))
                for c in unlabeled
            ]
            plans.append((pending, UNLABELED_COLUMNS, "train", "speech", lang))

    out.write_speech(clips, "clips", plans)


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--root", type=Path, required=True, help="a locale folder or the release folder"
    )
    parser.add_argument(
        "--langs", nargs="+", metavar="LOCALE", help="locale folders to use (default: all found)"
    )
    parser.add_argument(
        "--speech",
        action="store_true",
        help="also write unlabeled speech train_speech_<locale>.tsv",
    )
    parser.add_argument(
        "--speech-from",
        nargs="+",
        default=["other"],
        metavar="NAME",
        help="TSVs (without .tsv) whose clips make the unlabeled speech, e.g. other validated "
        "invalidated (default: other); clips of dev.tsv and test.tsv are always left out",
    )


main = Script(COMMAND, DESCRIPTION, arguments, prepare).main


if __name__ == "__main__":
    raise SystemExit(main())
