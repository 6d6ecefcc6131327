"""A local Hugging Face copy of FLEURS, Common Voice, VoxPopuli, MLS or CoVoST 2 -> ASR
(and, for CoVoST 2, speech translation) manifests with features in a zip.

Most users hold these corpora as ``datasets`` left them: parquet or arrow shards whose
``audio`` column embeds each clip's bytes (a ``{bytes, path}`` struct; when ``bytes`` is
null, ``path`` names a local file). The shards are read with pyarrow (see ``hf_format``),
one record batch at a time; each clip is decoded with soundfile (FLAC, WAV, OGG, MP3),
resampled to 16 kHz and its 80-dim log-Mel features stored in ``OUT/fbank80.zip`` at
once, and its rows are written to the manifests as they come: memory stays bounded by
one batch, whatever the corpus size. The clips embed no file to point at, so features are
always written (``--features`` only names the zip).

Each dataset's own columns (from its card) give the row; the meaning of each matches
the script for the original layout (``fleurs``, ``common_voice``, ``voxpopuli``, ``mls``,
``covost``): the same ids, texts, speakers and language codes. The language comes from
``--lang``, else a column, else the config folder. Splits: ``validation`` becomes ``dev``,
MLS's ``9_hours``/``1_hours`` become ``train_9h``/``train_1h``.

Outputs: ``<split>_asr_<lang>.tsv`` and, for CoVoST 2, ``<split>_st_<src>_<tgt>.tsv``.
"""

import argparse
import contextlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from mu2slam_fairseq.data.io.audio import AudioError, fbank, load_waveform
from mu2slam_fairseq.data.io.features import FeatureZipWriter
from mu2slam_fairseq.data.io.langcodes import is_known_language

from .common import (
    MISSING_AUDIO,
    NONFINITE_AUDIO,
    ZERO_BYTE_AUDIO,
    PrepError,
    StreamingManifest,
    audio_problem,
    guard_zip,
    text_problem,
)
from .featurize import index_path
from .hf_format import Shard, ShardReader, class_names, find_shards
from .mls import LANGUAGE_CODES as MLS_CODES
from .rows import SPEECH_COLUMNS, asr_row, st_row, with_clip
from .template import Output, Script

COMMAND = "mu2slam-prep-hf"
DEFAULT_ZIP = "fbank80.zip"
NOT_A_CODE = "language is not a code the validator knows (pass --lang)"
SPLIT_OF = {"validation": "dev", "9_hours": "train_9h", "1_hours": "train_1h"}
DEFAULT_SPLITS = ("train", "validation", "dev", "test")


@dataclass(frozen=True)
class Dataset:
    """Where one dataset keeps what a row needs: column names from its Hugging Face card.

    ``id`` is the column holding the utterance id (a file name when ``id_is_file``: its
    stem is kept); ``language`` the column holding the code (or a ClassLabel of codes);
    ``config_language`` turns the config folder's name into ``(src, tgt)`` codes.
    """

    card: str
    columns: str
    id: str
    texts: Dict[str, str]
    speaker: Optional[str] = None
    language: Optional[str] = None
    translation: Optional[str] = None
    id_is_file: bool = False

    def reads(self) -> str:
        named = [self.id, *self.texts.values(), self.speaker, self.language, self.translation]
        return " ".join(["audio"] + [c for c in named if c])

    def config_language(self, config: str) -> Tuple[str, str]:
        if self.translation:  # CoVoST 2 configs are <src>_<tgt>, e.g. fr_en, zh-CN_en
            src, _, tgt = config.rpartition("_")
            return src, tgt
        return MLS_CODES.get(config, config), ""


