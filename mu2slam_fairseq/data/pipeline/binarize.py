"""``mu2slam-binarize``: a manifest becomes the memory-mapped folder training reads lazily.

Rows are read one at a time with the dataset's own reader of the data type, so texts are
encoded with the same SentencePiece model and dictionary into the same ids, and a bad row
stops the command with the manifest's file and line, as it would stop training. Units
present in a row are checked against the dictionary whether or not a run will read them.
The command holds each row's id (duplicates are refused) and a few integers per row until
it finishes: about 150 bytes per row, once, instead of in every training process.
Usage::

    mu2slam-binarize text_train.tsv --type text --spm vocab/spm.model --dict vocab/dict.txt

writes ``text_train-bin/`` (``-o`` to choose); a data config then names that folder as
the split instead of the ``.tsv`` (see ``data_config.py``). With ``--shards N`` the folder
holds N binarized shards (``shard0`` ...) and ``shards.json``; training reads one shard per
epoch. Each language's rows are dealt round-robin over the shards, so every shard has the
corpus's language mix and about 1/N of its rows: temperature sampling over a shard then
follows the whole corpus's language shares.
"""

import argparse
import logging
import os
from pathlib import Path
import shutil
from typing import Dict, List, Optional

from fairseq.data import Dictionary

from ...objectives import DATA_TYPES
from ...symbols import unit_ids
from ..io.binarized import TEXT_FIELDS, BinarizedWriter, write_shard_list
from ..io.manifest import iter_manifest
from ..io.vocab import TextEncoder
from .rows import READERS  # the dataset readers (the same checks and encoding)

logger = logging.getLogger(__name__)


def default_output(manifest: os.PathLike) -> Path:
    """``a/train.tsv`` -> ``a/train-bin`` (fairseq-preprocess's ``data-bin`` naming)."""
    manifest = Path(manifest)
    stem = manifest.name[: -len(".tsv")] if manifest.name.endswith(".tsv") else manifest.name
    return manifest.with_name(f"{stem}-bin")


def binarize(
    manifest: os.PathLike,
    data_type: str,
    spm_model: os.PathLike,
    dictionary: Dictionary,
    out: Optional[os.PathLike] = None,
    src_lang: Optional[str] = None,
    tgt_lang: Optional[str] = None,
    audio_root: Optional[os.PathLike] = None,
    shards: int = 1,
) -> Path:
    """Binarize ``manifest`` of ``data_type``; returns the folder written. ``src_lang`` /
    ``tgt_lang`` fill empty language columns, like a corpus's defaults in the data config;
    ``shards`` > 1 writes that many shards (module doc), all or nothing."""
    if shards < 1:
        raise ValueError(f"--shards must be at least 1, got {shards}")
    manifest = Path(manifest)
    out = Path(out) if out is not None else default_output(manifest)
    audio_root = Path(audio_root) if audio_root is not None else manifest.parent
    reader_cls = READERS[data_type]
    n_units = len(unit_ids(dictionary))
    reader = reader_cls(
        manifest,
        dictionary,
        (src_lang, tgt_lang),
        audio_root,
        needs_units=reader_cls.needs_speech and n_units > 0,
        tokenizer=True,  # rows without units are kept: a speech tokenizer may serve them
        n_units=n_units,
    )
    encoder = TextEncoder(Path(spm_model), dictionary)
    texts = [f for f in TEXT_FIELDS if any(c == f for c, _ in reader_cls.texts.values())]
    root = out if shards == 1 else out.with_name(f".{out.name}.shards.tmp")
    if shards > 1:
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
    names = [f"shard{k}" for k in range(shards)]
    writers = [
        BinarizedWriter(
            root if shards == 1 else root / name,
            manifest,
            data_type,
            audio_root,
            dictionary,
            texts,
            {"src_lang": src_lang, "tgt_lang": tgt_lang},
        )
        for name in names
    ]
    dealt: Dict[str, int] = {}  # language -> rows dealt so far (starting at its first shard)
    try:
        rows = iter_manifest(manifest, required=reader._required_columns())
        for ex in reader.stream(rows, lambda text, lang: encoder.encode(text)):
            lang = reader.lang_key(ex)
            k = dealt.setdefault(lang, len(dealt))
            dealt[lang] = k + 1
            writers[k % shards].add(
                ex.id,
                ex.line,
                {f: getattr(ex, f) for f in texts},
                {"src_lang": ex.src_lang, "tgt_lang": ex.tgt_lang},
                ex.audio,
                ex.n_frames,
                ex.units,
            )
    except BaseException:
        for writer in writers:
            writer.abort()
        if shards > 1:
            shutil.rmtree(root, ignore_errors=True)
        raise
    for writer in writers:
        writer.finish()
    if shards == 1:
        return out
    write_shard_list(root, names)
    if out.exists():
        shutil.rmtree(out)
    os.replace(root, out)
    return out


def main(argv: Optional[List[str]] = None) -> None:
    p = argparse.ArgumentParser(
        prog="mu2slam-binarize",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("manifest", type=Path, help="the TSV manifest")
    p.add_argument("--type", required=True, choices=DATA_TYPES, help="its data type")
    p.add_argument("--spm", required=True, type=Path, help="the SentencePiece model (vocab.spm)")
    p.add_argument("--dict", required=True, type=Path, help="the joint dictionary (vocab.dict)")
    p.add_argument("-o", "--out", type=Path, help="output folder (default: MANIFEST-bin)")
    p.add_argument("--src-lang", help="language of rows with an empty src_lang")
    p.add_argument("--tgt-lang", help="language of rows with an empty tgt_lang")
    p.add_argument(
        "--audio-root", type=Path, help="folder of relative audio paths (default: the manifest's)"
    )
    p.add_argument(
        "--shards",
        type=int,
        default=1,
        help="write this many shards, one per training epoch (default 1: no shards)",
    )
    a = p.parse_args(argv)
    if a.shards < 1:
        p.error(f"--shards must be at least 1, got {a.shards}")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    out = binarize(
        a.manifest,
        a.type,
        a.spm,
        Dictionary.load(str(a.dict)),
        a.out,
        a.src_lang,
        a.tgt_lang,
        a.audio_root,
        a.shards,
    )
    print(f"{a.manifest} -> {out}" + (f" ({a.shards} shards)" if a.shards > 1 else ""))


if __name__ == "__main__":
    main()
