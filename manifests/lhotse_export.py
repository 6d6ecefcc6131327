"""A speech manifest -> lhotse JSONL, so icefall and NeMo (lhotse loader) can train on it:
``OUT/<stem>_recordings.jsonl.gz``, ``<stem>_supervisions.jsonl.gz`` and
``<stem>_cuts.jsonl.gz`` (MonoCuts of both), ``<stem>`` the manifest's name.

Each row becomes a recording with the row's id, holding its whole audio file (absolute
path; rate and length read from the file's header), and one supervision over all of it:
``src_text``, ``src_lang``, ``speaker``, and for a translation row ``custom.translation``
and ``custom.tgt_lang``, which ``mu2slam-prep-lhotse`` reads back. A manifest of feature
references cannot be exported: lhotse needs audio, and the features are not audio.
"""

import argparse
import sys
from pathlib import Path
from typing import List, Optional, Sequence

import soundfile as sf

from mu2slam_fairseq.data.io.features import resolve, split_zip_ref
from mu2slam_fairseq.data.io.manifest import read_manifest

from .common import PrepError, run
from .lhotse_format import Record, Supervision, cut_record, recording_record, supervision_record
from .lhotse_format import write_jsonl

COMMAND = "mu2slam-export-lhotse"


def export(manifest: Path, out: Path, audio_root: Optional[Path] = None) -> List[Path]:
    """Write the three JSONL files of ``manifest`` into ``out``; returns their paths."""
    root = audio_root if audio_root is not None else manifest.parent
    recordings: List[Record] = []
    supervisions: List[Record] = []
    for line, row in enumerate(read_manifest(manifest, required=("id", "audio")), start=2):
        field = row["audio"]
        if split_zip_ref(field) or field.endswith(".npy"):
            raise PrepError(
                f"{manifest}:{line}: audio {field!r} holds features, not audio; lhotse needs "
                "audio files, so export the manifest prepared without --features"
            )
        path = resolve(field, root).absolute()
        try:
            info = sf.info(str(path))
        except Exception as e:  # soundfile raises several types for bad files
            raise PrepError(f"{manifest}:{line}: cannot read audio {path} ({e})") from None
        rec = recording_record(row["id"], path, info.samplerate, info.frames)
        src, tgt = row.get("src_lang", ""), row.get("tgt_lang", "")
        translation = tgt and tgt != src
        custom = {"translation": row["tgt_text"], "tgt_lang": tgt} if translation else {}
        sup = Supervision(
            row["id"],
            row["id"],
            0.0,
            rec["duration"],
            row.get("src_text", ""),
            src,
            row.get("speaker", ""),
            custom,
        )
        recordings.append(rec)
        supervisions.append(supervision_record(sup))
    out.mkdir(parents=True, exist_ok=True)
    stem = manifest.name.removesuffix(".tsv")
    paths = [out / f"{stem}_{kind}.jsonl.gz" for kind in ("recordings", "supervisions", "cuts")]
    write_jsonl(paths[0], recordings)
    write_jsonl(paths[1], supervisions)
    write_jsonl(paths[2], [cut_record(r, s) for r, s in zip(recordings, supervisions)])
    return paths


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog=COMMAND,
        description="Write lhotse recordings, supervisions and cuts (.jsonl.gz) for speech "
        "manifests whose audio column names audio files (not feature zips).",
    )
    parser.add_argument("manifests", nargs="+", type=Path, metavar="MANIFEST")
    parser.add_argument("--out", type=Path, required=True, help="folder the JSONL files go to")
    parser.add_argument(
        "--audio-root",
        type=Path,
        help="folder relative audio paths are resolved against (default: the manifest's)",
    )
    args = parser.parse_args(argv)

    def body() -> int:
        for manifest in args.manifests:
            try:
                paths = export(manifest, args.out, args.audio_root)
            except OSError as e:
                raise PrepError(f"{manifest}: {e.strerror or e}") from None
            print(f"{COMMAND}: {manifest} -> {' '.join(str(p) for p in paths)}")
        return 0

    return run(COMMAND, body)


if __name__ == "__main__":
    sys.exit(main())
