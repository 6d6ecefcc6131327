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
from typing import Dict, List, Optional, Sequence, Tuple

from .common import (
    Options,
    PrepError,
    Summary,
    TsvRow,
    add_output_args,
    finish,
    iter_lines,
    manifest_name,
    options_from,
    prepare_audio,
    read_tsv,
    run,
    text_problem,
    write_speech,
)
from .rows import SPEECH_COLUMNS, asr_row
from .common_voice import clip_file, clip_index, read_clips

COMMAND = "mu2slam-prep-covost"
SPLITS = {"train": "train", "train_covost": "train", "dev": "dev", "test": "test"}
XX_EN = "fr de es ca it ru zh-CN pt fa et mn nl tr ar sv-SE lv sl ta ja id cy".split()
EN_XX = "de tr fa sv-SE mn zh-CN cy ca sl et id ar ta lv ja".split()


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


def prepare(root: Path, src: str, tgt: str, tasks: Sequence[str], opts: Options) -> Summary:
    summary = Summary(COMMAND, opts.out)
    folder = root / src
    validated_tsv = folder / "validated.tsv"
    if not validated_tsv.exists():
        raise PrepError(
            f"{validated_tsv} does not exist (ROOT must hold the Common Voice 4 folder {src}/)"
        )
    validated = clip_index(read_clips(validated_tsv, summary), summary, "validated.tsv")

    joined: List[Tuple[str, TsvRow]] = []  # (split, covost row) in CoVoST's order
    seen = set()
    for r in covost_rows(folder, src, tgt, summary):
        split = SPLITS.get(r["split"])
        if split is None:
            summary.drop(f"unknown CoVoST split {r['split']!r}", r["path"])
        elif r["path"] in seen:
            summary.drop("duplicate path in the CoVoST TSV", r["path"])
        elif r["path"] not in validated:
            summary.drop("not in validated.tsv (inner join on path)", r["path"])
        else:
            seen.add(r["path"])
            joined.append((split, r))

    clips: Dict[str, Path] = {}
    for _, r in joined:
        clip = validated[r["path"]]
        clips[clip.id] = clip_file(folder, clip.path)
    ready, failed = prepare_audio(clips, opts, summary, desc=f"clips {src}")

    for split in ("train", "dev", "test"):
        st_rows, asr_rows = [], []
        for s, r in joined:
            if s != split:
                continue
            clip = validated[r["path"]]
            if clip.id in failed:
                summary.drop(failed[clip.id], clip.path, n=len(tasks))
                continue
            audio, n = ready[clip.id]
            transcript_problem = text_problem(clip.sentence)
            if "asr" in tasks:
                if transcript_problem:
                    summary.drop(f"transcript: {transcript_problem}", clip.path)
                else:
                    asr_rows.append(asr_row(clip.id, audio, n, clip.sentence, src, clip.client_id))
            if "st" in tasks:
                problem = transcript_problem and f"transcript: {transcript_problem}"
                problem = problem or (
                    text_problem(r["translation"])
                    and f"translation: {text_problem(r['translation'])}"
                )
                if problem:
                    summary.drop(problem, clip.path)
                    continue
                st_rows.append(
                    {
                        "id": clip.id,
                        "audio": audio,
                        "n_frames": str(n),
                        "src_text": clip.sentence,
                        "tgt_text": r["translation"],
                        "src_lang": src,
                        "tgt_lang": tgt,
                        "speaker": clip.client_id,
                    }
                )
        if "st" in tasks:
            write_speech(
                manifest_name(split, "st", src, tgt), st_rows, SPEECH_COLUMNS, opts, summary
            )
        if "asr" in tasks:
            write_speech(manifest_name(split, "asr", src), asr_rows, SPEECH_COLUMNS, opts, summary)
    return summary


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog=COMMAND,
        description="Make CoVoST 2 speech translation manifests {train,dev,test}_st_<src>_<tgt>.tsv and "
        "ASR manifests {train,dev,test}_asr_<src>.tsv from the Common Voice 4 download. ROOT holds "
        "one folder per source language (as Common Voice 4 unpacks: <src>/clips/*.mp3 and "
        "<src>/validated.tsv) with CoVoST's covost_v2.<src>_<tgt>.tsv (or .tsv.tar.gz) put next to "
        "validated.tsv. X->en sources: "
        + " ".join(XX_EN)
        + "; en->X targets: "
        + " ".join(EN_XX)
        + ".",
    )
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
    add_output_args(parser)
    args = parser.parse_args(argv)
    tgt = args.tgt_lang or ("en" if args.src_lang != "en" else None)
    if tgt is None:
        parser.error("--tgt-lang is required for en->X (one of " + " ".join(EN_XX) + ")")
    opts = options_from(args, args.root)
    tasks = sorted(set(args.tasks))
    return run(COMMAND, lambda: finish(prepare(args.root, args.src_lang, tgt, tasks, opts), opts))


if __name__ == "__main__":
    raise SystemExit(main())