DATASETS = {
    "fleurs": Dataset(
        "google/fleurs",
        "id num_samples path audio transcription raw_transcription gender lang_id language "
        "lang_group_id",
        id="path",
        id_is_file=True,  # id is the sentence id, shared by every speaker and language
        texts={"raw": "raw_transcription", "normalized": "transcription"},
        language="lang_id",
    ),
    "common_voice": Dataset(
        "mozilla-foundation/common_voice_<version>",
        "client_id path audio sentence up_votes down_votes age gender accent locale segment "
        "(later versions add variant)",
        id="path",
        id_is_file=True,
        texts={"raw": "sentence"},
        speaker="client_id",
        language="locale",
    ),
    "voxpopuli": Dataset(
        "facebook/voxpopuli",
        "audio_id language audio raw_text normalized_text gender speaker_id is_gold_transcript "
        "accent",
        id="audio_id",
        texts={"raw": "raw_text", "normalized": "normalized_text"},
        speaker="speaker_id",
        language="language",
    ),
    "mls": Dataset(
        "facebook/multilingual_librispeech",
        "audio original_path begin_time end_time transcript audio_duration speaker_id "
        "chapter_id file id",
        id="id",
        texts={"raw": "transcript"},
        speaker="speaker_id",
    ),
    "covost2": Dataset(
        "facebook/covost2, fixie-ai/covost2",
        "client_id file audio sentence translation id",
        id="id",
        texts={"raw": "sentence"},
        speaker="client_id",
        translation="translation",
    ),
}
LANG_OF_NAME = {"en_accented": "en"}  # VoxPopuli's accented English test set
DESCRIPTION = (
    "Make manifests from a local Hugging Face dataset (parquet or arrow shards as datasets "
    "downloads them or save_to_disk writes them; no network): <split>_asr_<lang>.tsv and, "
    "for covost2, <split>_st_<src>_<tgt>.tsv, with the features of the embedded audio in "
    "OUT/fbank80.zip. Each dataset's columns, as on its card: "
    + "; ".join(
        f"{name} ({d.card}): {d.columns} (reads {d.reads()})" for name, d in DATASETS.items()
    )
    + ". The split comes from the shard's name or folder (validation -> dev), the config "
    "(language, or <src>_<tgt> for covost2) from the folder under DIR."
)


def _file_stem(name: str) -> str:
    base = PurePosixPath(name.replace("\\", "/")).name
    return base.rsplit(".", 1)[0] if "." in base else base


class Rows:
    """Turns a shard's rows into manifest rows, resolving ids, texts and languages."""

    def __init__(self, dataset: Dataset, args: argparse.Namespace):
        self.dataset = dataset
        self.text = dataset.texts.get(args.text) or dataset.texts["raw"]
        self.lang, self.tgt_lang = args.lang, args.tgt_lang

    def columns(self) -> Tuple[str, ...]:
        d = self.dataset
        named = (d.id, self.text, d.speaker, d.language, d.translation)
        return ("audio",) + tuple(c for c in named if c)

    def languages(self, row: Dict[str, Any], shard: Shard, names) -> Tuple[str, str]:
        d = self.dataset
        src, tgt = d.config_language(shard.config) if shard.config else ("", "")
        value = row.get(d.language) if d.language else None
        if isinstance(value, int) and not self.lang:
            if names is None:
                raise PrepError(
                    f"{shard.path}: column {d.language} holds class numbers, but neither the "
                    "shard's metadata nor a dataset_info.json names them; pass --lang"
                )
            value = names[value] if 0 <= value < len(names) else ""
        if isinstance(value, str) and value:
            src = LANG_OF_NAME.get(value, value)
        return self.lang or src, self.tgt_lang or tgt

    def uid(self, row: Dict[str, Any]) -> str:
        value = row.get(self.dataset.id)
        if not value and self.dataset.id_is_file and isinstance(row.get("audio"), dict):
            value = row["audio"].get("path")
        value = "" if value is None else str(value)
        return _file_stem(value) if self.dataset.id_is_file else value


