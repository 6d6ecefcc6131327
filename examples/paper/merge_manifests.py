"""Merge manifests into one, e.g. the per-language manifests a prep command writes.

    python examples/paper/merge_manifests.py OUT.tsv IN.tsv [IN.tsv ...] [--map-lang en_us=en] [--per-input N] [--shard I/K]

Temperature sampling works across the languages *inside* one corpus of the data config,
and corpora of one type are mixed in proportion to their sizes (``data/pipeline/sampling.py``).
The prep commands write one manifest per language (``train_text_de.tsv``, ...), so the
paper's T=3 over mC4's languages and T=2 over the MT pairs need those manifests merged
into one per corpus; for speech, ASR and AST (T=1) merging only keeps the data configs
short, the sampling being the same.

- Relative ``audio`` paths (plain files and ``features.zip:OFFSET:LENGTH`` references)
  are rewritten relative to OUT's folder, so inputs may lie in other folders.
- Ids become ``<input stem>/<id>``: mC4 and MLS ids repeat across languages.
- ``--map-lang FROM=TO`` renames language codes (FLEURS's ``en_us`` is CoVoST's ``en``);
  each code is one language tag, and one embedding, in the model.
- ``--per-input N`` keeps the first N rows of each input: a small multilingual sample for
  fitting the vocabulary or the speech tokenizer.
- ``--shard I/K`` keeps rows I, I+K, I+2K, ... of each input: every language in every one
  of K slices, for corpora larger than a training process can hold (README.md).
- OUT itself is skipped when a shell glob lists it among the inputs (a re-run).
- A UTF-8 byte order mark before an input's header is skipped, as ``read_manifest`` does.

Rows are streamed, so inputs of any size merge in constant memory; OUT is replaced
atomically, and the summary lists rows, hours and languages.
"""

import argparse
import csv
import os
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from mu2slam_fairseq.data.io.features import split_zip_ref
from mu2slam_fairseq.data.io.manifest import COLUMNS
from mu2slam_manifests.common import StreamingManifest, Summary

COMMAND = "merge_manifests.py"


def header(path: Path) -> List[str]:
    with open(path, encoding="utf-8-sig", newline="") as f:
        line = f.readline().rstrip("\r\n")
    if not line:
        raise ValueError(f"{path}: empty file (no header row)")
    return line.split("\t")


def rebase(audio: str, src_dir: Path, out_dir: Path) -> str:
    """``audio`` of a manifest in ``src_dir`` as a manifest in ``out_dir`` must write it."""
    if not audio:
        return audio
    ref = split_zip_ref(audio)
    path = ref[0] if ref else audio
    if not os.path.isabs(path):
        path = Path(os.path.relpath(src_dir / path, out_dir)).as_posix()
    return f"{path}:{ref[1]}:{ref[2]}" if ref else path


def merge(
    out: Path,
    inputs: Sequence[Path],
    lang_map: Optional[Dict[str, str]] = None,
    per_input: Optional[int] = None,
    shard: Tuple[int, int] = (0, 1),
) -> Summary:
    out = Path(out)
    inputs = [Path(p) for p in inputs if Path(p).resolve() != out.resolve()]
    if not inputs:
        raise ValueError("no input manifest (other than the output)")
    headers = {p: header(p) for p in inputs}
    seen = [c for h in headers.values() for c in h]
    columns = [c for c in COLUMNS if c in seen] + list(
        dict.fromkeys(c for c in seen if c not in COLUMNS)
    )
    lang_map = lang_map or {}
    summary = Summary(COMMAND, out.parent)
    out_dir = out.parent.resolve()
    with StreamingManifest(out, columns, summary) as sink:
        for path in inputs:
            src_dir = path.parent.resolve()
            with open(path, encoding="utf-8-sig", newline="") as f:
                reader = csv.reader(f, delimiter="\t", quotechar=None, quoting=csv.QUOTE_NONE)
                names = next(reader)
                kept = 0
                for n, fields in enumerate(reader):
                    if per_input is not None and kept >= per_input:
                        break
                    if not fields or n % shard[1] != shard[0]:
                        continue
                    kept += 1
                    if len(fields) != len(names):
                        raise ValueError(
                            f"{path}:{reader.line_num}: {len(fields)} fields, header has {len(names)}"
                        )
                    row = dict(zip(names, fields))
                    row["id"] = f"{path.stem}/{row['id']}"
                    if row.get("audio"):
                        row["audio"] = rebase(row["audio"], src_dir, out_dir)
                    for key in ("src_lang", "tgt_lang"):
                        if row.get(key) in lang_map:
                            row[key] = lang_map[row[key]]
                    sink.write(row)
    return summary


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(
        prog=COMMAND, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("out", type=Path, help="the merged manifest to write")
    p.add_argument("inputs", type=Path, nargs="+", help="manifests to merge, in this order")
    p.add_argument(
        "--map-lang",
        action="append",
        default=[],
        metavar="FROM=TO",
        help="rename a language code (repeatable)",
    )
    p.add_argument(
        "--per-input", type=int, metavar="N", help="keep only the first N rows of each input"
    )
    p.add_argument(
        "--shard", default="0/1", metavar="I/K", help="keep rows I, I+K, I+2K, ... of each input"
    )
    a = p.parse_args(argv)
    pairs = [m.split("=", 1) for m in a.map_lang]
    if any(len(pair) != 2 or not all(pair) for pair in pairs):
        p.error("--map-lang takes FROM=TO")
    try:
        i, k = (int(x) for x in a.shard.split("/"))
        assert 0 <= i < k
    except (ValueError, AssertionError):
        p.error("--shard takes I/K with 0 <= I < K")
    try:
        summary = merge(a.out, a.inputs, dict(pairs), a.per_input, (i, k))
    except (OSError, ValueError) as e:
        print(f"{COMMAND}: error: {e}", file=sys.stderr)
        return 2
    print(summary.text())
    return 0 if summary.manifests else 1


if __name__ == "__main__":
    raise SystemExit(main())
