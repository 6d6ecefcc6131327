"""The embedded default corpus: real speech, translations, parallel and monolingual text.

Built offline from Debian packages (``mu2slam-prep-default-corpus --out DIR``):

- Fish Fillets NG: Czech and Dutch voice recordings with transcripts and English
  translations (ASR ``asr_{cs,nl}_*``, speech translation ``st_{cs,nl}_en_*``), its dialogue
  in a dozen languages (MT), and the English game's own recordings (unlabeled speech).
  Split by level: every sentence of a dev or test level, in every language, is kept out of
  every training manifest, as is any training line equal to one of them after normalising
  case and whitespace (the same line recurs across levels and languages).
- Battle for Wesnoth catalogues: xx -> en sentence pairs, dev and test held out by campaign.
- fortune files (en, de, es, it, ru): monolingual text.
- optionally speed-perturbed copies of the real training speech (``--speed-perturb 0.9,1.1``:
  rows ``sp0.9/<id>`` in the training ASR and speech translation manifests, features in
  ``fbank80_speed.zip``), as Kaldi and ESPnet recipes make them.
- optionally espeak-ng speech for more languages (``train_asr_synth_<lang>.tsv``), made from
  training sentences only and never mixed into the real-speech test sets.

Features of every real utterance go into ``fbank80.zip``; ``splits.json`` records the
level and campaign splits and ``summary.json`` the counts. The same machine state gives
byte-identical outputs, and a rerun over complete outputs only checks them.
"""

import argparse
import fcntl
import hashlib
import json
import sys
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from mu2slam_fairseq.data.io import validate as _validate
from mu2slam_fairseq.data.io.audio import load_waveform, speed_perturb
from mu2slam_fairseq.data.io.manifest import atomic_write_text, write_manifest

from . import fillets, fortunes, synthetic, wesnoth
from .debian import DEFAULT_CACHE, fetch_packages
from .rows import MT_COLUMNS, SPEECH_COLUMNS, TEXT_COLUMNS, UNLABELED_COLUMNS, Row
from .default_rows import (
    mt_manifests,
    speech_manifests,
    synthetic_sentences,
    text_manifests,
)
from .default_sources import Sources, Utterance, load_sources, utterances
from .featurize import Source, build_feature_zip, file_signature, index_path

BUILD_VERSION = "1"
FILLETS_PACKAGES = ("fillets-ng-data", "fillets-ng-data-cs", "fillets-ng-data-nl")
FORTUNE_PACKAGES = tuple(fortunes.PACKAGES.values())
DEFAULT_WESNOTH_LANGS = ("bg", "cs", "de", "eo", "es", "fr", "it", "nl", "pl", "ru", "sl", "sv")
DEFAULT_SEED = 1
FEATURES = "fbank80.zip"
SYNTH_FEATURES = "fbank80_synth.zip"
SPEED_FEATURES = "fbank80_speed.zip"
STAMP = ".complete.json"
# The code whose changes invalidate a finished build.
CODE_MODULES = tuple(
    f"mu2slam_manifests.{m}"
    for m in (
        "default_corpus",
        "default_rows",
        "default_sources",
        "debian",
        "featurize",
        "fillets",
        "fortunes",
        "holdout",
        "rows",
        "synthetic",
        "textclean",
        "wesnoth",
    )
) + tuple(
    f"mu2slam_fairseq.data.io.{m}"
    for m in ("audio", "features", "manifest", "langcodes", "row_checks", "validate")
)


def _columns(name: str) -> Sequence[str]:
    """Columns by the data type in a ``{split}_{type}[_{langs}].tsv`` name."""
    kind = name[: -len(".tsv")].split("_")[1]
    if kind in ("asr", "st"):
        return SPEECH_COLUMNS
    if kind == "speech":
        return UNLABELED_COLUMNS
    return MT_COLUMNS if kind == "mt" else TEXT_COLUMNS


