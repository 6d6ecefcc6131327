"""``mu2slam-speech-tokenizer``: fit a frozen speech tokenizer, apply it to manifests, report on it.

mu2slam-speech-tokenizer fit --kind kmeans --manifest speech_train.tsv --out tok.pt
mu2slam-speech-tokenizer fit --kind w2vbert --checkpoint checkpoint_best.pt --out tok.pt
mu2slam-speech-tokenizer apply --tokenizer tok.pt --manifest asr_train.tsv
mu2slam-speech-tokenizer report --tokenizer tok.pt --manifest speech_valid.tsv
"""

import argparse
import json
import sys
import time
from pathlib import Path
from typing import List, Optional

import torch

from .apply import apply_to_manifest
from .errors import TokenizerError
from .fit import DEFAULT_CODEBOOK_SIZE, DEFAULT_MAX_SAMPLES, DEFAULT_PROJECTION_DIM, fit_tokenizer
from .report import as_dict, format_report, stability, usage
from .storage import load_tokenizer
from .tokenizer import KINDS


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--audio-manifest",
        type=Path,
        help="manifest listing the original audio by id, for rows that store features (needed by "
        "w2v-kmeans and by the stability report)",
    )
    p.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    p.add_argument(
        "--skip-errors", action="store_true", help="skip unreadable rows instead of stopping"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mu2slam-speech-tokenizer", description=__doc__.split("\n\n")[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)

    f = sub.add_parser("fit", help="fit a tokenizer on the speech rows of a manifest and save it")
    f.add_argument(
        "--kind",
        choices=KINDS,
        default="kmeans",
        help="kmeans: k-means over stacked log-Mel; bestrq: random-projection quantizer; "
        "w2v-kmeans: k-means over hidden states of a wav2vec 2.0 / HuBERT checkpoint; "
        "w2vbert: the quantizer of a mu2slam_w2vbert checkpoint (exported, nothing fitted)",
    )
    f.add_argument("--manifest", type=Path, help="speech rows to fit on (every kind but w2vbert)")
    f.add_argument("--out", type=Path, required=True, help="tokenizer file to write")
    f.add_argument("--codebook-size", type=int, default=DEFAULT_CODEBOOK_SIZE)
    f.add_argument(
        "--max-samples",
        type=int,
        default=DEFAULT_MAX_SAMPLES,
        help="at most this many 40 ms steps kept in memory for k-means (seeded reservoir sample)",
    )
    f.add_argument("--max-utterances", type=int, help="fit on the first N speech rows only")
    f.add_argument("--seed", type=int, default=1)
    f.add_argument("--iterations", type=int, default=20, help="at most this many Lloyd iterations")
    f.add_argument("--init", choices=("k-means++", "random"), default="k-means++")
    f.add_argument(
        "--projection-dim", type=int, default=DEFAULT_PROJECTION_DIM, help="bestrq projection size"
    )
    f.add_argument(
        "--normalization",
        choices=("global", "utterance"),
        default="global",
        help="log-Mel kinds: standardise with corpus statistics only (global), or subtract each "
        "utterance's mean first (utterance: ids do not change with the recording level)",
    )
    f.add_argument(
        "--checkpoint",
        type=Path,
        help="w2v-kmeans: fairseq wav2vec 2.0 or HuBERT checkpoint; w2vbert: mu2slam_w2vbert checkpoint",
    )
    f.add_argument(
        "--layer",
        type=int,
        help="w2v-kmeans: Transformer block whose output is clustered (1-based)",
    )
    _common(f)

    a = sub.add_parser("apply", help="write or refresh the units column of a manifest")
    a.add_argument("--tokenizer", type=Path, required=True)
    a.add_argument("--manifest", type=Path, required=True)
    a.add_argument(
        "--out", type=Path, help="manifest to write, in the same folder (default: in place)"
    )
    _common(a)

    r = sub.add_parser("report", help="codebook usage and id stability on a manifest")
    r.add_argument("--tokenizer", type=Path, required=True)
    r.add_argument("--manifest", type=Path, required=True)
    r.add_argument("--max-utterances", type=int, help="usage on the first N speech rows only")
    r.add_argument(
        "--stability-utterances",
        type=int,
        default=100,
        help="seeded sample of utterances re-encoded for stability (0: skip)",
    )
    r.add_argument("--gain-db", type=float, default=-6.0)
    r.add_argument("--snr-db", type=float, default=30.0)
    r.add_argument("--seed", type=int, default=1)
    r.add_argument("--json", action="store_true", help="print the figures as JSON")
    _common(r)
    return parser


# the ``fit`` options passed to fit_tokenizer under their own names
FIT_OPTIONS = (
    "codebook_size",
    "max_samples",
    "seed",
    "iterations",
    "init",
    "projection_dim",
    "normalization",
    "checkpoint",
    "layer",
    "audio_manifest",
    "max_utterances",
    "skip_errors",
)


def run(args: argparse.Namespace) -> None:
    progress = not args.quiet
    if args.command == "fit":
        start = time.time()
        options = {name: getattr(args, name) for name in FIT_OPTIONS}
        tok = fit_tokenizer(args.kind, args.manifest, progress=progress, **options)
        tok.save(args.out)
        s = tok.settings
        if tok.kind == "w2vbert":
            print(
                f"wrote {args.out}: w2vbert, {tok.codebook_size} ids ({s['groups']} x "
                f"{s['entries_per_group']}) from {s['checkpoint']}, {time.time() - start:.1f} s"
            )
            return
        extra = (
            f", {s['iterations_run']} k-means iterations, {s['used_on_sample']} entries used on the sample"
            if "iterations_run" in s
            else ""
        )
        print(
            f"wrote {args.out}: {tok.kind}, {tok.codebook_size} entries, {s['utterances']} utterances "
            f"({s['steps_seen']} steps){extra}, {time.time() - start:.1f} s"
        )
        if s.get("skipped_utterances"):
            print(
                f"skipped {s['skipped_utterances']} unreadable rows, e.g. {s['first_skipped'][0]}",
                file=sys.stderr,
            )
    elif args.command == "apply":
        tok = load_tokenizer(args.tokenizer)
        summary = apply_to_manifest(
            tok,
            args.manifest,
            args.out,
            audio_manifest=args.audio_manifest,
            skip_errors=args.skip_errors,
            progress=progress,
        )
        print(
            f"wrote units for {summary.speech_rows - len(summary.failed)} of {summary.speech_rows} speech rows "
            f"({summary.steps} steps) to {args.out or args.manifest}"
        )
        if summary.failed:
            print(
                f"{len(summary.failed)} rows left without units, e.g. {summary.failed[0]}",
                file=sys.stderr,
            )
        if summary.length_mismatches:
            print(
                f"warning: {len(summary.length_mismatches)} rows have n_frames that disagree with their features "
                f"(e.g. {summary.length_mismatches[0]}); units follow the features",
                file=sys.stderr,
            )
    else:
        tok = load_tokenizer(args.tokenizer)
        use = usage(
            tok, args.manifest, args.audio_manifest, args.max_utterances, args.skip_errors, progress
        )
        stab = None
        if args.stability_utterances > 0:
            stab = stability(
                tok,
                args.manifest,
                args.audio_manifest,
                args.stability_utterances,
                args.gain_db,
                args.snr_db,
                args.seed,
                args.skip_errors,
                progress,
            )
        if args.json:
            print(json.dumps(as_dict(use, stab), indent=2))
        else:
            print(format_report(tok, args.tokenizer.name, use, stab))


def main(argv: Optional[List[str]] = None) -> None:
    args = build_parser().parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        run(args)
    except (TokenizerError, OSError, ValueError) as e:
        print(f"mu2slam-speech-tokenizer {args.command}: error: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
