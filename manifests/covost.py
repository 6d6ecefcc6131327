"""CoVoST 2 on its Common Voice 4 audio -> speech translation and ASR manifests.

Input, as fairseq's ``prep_covost_data.py`` expects it: ``ROOT/<src>/clips/*.mp3`` (48 kHz),
``ROOT/<src>/validated.tsv`` (Common Voice 4) and ``ROOT/<src>/covost_v2.<src>_<tgt>.tsv``
(or the ``.tsv.tar.gz`` it ships in, read without unpacking). Language codes are Common
Voice's (``zh-CN``, ``sv-SE``, ...), kept unchanged.

As in fairseq's script: the CoVoST rows are inner-joined on ``path`` with
``validated.tsv`` (rows CoVoST lists but Common Voice does not are dropped and counted),
the transcript and speaker come from ``validated.tsv`` and the translation and split from
CoVoST; the ``train_covost`` split counts as ``train``; the id is the clip name without
``.mp3``; clips that are missing, zero bytes long (Common Voice 4 has some) or unreadable
are dropped and counted. Unlike it, texts are never escaped or unquoted.

Outputs: ``{train,dev,test}_st_<src>_<tgt>.tsv`` and ``{train,dev,test}_asr_<src>.tsv``.
"""

import argparse
import tarfile
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from .common import PrepError, Summary, TsvRow, iter_lines, read_tsv, text_problem
from .common_voice import clip_file, clip_index, read_clips
from .rows import SPEECH_COLUMNS, asr_row, st_row
from .template import Output, Pending, Script

COMMAND = "mu2slam-prep-covost"
SPLITS = {"train": "train", "train_covost": "train", "dev": "dev", "test": "test"}
XX_EN = "fr de es ca it ru zh-CN pt fa et mn nl tr ar sv-SE lv sl ta ja id cy".split()
EN_XX = "de tr fa sv-SE mn zh-CN cy ca sl et id ar ta lv ja".split()
DESCRIPTION = (
    "Make CoVoST 2 speech translation manifests {train,dev,test}_st_<src>_<tgt>.tsv and "
    "ASR manifests {train,dev,test}_asr_<src>.tsv from the Common Voice 4 download. ROOT holds "
    "one folder per source language (as Common Voice 4 unpacks: <src>/clips/*.mp3 and "
    "<src>/validated.tsv) with CoVoST's covost_v2.<src>_<tgt>.tsv (or .tsv.tar.gz) put next to "
    "validated.tsv. X->en sources: " + " ".join(XX_EN) + "; en->X targets: " + " ".join(EN_XX) + "."
)


def covost_rows(folder: Path, src: str, tgt: str, summary: Summary) -> List[TsvRow]:
    """The rows of ``covost_v2.<src>_<tgt>.tsv``, from the file or from its tar.gz."""
    name = f"covost_v2.{src}_{tgt}.tsv"
    required = ("path", "translation", "split")
    if (folder / name).exists():
        return read_tsv(folder / name, summary, required=required)
    archive = folder / f"{name}.tar.gz"
    if not archive.exists():
        raise PrepError(f"neither {folder / name} nor {archive} exists")
    with tarfile.open(archive, "r:gz") as tar:
        member = next(
            (m for m in tar.getmembers() if Path(m.name).name == name and m.isfile()), None
        )
        if member is None:
            raise PrepError(f"{archive} holds no {name}")
        lines = list(iter_lines(tar.extractfile(member)))
    return read_tsv(folder / name, summary, required=required, lines=lines)


def prepare(args: argparse.Namespace, out: Output) -> None:
    src, tgt, tasks = args.src_lang, args.tgt_lang or "en", sorted(set(args.tasks))
    folder = args.root / src
    validated_tsv = folder / "validated.tsv"
    if not validated_tsv.exists():
        raise PrepError(
            f"{validated_tsv} does not exist (ROOT must hold the Common Voice 4 folder {src}/)"
        )
    validated = clip_index(read_clips(validated_tsv, out.summary), out.summary, "validated.tsv")

    joined: List[Tuple[str, TsvRow]] = []  # (split, covost row) in CoVoST's order
    seen = set()
    for r in covost_rows(folder, src, tgt, out.summary):
        split = SPLITS.get(r["split"])
        if split is None:
            out.drop(f"unknown CoVoST split {r['split']!r}", r["path"])
        elif r["path"] in seen:
            out.drop("duplicate path in the CoVoST TSV", r["path"])
        elif r["path"] not in validated:
            out.drop("not in validated.tsv (inner join on path)", r["path"])
        else:
            seen.add(r["path"])
            joined.append((split, r))

    clips: Dict[str, Path] = {}
    for _, r in joined:
        clip = validated[r["path"]]
        clips[clip.id] = clip_file(folder, clip.path)
    plans = []  # (pending rows, columns, split, task, languages)
    for split in ("train", "dev", "test"):
        st, asr = [], []
        for clip, r in [(validated[r["path"]], r) for s, r in joined if s == split]:
            problem = text_problem(clip.sentence)
            problem = problem and f"transcript: {problem}"
            row = asr_row(clip.id, clip.sentence, src, clip.client_id)
            asr.append(Pending(clip.id, clip.path, row, problem))
            translation = text_problem(r["translation"])
            problem = problem or translation and f"translation: {translation}"
            row = st_row(clip.id, clip.sentence, r["translation"], src, tgt, clip.client_id)
            st.append(Pending(clip.id, clip.path, row, problem))
        if "st" in tasks:
            plans.append((st, SPEECH_COLUMNS, split, "st", src, tgt))
        if "asr" in tasks:
            plans.append((asr, SPEECH_COLUMNS, split, "asr", src))
    out.write_speech(clips, f"clips {src}", plans)


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--root", type=Path, required=True, help="the Common Voice 4 root holding <src>/"
    )
    parser.add_argument(
        "--src-lang",
        required=True,
        help="source language (Common Voice locale, e.g. fr, zh-CN, en)",
    )
    parser.add_argument(
        "--tgt-lang", help="target language (default: en for X->en; required when --src-lang is en)"
    )
    parser.add_argument(
        "--tasks",
        nargs="+",
        choices=("st", "asr"),
        default=["st", "asr"],
        help="which manifests to write (default: both); ASR uses the same CoVoST splits",
    )


def check(args: argparse.Namespace) -> Optional[str]:
    """en->X has no default target."""
    if args.src_lang == "en" and not args.tgt_lang:
        return "--tgt-lang is required for en->X (one of " + " ".join(EN_XX) + ")"
    return None


main = Script(COMMAND, DESCRIPTION, arguments, prepare, check=check).main


if __name__ == "__main__":
    raise SystemExit(main())