@dataclass
class Options:
    out: Path
    seed: int = DEFAULT_SEED
    cache: Path = DEFAULT_CACHE
    wesnoth_langs: Tuple[str, ...] = DEFAULT_WESNOTH_LANGS
    synthetic_langs: Tuple[str, ...] = ()
    synthetic_max: int = 500
    speed_factors: Tuple[float, ...] = ()
    progress: bool = True
    validate: bool = True
    force: bool = False
    log: object = field(default=sys.stderr)

    def fingerprint(self) -> str:
        """Everything an output depends on, except the (cached, versioned) packages."""
        h = hashlib.sha256()
        settings = {
            "version": BUILD_VERSION,
            "seed": self.seed,
            "wesnoth_langs": sorted(self.wesnoth_langs),
            "synthetic_langs": sorted(self.synthetic_langs),
            "synthetic_max": self.synthetic_max,
            "speed_factors": sorted(self.speed_factors),
            "validate": self.validate,
        }
        h.update(json.dumps(settings, sort_keys=True).encode())
        for module in CODE_MODULES:
            h.update(module.encode() + b"\0" + Path(sys.modules[module].__file__).read_bytes())
        return h.hexdigest()


def _say(opts: Options, message: str) -> None:
    print(message, file=opts.log, flush=True)


