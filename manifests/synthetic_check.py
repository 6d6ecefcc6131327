"""``mu2slam-prep-synthetic-check``: the real ASR transcripts of a corpus spoken by one
espeak-ng voice, as a sanity check of the speech path.

One synthetic voice reads every sentence the same way, so any ASR recipe that works must
learn it fast; when it does not, something in features, masks, lengths or decoding is
wrong, and that comes before any tuning on real speech. Each split keeps its real split's
sentences (``{train,dev,test}_asr_<lang>.tsv`` of CORPUS), so no test sentence is ever
trained on. Writes ``{split}_asr_<lang>.tsv`` and ``fbank80.zip`` into OUT::

    mu2slam-prep-synthetic-check --corpus work/demo/corpus --out work/synth --langs nl,cs
"""

import argparse
import sys
from pathlib import Path
from typing import Optional, Sequence

from mu2slam_fairseq.data.io.manifest import read_manifest, write_manifest

from . import synthetic
from .featurize import Source, build_feature_zip

SPLITS = ("train", "dev", "test")


def build(corpus: Path, out: Path, langs: Sequence[str], progress: bool = True) -> dict:
    """Synthesize every split of each language; returns {manifest name: rows written}."""
    if not synthetic.available():
        raise RuntimeError("espeak-ng is not installed (apt-get install espeak-ng)")
    rows = {}
    for lang in langs:
        voice = synthetic.VOICES.get(lang, lang)
        for split in SPLITS:
            path = corpus / f"{split}_asr_{lang}.tsv"
            if not path.exists():
                raise RuntimeError(f"{path}: no such manifest (the real ASR split to read out)")
            rows[f"{split}_asr_{lang}.tsv"] = [
                dict(r, id=f"synth/{r['id']}", speaker=f"espeak-{voice}")
                for r in read_manifest(path, ("id", "src_text"))
            ]
    sources = [
        Source(
            r["id"],
            (lambda t=r["src_text"], v=r["speaker"][len("espeak-") :]: synthetic.synthesize(t, v)),
            f"{r['speaker']}:{r['src_text']}",
        )
        for m in rows.values()
        for r in m
    ]
    out.mkdir(parents=True, exist_ok=True)
    items, failed, _ = build_feature_zip(
        out / "fbank80.zip", sources, progress=progress, desc="espeak-ng"
    )
    written = {}
    for name, manifest in rows.items():
        kept = [
            dict(r, audio=items[r["id"]][0], n_frames=str(items[r["id"]][1]))
            for r in manifest
            if r["id"] in items
        ]
        written[name] = write_manifest(out / name, kept)
    if failed:
        print(
            f"{len(failed)} sentences could not be synthesized, e.g. {next(iter(failed.values()))}",
            file=sys.stderr,
        )
    return written


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(
        prog="mu2slam-prep-synthetic-check",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--corpus", type=Path, required=True, help="folder with {train,dev,test}_asr_<lang>.tsv"
    )
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--langs", default="nl", help="comma-separated languages (default: nl)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    a = p.parse_args(argv)
    try:
        written = build(a.corpus, a.out, [x for x in a.langs.split(",") if x], a.progress)
    except RuntimeError as e:
        print(f"mu2slam-prep-synthetic-check: {e}", file=sys.stderr)
        return 1
    for name, n in written.items():
        print(f"wrote {a.out / name}: {n} rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