def audio_bytes(value: Any, shard: Shard, root: Path) -> Tuple[Optional[bytes], Optional[str]]:
    """The clip's encoded bytes, or why there are none: embedded bytes, else the local file
    its ``path`` names (absolute, or relative to the shard's folder or the dataset root)."""
    if isinstance(value, dict):
        data, path = value.get("bytes"), value.get("path")
    else:
        data, path = None, value
    if data is None and path:
        local = Path(path)
        candidates = [local] if local.is_absolute() else [shard.path.parent / local, root / local]
        found = next((p for p in candidates if p.is_file()), None)
        if found is None:
            return None, MISSING_AUDIO
        data = found.read_bytes()
    if data is None:
        return None, "no audio (neither bytes nor path)"
    return (None, ZERO_BYTE_AUDIO) if len(data) == 0 else (bytes(data), None)


def features(name: str, data: bytes) -> Tuple[Optional[np.ndarray], Optional[str]]:
    """80-dim log-Mel features of encoded audio, or the summary's reason it has none."""
    try:
        feats = fbank(load_waveform(name, data))
    except AudioError as e:
        return None, audio_problem(str(e))
    if not np.isfinite(feats).all():
        return None, NONFINITE_AUDIO
    return feats, None


def _shards(args: argparse.Namespace, root: Path, out: Output) -> List[Shard]:
    """The shards of the splits asked for, each with its manifest split name."""
    shards = []
    for shard in find_shards(args.dir):
        split = shard.split or args.split or ""
        if not split:
            raise PrepError(
                f"{shard.path}: cannot tell its split from its name or folder; pass --split"
            )
        if shard.split and split not in args.splits:
            out.note(f"{shard.path.relative_to(root)}: split {split!r} not read (see --splits)")
            continue
        shard.split = SPLIT_OF.get(split, split)
        shards.append(shard)
    if not shards:
        raise PrepError(f"no shard of the splits {' '.join(args.splits)} under {args.dir}")
    return shards


def _planned(
    rows: Rows, args: argparse.Namespace, row: Dict[str, Any], uid: str, langs, split: str
) -> List[Tuple[Dict[str, str], Optional[str], Tuple[str, ...]]]:
    """``[(manifest row but for its clip, why it cannot be used, manifest name)]``."""
    d, (src, tgt) = rows.dataset, langs
    text, speaker = _str(row, rows.text), _str(row, d.speaker)
    problem = text_problem(text)
    text_why = problem and f"{rows.text}: {problem}"
    planned = []
    if "asr" in args.tasks or not d.translation:
        planned.append((asr_row(uid, text, src, speaker), text_why, (split, "asr", src)))
    if d.translation and "st" in args.tasks:
        translation = _str(row, d.translation)
        problem = text_problem(translation)
        why = text_why or (problem and f"{d.translation}: {problem}")
        row_st = st_row(uid, text, translation, src, tgt, speaker)
        planned.append((row_st, why, (split, "st", src, tgt)))
    return planned


