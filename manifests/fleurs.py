"""FLEURS -> ASR manifests, and optionally speech translation into one of its languages.

Input: ``ROOT/<lang>/{train,dev,test}.tsv`` and ``ROOT/<lang>/audio/<split>/<file_name>``
(16 kHz wav). The TSVs have no header and seven tab-separated columns: ``id file_name
raw_transcription transcription characters num_samples gender``. ``id`` is the sentence
id: it repeats (several speakers read each sentence, and every language shares the ids),
so rows are keyed on ``file_name``; the manifest id is ``file_name`` without ``.wav``, and a
repeated ``file_name`` is dropped and counted. Language codes stay FLEURS's own
(``en_us``, ``cmn_hans_cn``, ``es_419``).

Outputs: ``{split}_asr_<lang>.tsv`` and, with ``--translate-to TGT``,
``{split}_st_<lang>_<TGT>.tsv`` whose target is TGT's transcript of the same sentence id
(FLEURS is n-way parallel).
"""

import argparse
from pathlib import Path
from typing import Dict, List

from .common import PrepError, Summary, TsvRow, read_tsv, text_problem
from .rows import SPEECH_COLUMNS, asr_row, st_row
from .template import Output, Pending, Script

COMMAND = "mu2slam-prep-fleurs"
COLUMNS = (
    "id",
    "file_name",
    "raw_transcription",
    "transcription",
    "characters",
    "num_samples",
    "gender",
)
SPLITS = ("train", "dev", "test")
TEXT_COLUMN = {"raw": "raw_transcription", "normalized": "transcription"}
DESCRIPTION = (
    "Make FLEURS ASR manifests {train,dev,test}_asr_<lang>.tsv (and, with --translate-to, "
    "speech translation manifests {split}_st_<lang>_<tgt>.tsv). ROOT holds <lang>/{train,dev,test}.tsv "
    "(no header; id, file_name, raw_transcription, transcription, characters, num_samples, gender) "
    "and <lang>/audio/<split>/*.wav. Rows are keyed on file_name, since sentence ids repeat."
)


def _stem(file_name: str) -> str:
    return file_name[: -len(".wav")] if file_name.endswith(".wav") else file_name


def read_split(folder: Path, split: str, summary: Summary) -> List[TsvRow]:
    """The rows of ``<split>.tsv``, one per recording (first of a repeated file_name)."""
    rows, seen = [], set()
    for r in read_tsv(folder / f"{split}.tsv", summary, columns=COLUMNS):
        if r["file_name"] in seen:
            summary.drop("duplicate file_name", f"{folder.name}/{split}.tsv:{r.line}")
            continue
        seen.add(r["file_name"])
        rows.append(r)
    return rows


def sentence_texts(folder: Path, column: str, summary: Summary) -> Dict[str, str]:
    """``{sentence id: text}`` over every split of one language (for translation targets)."""
    texts: Dict[str, str] = {}
    scratch = Summary(COMMAND, summary.out)  # rows of the target language are not this run's rows
    for split in SPLITS:
        if (folder / f"{split}.tsv").exists():
            for r in read_tsv(folder / f"{split}.tsv", scratch, columns=COLUMNS):
                texts.setdefault(r["id"], r[column])
    return texts


def prepare(args: argparse.Namespace, out: Output) -> None:
    root, langs, translate_to = args.root, args.langs, args.translate_to
    column = TEXT_COLUMN[args.text]
    if langs:
        missing = [lang for lang in langs if not (root / lang).is_dir()]
        if missing:
            raise PrepError(f"no folder {', '.join(missing)} under {root}")
    else:
        langs = sorted(
            p.name for p in root.iterdir() if any((p / f"{s}.tsv").exists() for s in SPLITS)
        )
    if not langs:
        raise PrepError(f"{root} holds no <lang>/{{train,dev,test}}.tsv")
    targets: Dict[str, str] = {}
    if translate_to:
        if not (root / translate_to).is_dir():
            raise PrepError(f"--translate-to {translate_to}: no folder {root / translate_to}")
        targets = sentence_texts(root / translate_to, column, out.summary)

    plans = []  # (pending rows, columns, split, task, languages)
    clips: Dict[str, Path] = {}
    for lang in langs:
        for split in SPLITS:
            if not (root / lang / f"{split}.tsv").exists():
                continue
            asr, st = [], []
            for r in read_split(root / lang, split, out.summary):
                uid = _stem(r["file_name"])
                key, where = f"{lang}/{uid}", f"{lang}/{split}/{r['file_name']}"
                clips[key] = root / lang / "audio" / split / r["file_name"]
                problem = text_problem(r[column])
                row = asr_row(uid, r[column], lang)
                asr.append(Pending(key, where, row, problem and f"{column}: {problem}"))
                target = targets.get(r["id"])
                problem = problem or (target is not None and text_problem(target))
                st.append(
                    Pending(
                        key,
                        where,
                        st_row(uid, r[column], target, lang, translate_to),
                        f"sentence id not in {translate_to}"
                        if target is None
                        else problem and f"translation: {problem}",
                    )
                )
            plans.append((asr, SPEECH_COLUMNS, split, "asr", lang))
            if translate_to and lang != translate_to:
                plans.append((st, SPEECH_COLUMNS, split, "st", lang, translate_to))

    out.write_speech(clips, "recordings", plans)


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--root", type=Path, required=True, help="the FLEURS folder holding <lang>/"
    )
    parser.add_argument(
        "--langs",
        nargs="+",
        metavar="LANG",
        help="FLEURS language folders, e.g. en_us cmn_hans_cn (default: all)",
    )
    parser.add_argument(
        "--text",
        choices=tuple(TEXT_COLUMN),
        default="raw",
        help="raw_transcription (cased, punctuated) or the normalized transcription (default: raw)",
    )
    parser.add_argument(
        "--translate-to",
        metavar="LANG",
        help="also write speech translation manifests into LANG (e.g. en_us), its transcript of "
        "the same sentence id being the target",
    )


main = Script(COMMAND, DESCRIPTION, arguments, prepare).main


if __name__ == "__main__":
    raise SystemExit(main())
