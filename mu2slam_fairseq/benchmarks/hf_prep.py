"""Peak memory of mu2slam-prep-hf on a large parquet dataset: it must stay bounded by one
record batch, whatever the number of clips (goal: below 1 GB for 200k clips in 20 shards).

The dataset is made here from a few real Fish Fillets clips (Dutch speech, cut to at
most 1 s, FLAC at 16 kHz as MLS stores it), repeated under distinct ids in MLS's parquet
schema, and written row group by row group. ``mu2slam-prep-hf --dataset mls`` then runs
as a child process, validator included; its peak resident memory is the operating
system's account when it ends. Wall time and time per clip are printed beside it.

Measured 2026-12-03 on a shared 2-core CPU (load 5-7): 1004 MiB for 200k clips (6.0 GB of
features, 731 s), 960 MiB for 200; importing the script alone takes 800 MiB.
"""

import io
import shutil
import sys
import tempfile
from pathlib import Path

from . import _common as C
from .memory import run_child

GOAL_MB = 1024.0
ROW_GROUP = 100  # rows per row group, as datasets writes audio datasets


def write_dataset(root: Path, clips: int, shards: int, sources: int = 8) -> None:
    """``clips`` rows of MLS's schema in ``shards`` parquet files under ``root/dutch``."""
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq
    import soundfile as sf

    from mu2slam_manifests.debian import fetch_packages

    from ..data.io.audio import load_waveform

    fillets = fetch_packages(["fillets-ng-data", "fillets-ng-data-nl"])
    paths = sorted((fillets / "usr/share/games/fillets-ng/sound/airplane/nl").glob("*.ogg"))
    encoded = []
    for p in paths[:sources]:
        buf = io.BytesIO()
        sf.write(buf, load_waveform(p)[:16000], 16000, format="FLAC")
        encoded.append(buf.getvalue())
    audio = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    strings = ("original_path", "transcript", "speaker_id", "chapter_id", "file", "id")
    fields = [pa.field("audio", audio)] + [pa.field(c, pa.string()) for c in strings]
    features = {"audio": {"sampling_rate": 16000, "_type": "Audio"}}
    features |= {c: {"dtype": "string", "_type": "Value"} for c in strings}
    schema = pa.schema(
        fields, metadata={b"huggingface": json.dumps({"info": {"features": features}})}
    )
    (root / "dutch").mkdir(parents=True, exist_ok=True)
    per_shard = -(-clips // shards)
    n = 0
    for s in range(shards):
        path = root / "dutch" / f"train-{s:05d}-of-{shards:05d}.parquet"
        with pq.ParquetWriter(path, schema) as writer:
            for start in range(0, per_shard, ROW_GROUP):
                rows = []
                for _ in range(min(ROW_GROUP, per_shard - start, clips - n)):
                    uid = f"{10 + n % 97}_{n // 97}_{n:06d}"
                    data = encoded[n % len(encoded)]
                    rows.append(
                        (
                            {"bytes": data, "path": f"{uid}.flac"},
                            "",
                            "een twee drie",
                            uid[:2],
                            "",
                            f"{uid}.flac",
                            uid,
                        )
                    )
                    n += 1
                if rows:
                    columns = list(zip(*rows))
                    writer.write_table(
                        pa.Table.from_pydict(dict(zip(schema.names, columns)), schema=schema)
                    )


def main(argv=None) -> None:
    p = C.parser("hf_prep", __doc__)
    p.add_argument("--clips", type=int, default=200_000)
    p.add_argument("--shards", type=int, default=20)
    p.add_argument("--work", type=Path, help="folder for the dataset and output (kept)")
    args = p.parse_args(argv)
    if args.quick:
        args.clips, args.shards = 200, 2
    print(
        f"hf_prep: {args.clips} clips in {args.shards} parquet shards"
        + (" (quick mode)" if args.quick else ""),
        flush=True,
    )
    work = args.work or Path(tempfile.mkdtemp(prefix="hf_prep."))
    try:
        write_dataset(work / "hf", args.clips, args.shards)
        cmd = [sys.executable, "-m", "mu2slam_manifests.hf", "--dataset", "mls"]
        cmd += ["--dir", str(work / "hf"), "--out", str(work / "out"), "--no-progress"]
        peak, wall, out, _ = run_child(cmd, args.threads)
        print(out.strip())
        zip_mb = (work / "out" / "fbank80.zip").stat().st_size / 2**20
        print(
            C.table(
                ["clips", "shards", "wall s", "ms/clip", "peak RSS MB", "zip MB"],
                [[args.clips, args.shards, wall, 1000 * wall / args.clips, peak, zip_mb]],
            )
        )
        met = "met" if peak < GOAL_MB else "NOT met"
        print(f"comparison: peak RSS {peak:.0f} MB (goal < {GOAL_MB:.0f} MB: {met})")
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
