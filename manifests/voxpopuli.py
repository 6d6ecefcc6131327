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
from typing import Dict, List, Optional, Sequence, Tuple

from .common import (
    Options,
    PrepError,
    Summary,
    TsvRow,
    add_output_args,
    finish,
    manifest_name,
    options_from,
    prepare_audio,
    progress,
    read_tsv,
    run,
    text_problem,
    write_speech,
)
from .rows import SPEECH_COLUMNS, UNLABELED_COLUMNS, asr_row

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


def _langs(folder: Path, langs: Optional[Sequence[str]]) -> List[str]:
    if langs:
        missing = [lang for lang in langs if not (folder / lang).is_dir()]
        if missing:
            raise PrepError(f"no folder {', '.join(missing)} under {folder}")
        return list(langs)
    return sorted(p.name for p in folder.iterdir() if p.is_dir())


def prepare(
    root: Path, langs: Optional[Sequence[str]], parts: Sequence[str], text: str, opts: Options
) -> Summary:
    summary = Summary(COMMAND, opts.out)
    clips: Dict[str, Path] = {}
    transcribed: List[Tuple[str, str, List[TsvRow]]] = []  # (folder lang, split, rows)
    unlabeled: List[Tuple[str, List[Path]]] = []
    if "transcribed" in parts:
        base = root / "transcribed_data"
        if not base.is_dir():
            raise PrepError(f"{base} does not exist")
        for lang in _langs(base, langs):
            for split in SPLITS:
                tsv = base / lang / f"asr_{split}.tsv"
                if not tsv.exists():
                    continue
                rows, seen = [], set()
                for r in read_tsv(tsv, summary, required=("id", TEXT_COLUMN[text])):
                    if r["id"] in seen:
                        summary.drop("duplicate id", f"{tsv.name}:{r.line}")
                        continue
                    seen.add(r["id"])
                    rows.append(r)
                    clips[f"{lang}/{r['id']}"] = base / lang / r["id"][:4] / f"{r['id']}.ogg"
                transcribed.append((lang, split, rows))
    if "unlabelled" in parts:
        base = root / "unlabelled_data"
        if not base.is_dir():
            raise PrepError(f"{base} does not exist")
        for lang in _langs(base, langs):
            files = sorted(
                progress((base / lang).rglob("*.ogg"), opts, f"listing {lang}", unit="file")
            )
            for f in files:
                clips[f"unlabelled/{lang}/{f.stem}"] = f
            unlabeled.append((lang, files))

    ready, failed = prepare_audio(clips, opts, summary, desc="segments")
    column = TEXT_COLUMN[text]
    for lang, split, rows in transcribed:
        code = LANG_OF_FOLDER.get(lang, lang)
        out_rows = []
        for r in rows:
            key = f"{lang}/{r['id']}"
            problem = (
                failed.get(key)
                or text_problem(r[column])
                and f"{column}: {text_problem(r[column])}"
            )
            if problem:
                summary.drop(problem, r["id"])
                continue
            audio, n = ready[key]
            out_rows.append(asr_row(r["id"], audio, n, r[column], code, r.get("speaker_id")))
        write_speech(manifest_name(split, "asr", lang), out_rows, SPEECH_COLUMNS, opts, summary)
    for lang, files in unlabeled:
        code = LANG_OF_FOLDER.get(lang, lang)
        out_rows = []
        for f in files:
            key = f"unlabelled/{lang}/{f.stem}"
            if key in failed:
                summary.drop(failed[key], f.name)
                continue
            audio, n = ready[key]
            out_rows.append(
                {"id": f.stem, "audio": audio, "n_frames": str(n), "src_lang": code, "speaker": ""}
            )
        write_speech(
            manifest_name("train", "speech", lang), out_rows, UNLABELED_COLUMNS, opts, summary
        )
    return summary


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog=COMMAND,
        description="Make VoxPopuli manifests: ASR {train,dev,test}_asr_<lang>.tsv from "
        "ROOT/transcribed_data/<lang>/asr_<split>.tsv and <year>/<id>.ogg (as get_asr_data.py "
        "leaves them), and unlabeled speech train_speech_<lang>.tsv from "
        "ROOT/unlabelled_data/<lang>/<year>/*.ogg. Segments whose audio is missing, empty or "
        "unreadable are dropped and counted.",
    )
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
    add_output_args(parser)
    args = parser.parse_args(argv)
    opts = options_from(args, args.root)
    return run(
        COMMAND, lambda: finish(prepare(args.root, args.langs, args.parts, args.text, opts), opts)
    )


if __name__ == "__main__":
    raise SystemExit(main())