def prepare(args: argparse.Namespace, out: Output) -> None:
    dataset = DATASETS[args.dataset]
    rows = Rows(dataset, args)
    root = args.dir if args.dir.is_dir() else args.dir.parent
    shards = _shards(args, root, out)
    readers = [ShardReader(s, root, rows.columns()) for s in shards]  # every schema checked first
    total = None if any(r.rows is None for r in readers) else sum(r.rows for r in readers)
    zip_path = out.opts.out / (out.opts.features or DEFAULT_ZIP)
    seen = set()

    def items():
        for reader in readers:
            names = class_names(reader.features, dataset.language or "")
            for number, row in reader:
                yield reader.shard, names, number, row

    writer = FeatureZipWriter(zip_path).open()
    try:
        with contextlib.ExitStack() as stack:
            manifests: Dict[Tuple[str, ...], StreamingManifest] = {}
            for shard, names, number, row in out.progress(items(), "clips", total, "clip"):
                uid = rows.uid(row)
                where = f"{shard.path.relative_to(root)}:row {number}"
                example = f"{where} ({uid})"
                src, tgt = rows.languages(row, shard, names)
                if not uid:
                    out.drop(f"empty {dataset.id}", where)
                    continue
                if not is_known_language(src) or (
                    dataset.translation and not is_known_language(tgt)
                ):
                    out.drop(NOT_A_CODE, f"{example}: {src!r}" + (f" -> {tgt!r}" if tgt else ""))
                    continue
                key = f"{src}/{uid}"
                if key in seen:
                    out.drop("duplicate id", example)
                    continue
                seen.add(key)
                planned = _planned(rows, args, row, uid, (src, tgt), shard.split)
                usable = [p for p in planned if not p[1]]
                if usable:
                    data, why = audio_bytes(row.get("audio"), shard, root)
                    feats = None
                    if data is not None:
                        feats, why = features(example, data)
                    if feats is None:
                        for _ in usable:
                            out.drop(why, example)
                    else:
                        ref = writer.add(key, feats)
                        out.summary.count_clip(len(feats))
                        for manifest_row, _, name in usable:
                            if name not in manifests:
                                stream = out.stream(SPEECH_COLUMNS, *name)
                                manifests[name] = stack.enter_context(stream)
                            manifests[name].write(with_clip(manifest_row, ref, len(feats)))
                for _, why, _ in planned:
                    if why:
                        out.drop(why, example)
            # the zip goes in place before the manifests that point into it
            if writer.count:
                guard_zip(zip_path, seen)
                writer.commit()
                index_path(zip_path).unlink(missing_ok=True)  # described the zip replaced
            else:
                writer.discard()
    except BaseException:
        writer.discard()
        raise


def _str(row: Dict[str, Any], column: Optional[str]) -> str:
    value = row.get(column) if column else None
    return "" if value is None else str(value)


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dataset", required=True, choices=tuple(DATASETS), help="which corpus DIR holds"
    )
    parser.add_argument(
        "--dir",
        type=Path,
        required=True,
        help="the dataset folder (a Hub snapshot, a datasets cache folder or a save_to_disk "
        "folder), or one shard",
    )
    parser.add_argument(
        "--splits",
        nargs="+",
        default=list(DEFAULT_SPLITS),
        metavar="SPLIT",
        help="Hugging Face splits to read (default: train validation dev test; MLS also has "
        "9_hours 1_hours)",
    )
    parser.add_argument(
        "--split",
        help="split of shards whose name and folder name none (a save_to_disk Dataset), "
        "starting with train, dev or test",
    )
    parser.add_argument(
        "--lang", help="language code of every row, instead of the column or config folder"
    )
    parser.add_argument(
        "--tgt-lang", help="covost2: target language code, instead of the config folder's"
    )
    parser.add_argument(
        "--text",
        choices=("raw", "normalized"),
        default="raw",
        help="fleurs and voxpopuli: raw (cased, punctuated: raw_transcription, raw_text) or "
        "normalized (transcription, normalized_text) transcripts (default: raw); rows whose "
        "text is empty are dropped",
    )
    parser.add_argument(
        "--tasks",
        nargs="+",
        choices=("st", "asr"),
        default=["st", "asr"],
        help="covost2: which manifests to write (default: both)",
    )


def check(args: argparse.Namespace) -> Optional[str]:
    if args.audio_root is not None:
        return "--audio-root does not apply: the audio is embedded, features are always written"
    names = [SPLIT_OF.get(s, s) for s in args.splits] + ([args.split] if args.split else [])
    wrong = [s for s in names if not s.startswith(("train", "dev", "test"))]
    if wrong:
        return f"split {wrong[0]!r} cannot name a manifest (it must start with train, dev or test)"
    return None


main = Script(COMMAND, DESCRIPTION, arguments, prepare, corpus="dir", check=check).main


if __name__ == "__main__":
    raise SystemExit(main())
