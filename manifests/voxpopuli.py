"""VoxPopuli -> ASR manifests (transcribed data) and unlabeled speech manifests.

Transcribed data, as VoxPopuli's ``get_asr_data.py`` leaves it:
``ROOT/transcribed_data/<lang>/asr_{train,dev,test}.tsv`` (header ``id raw_text
normalized_text speaker_id split gender is_gold_transcript accent``, no quoting or escaping)
and ``ROOT/transcribed_data/<lang>/<year>/<id>.ogg`` (16 kHz Ogg Vorbis), the year being the
first four characters of the id. Ids contain colons (``..._20180206-16:10:06_5``); they are
kept as they are (fairseq reads ``audio`` paths and zip references by their suffix, so the
colons do no harm). ``raw_text`` (cased, punctuated) is empty for some segments: by default
those rows are dropped and counted; ``--text normalized`` uses ``normalized_text`` instead.

Unlabeled data: ``ROOT/unlabelled_data/<lang>/<year>/<event_id>_<segment_no>.ogg``, every
file becomes a row of ``train_speech_<lang>.tsv`` (id = file name without ``.ogg``).

The test-only accent set ``en_accented`` is English: its rows get the code ``en``, its
manifest keeps the folder name (``test_asr_en_accented.tsv``).
"""

import argparse
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from .common import PrepError, read_tsv, text_problem
from .rows import SPEECH_COLUMNS, UNLABELED_COLUMNS, asr_row, speech_row
from .template import Output, Pending, Script

COMMAND = "mu2slam-prep-voxpopuli"
ASR_COLUMNS = (
    "id",
    "raw_text",
    "normalized_text",
    "speaker_id",
    "split",
    "gender",
    "is_gold_transcript",
    "accent",
)
SPLITS = ("train", "dev", "test")
LANG_OF_FOLDER = {"en_accented": "en"}
TEXT_COLUMN = {"raw": "raw_text", "normalized": "normalized_text"}
DESCRIPTION = (
    "Make VoxPopuli manifests: ASR {train,dev,test}_asr_<lang>.tsv from "
    "ROOT/transcribed_data/<lang>/asr_<split>.tsv and <year>/<id>.ogg (as get_asr_data.py "
    "leaves them), and unlabeled speech train_speech_<lang>.tsv from "
    "ROOT/unlabelled_data/<lang>/<year>/*.ogg. Segments whose audio is missing, empty or "
    "unreadable are dropped and counted."
)


def _langs(folder: Path, langs: Optional[Sequence[str]]) -> List[str]:
    if not folder.is_dir():
        raise PrepError(f"{folder} does not exist")
    if langs:
        missing = [lang for lang in langs if not (folder / lang).is_dir()]
        if missing:
            raise PrepError(f"no folder {', '.join(missing)} under {folder}")
        return list(langs)
    return sorted(p.name for p in folder.iterdir() if p.is_dir())


def prepare(args: argparse.Namespace, out: Output) -> None:
    clips: Dict[str, Path] = {}
    plans = []  # (pending rows, columns, split, task, language)
    column = TEXT_COLUMN[args.text]
    if "transcribed" in args.parts:
        base = args.root / "transcribed_data"
        for lang in _langs(base, args.langs):
            code = LANG_OF_FOLDER.get(lang, lang)
            for split in SPLITS:
                tsv = base / lang / f"asr_{split}.tsv"
                if not tsv.exists():
                    continue
                pending, seen = [], set()
                for r in read_tsv(tsv, out.summary, required=("id", column)):
                    if r["id"] in seen:
                        out.drop("duplicate id", f"{tsv.name}:{r.line}")
                        continue
                    seen.add(r["id"])
                    key = f"{lang}/{r['id']}"
                    clips[key] = base / lang / r["id"][:4] / f"{r['id']}.ogg"
                    problem = text_problem(r[column])
                    row = asr_row(r["id"], r[column], code, r.get("speaker_id"))
                    pending.append(Pending(key, r["id"], row, problem and f"{column}: {problem}"))
                plans.append((pending, SPEECH_COLUMNS, split, "asr", lang))
    if "unlabelled" in args.parts:
        base = args.root / "unlabelled_data"
        for lang in _langs(base, args.langs):
            code = LANG_OF_FOLDER.get(lang, lang)
            pending = []
            for f in sorted(
                out.progress((base / lang).rglob("*.ogg"), f"listing {lang}", unit="file")
            ):
                clips[f"unlabelled/{lang}/{f.stem}"] = f
                pending.append(
                    Pending(f"unlabelled/{lang}/{f.stem}", f.name, speech_row(f.stem, code))
                )
            plans.append((pending, UNLABELED_COLUMNS, "train", "speech", lang))

    out.write_speech(clips, "segments", plans)


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--root", type=Path, required=True, help="the VoxPopuli data folder")
    parser.add_argument(
        "--langs", nargs="+", metavar="LANG", help="language folders (default: all found)"
    )
    parser.add_argument(
        "--parts",
        nargs="+",
        choices=("transcribed", "unlabelled"),
        default=["transcribed"],
        help="which data to prepare (default: transcribed)",
    )
    parser.add_argument(
        "--text",
        choices=tuple(TEXT_COLUMN),
        default="raw",
        help="transcript column: raw_text (cased, punctuated; rows where it is empty are dropped) "
        "or normalized_text (default: raw)",
    )


main = Script(COMMAND, DESCRIPTION, arguments, prepare).main


if __name__ == "__main__":
    raise SystemExit(main())