class _Lock:
    """An exclusive lock on the output folder, so concurrent builders take turns."""

    def __init__(self, out: Path):
        out.mkdir(parents=True, exist_ok=True)
        self.f = open(out / ".lock", "w")

    def __enter__(self):
        fcntl.flock(self.f, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.f, fcntl.LOCK_UN)
        self.f.close()


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def is_complete(out: Path, fingerprint: Optional[str] = None) -> bool:
    """True when ``out`` holds a finished build (of these options, if ``fingerprint``)."""
    try:
        stamp = json.loads((Path(out) / STAMP).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if fingerprint is not None and stamp.get("fingerprint") != fingerprint:
        return False
    for name, digest in stamp.get("files", {}).items():
        p = Path(out) / name
        if not p.is_file() or _sha256(p) != digest:
            return False
    return bool(stamp.get("files"))


def build(opts: Options) -> Dict:
    """Build (or confirm) the corpus in ``opts.out``; returns the summary."""
    out = Path(opts.out)
    with _Lock(out):
        fingerprint = opts.fingerprint()
        if not opts.force and is_complete(out, fingerprint):
            _say(opts, f"{out}: complete and unchanged; nothing to do (--force rebuilds)")
            return json.loads((out / "summary.json").read_text(encoding="utf-8"))
        (out / STAMP).unlink(missing_ok=True)
        return _build(opts, out, fingerprint)


def _real_speech(opts: Options, out: Path, src: Sources) -> Dict[str, List[Row]]:
    """Features of every used recording into fbank80.zip, then the speech manifests."""
    used = utterances(src)
    sources = [
        Source(u.uid, (lambda p=u.path: load_waveform(p)), file_signature(u.path, src.root))
        for u in used
    ]
    _say(opts, f"features: {len(sources)} real utterances -> {out / FEATURES}")
    items, failed, reused = build_feature_zip(
        out / FEATURES, sources, progress=opts.progress, desc="fbank80"
    )
    if reused:
        _say(opts, "features: reusing the existing zip (same sources)")
    for why in failed.values():
        src.dropped[f"unreadable audio: {why.split(': ', 1)[-1][:60]}"] += 1
    real = []
    for u in used:
        if u.uid in items:
            u.audio, u.n_frames = items[u.uid]
            real.append(u)
    manifests = speech_manifests(real)
    if opts.speed_factors:
        for name, rows in _speed_perturbed(opts, out, real, src).items():
            manifests[name] += rows
    return manifests


def _speed_perturbed(
    opts: Options, out: Path, real: List[Utterance], src: Sources
) -> Dict[str, List[Row]]:
    """Training ASR and speech translation rows of every real training utterance played at
    each speed factor, their features in fbank80_speed.zip; dev and test stay unperturbed."""
    train = [u for u in real if u.split == "train" and u.transcript is not None]
    key = "sp{:g}/{}".format
    sources = [
        Source(
            key(f, u.uid),
            (lambda p=u.path, f=f: speed_perturb(load_waveform(p), f)),
            f"{file_signature(u.path, src.root)}:speed {f:g}",
        )
        for u in train
        for f in opts.speed_factors
    ]
    _say(opts, f"speed perturbation: {len(sources)} utterances -> {out / SPEED_FEATURES}")
    items, failed, _ = build_feature_zip(
        out / SPEED_FEATURES, sources, progress=opts.progress, desc="speed"
    )
    for why in failed.values():
        src.dropped[f"speed perturbation: {why.split(': ', 1)[-1][:60]}"] += 1
    copies = [
        replace(u, uid=k, audio=items[k][0], n_frames=items[k][1])
        for u in train
        for k in (key(f, u.uid) for f in opts.speed_factors)
        if k in items
    ]
    return {
        name: rows
        for name, rows in speech_manifests(copies).items()
        if name.startswith(("train_asr_", "train_st_"))
    }


def _synthetic(opts: Options, out: Path, src: Sources) -> Dict[str, List[Row]]:
    """espeak-ng ASR data from training sentences only, in fbank80_synth.zip."""
    if not synthetic.available():
        raise RuntimeError("--synthetic-langs needs espeak-ng (apt-get install espeak-ng)")
    known = set(synthetic.espeak_voices())
    sources, meta = [], {}
    for lang in opts.synthetic_langs:
        if synthetic.VOICES.get(lang, lang) not in known:
            raise RuntimeError(f"espeak-ng has no voice for {lang!r}")
        for uid, text in synthetic_sentences(src, lang, opts.seed, opts.synthetic_max):
            voice = synthetic.voice_for(lang, text)
            sources.append(
                Source(uid, (lambda t=text, v=voice: synthetic.synthesize(t, v)), f"{voice}:{text}")
            )
            meta[uid] = (lang, text, voice)
    _say(opts, f"synthetic speech: {len(sources)} utterances -> {out / SYNTH_FEATURES}")
    items, failed, _ = build_feature_zip(
        out / SYNTH_FEATURES, sources, progress=opts.progress, desc="espeak-ng"
    )
    for why in failed.values():
        src.dropped[f"synthetic: {why[:60]}"] += 1
    out_rows: Dict[str, List[Row]] = {
        f"train_asr_synth_{lang}.tsv": [] for lang in opts.synthetic_langs
    }
    for uid, (lang, text, voice) in meta.items():
        if uid in items:
            ref, n = items[uid]
            out_rows[f"train_asr_synth_{lang}.tsv"].append(
                {
                    "id": uid,
                    "audio": ref,
                    "n_frames": str(n),
                    "src_text": text,
                    "tgt_text": text,
                    "src_lang": lang,
                    "tgt_lang": lang,
                    "speaker": f"espeak-{voice.split('+')[1]}",
                }
            )
    return out_rows


def _build(opts: Options, out: Path, fingerprint: str) -> Dict:
    started = time.time()
    _say(opts, "fetching Debian packages (cached after the first time)")
    root = fetch_packages(FILLETS_PACKAGES + FORTUNE_PACKAGES + wesnoth.PACKAGES, Path(opts.cache))
    src = load_sources(root, opts.seed, opts.wesnoth_langs)

    manifests: Dict[str, List[Row]] = {}
    manifests.update(_real_speech(opts, out, src))
    manifests.update(mt_manifests(src))
    manifests.update(text_manifests(src, opts.seed))
    if opts.synthetic_langs:
        manifests.update(_synthetic(opts, out, src))
    for stale in out.glob("train_asr_synth_*.tsv"):
        if stale.name not in manifests:
            stale.unlink()
    for wanted, zip_name in (
        (opts.synthetic_langs, SYNTH_FEATURES),
        (opts.speed_factors, SPEED_FEATURES),
    ):
        if not wanted:
            for name in (zip_name, index_path(out / zip_name).name):
                (out / name).unlink(missing_ok=True)

    for name, rows in manifests.items():
        write_manifest(out / name, sorted(rows, key=lambda r: r["id"]), _columns(name))
    splits_doc = {
        "seed": opts.seed,
        "method": "groups sorted by sha256(seed, name); the first 10% test, the next 10% dev",
        "fillets_levels": dict(src.level_splits, always_train=[fillets.SHARE]),
        "wesnoth_campaigns": dict(
            src.campaign_splits,
            always_train=sorted(d for d in set(src.domain_split) if d not in wesnoth.CAMPAIGNS),
        ),
    }
    atomic_write_text(out / "splits.json", json.dumps(splits_doc, indent=2, sort_keys=True) + "\n")
    summary = _summary(manifests, src.dropped)
    atomic_write_text(
        out / "summary.json",
        json.dumps(summary, indent=2, sort_keys=True, ensure_ascii=False) + "\n",
    )
    _print_summary(opts, summary)

    if opts.validate:
        _say(opts, f"validating {len(manifests)} manifests")
        problems = _validate.validate_manifests([out / n for n in sorted(manifests)])
        if problems:
            for p in problems[:50]:
                _say(opts, str(p))
            raise RuntimeError(f"{len(problems)} problem(s) in the written manifests")
    names = sorted(manifests) + [
        "splits.json",
        "summary.json",
        FEATURES,
        index_path(out / FEATURES).name,
    ]
    if opts.synthetic_langs:
        names += [SYNTH_FEATURES, index_path(out / SYNTH_FEATURES).name]
    if opts.speed_factors:
        names += [SPEED_FEATURES, index_path(out / SPEED_FEATURES).name]
    stamp = {"fingerprint": fingerprint, "files": {n: _sha256(out / n) for n in names}}
    atomic_write_text(out / STAMP, json.dumps(stamp, indent=1, sort_keys=True) + "\n")
    _say(opts, f"done in {time.time() - started:.0f} s: {out}")
    return summary


# ----------------------------------------------------------------------------- summary


def _summary(manifests: Dict[str, List[Row]], dropped) -> Dict:
    out = {"manifests": {}, "dropped": {k: v for k, v in sorted(dropped.items()) if v}}
    for name, rows in sorted(manifests.items()):
        langs = Counter(
            r["src_lang"]
            + ("->" + r["tgt_lang"] if r.get("tgt_lang") and r["tgt_lang"] != r["src_lang"] else "")
            for r in rows
        )
        entry = {"rows": len(rows), "languages": dict(sorted(langs.items()))}
        if rows and rows[0].get("audio"):
            entry["hours"] = round(sum(int(r["n_frames"]) for r in rows) / 100 / 3600, 3)
        out["manifests"][name] = entry
    st = [n for n in manifests if n.split("_")[1] == "st"]
    out["real_utterances_with_translation"] = sum(len(manifests[n]) for n in st)
    out["real_hours_with_translation"] = round(
        sum(out["manifests"][n].get("hours", 0) for n in st), 3
    )
    out["mt_train_pairs"] = len(manifests.get("train_mt.tsv", []))
    return out


def _print_summary(opts: Options, summary: Dict) -> None:
    _say(opts, f"\n{'manifest':28} {'rows':>8} {'hours':>7}  languages")
    for name, e in summary["manifests"].items():
        hours = f"{e['hours']:.2f}" if "hours" in e else ""
        langs = " ".join(f"{k}:{v}" for k, v in e["languages"].items())
        if len(langs) > 90:
            langs = langs[:87] + "..."
        _say(opts, f"{name:28} {e['rows']:>8} {hours:>7}  {langs}")
    _say(
        opts,
        f"\nreal utterances with transcript and English translation (nl+cs): "
        f"{summary['real_utterances_with_translation']} ({summary['real_hours_with_translation']:.2f} h)",
    )
    _say(opts, f"MT training pairs: {summary['mt_train_pairs']}")
    _say(opts, "\nrows dropped, and why:")
    for reason, n in summary["dropped"].items():
        _say(opts, f"  {n:>7}  {reason}")


# ----------------------------------------------------------------------------- command line


def _codes(value: str) -> Tuple[str, ...]:
    return tuple(c for c in value.replace(",", " ").split() if c)


def _factors(value: str) -> Tuple[float, ...]:
    try:
        factors = tuple(float(c) for c in _codes(value))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of numbers: {value!r}") from None
    bad = [f for f in factors if not 0.5 <= f <= 2.0 or f == 1.0]
    if bad:
        raise argparse.ArgumentTypeError(
            f"speed factors must lie in [0.5, 2] and differ from 1 (the unperturbed copy is "
            f"always there): {', '.join(f'{f:g}' for f in bad)}"
        )
    return tuple(sorted(set(factors)))


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="mu2slam-prep-default-corpus",
        description=(
            "Build the embedded default corpus from Debian packages (fetched with apt-get "
            "download, no install needed): Czech/Dutch ASR and speech translation into English "
            "(Fish Fillets NG voice recordings, split by level), MT pairs (Fish Fillets dialogue "
            "+ Wesnoth catalogues, held out by campaign), monolingual text (fortunes) and "
            "unlabeled speech, with 80-dim log-Mel features in DIR/fbank80.zip. No sentence of a "
            "dev or test level or campaign appears in any training manifest. Reruns over a "
            "complete build only verify it."
        ),
    )
    parser.add_argument(
        "--out",
        type=Path,
        required=True,
        metavar="DIR",
        help="output folder for manifests and features",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=DEFAULT_SEED,
        help=f"seed of the level/campaign split (default: {DEFAULT_SEED})",
    )
    parser.add_argument(
        "--cache",
        type=Path,
        default=DEFAULT_CACHE,
        metavar="DIR",
        help="where Debian packages are downloaded and unpacked (default: $MU2SLAM_CACHE/debian, "
        "MU2SLAM_CACHE defaulting to ~/.cache/mu2slam)",
    )
    parser.add_argument(
        "--wesnoth-langs",
        type=_codes,
        default=DEFAULT_WESNOTH_LANGS,
        metavar="LANGS",
        help="comma-separated languages of the Wesnoth catalogues used for MT; Wesnoth locale "
        f"names such as pt_BR also work (default: {','.join(DEFAULT_WESNOTH_LANGS)})",
    )
    parser.add_argument(
        "--synthetic-langs",
        type=_codes,
        default=(),
        metavar="LANGS",
        help="also make espeak-ng ASR training data for these languages (e.g. de,fr,es) from "
        "training sentences only, written to train_asr_synth_<lang>.tsv and fbank80_synth.zip "
        "(default: none)",
    )
    parser.add_argument(
        "--synthetic-max-per-lang",
        type=int,
        default=500,
        metavar="N",
        help="synthetic utterances per language (default: 500)",
    )
    parser.add_argument(
        "--speed-perturb",
        type=_factors,
        default=(),
        metavar="FACTORS",
        help="also add the real training speech played at these speeds (e.g. 0.9,1.1) to the "
        "training ASR and speech translation manifests, features in fbank80_speed.zip; dev and "
        "test are never perturbed (default: none)",
    )
    parser.add_argument(
        "--force", action="store_true", help="rebuild even if OUT holds a complete build"
    )
    parser.add_argument(
        "--no-validate",
        dest="validate",
        action="store_false",
        help="skip validating the written manifests",
    )
    parser.add_argument(
        "--no-progress", dest="progress", action="store_false", help="no progress bars"
    )
    args = parser.parse_args(argv)
    opts = Options(
        out=args.out,
        seed=args.seed,
        cache=args.cache,
        wesnoth_langs=args.wesnoth_langs,
        synthetic_langs=args.synthetic_langs,
        synthetic_max=args.synthetic_max_per_lang,
        speed_factors=args.speed_perturb,
        progress=args.progress,
        validate=args.validate,
        force=args.force,
    )
    try:
        build(opts)
    except RuntimeError as e:
        print(f"mu2slam-prep-default-corpus: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
