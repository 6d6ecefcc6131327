"""lhotse manifests (icefall, NeMo's lhotse loader) -> ASR, speech translation or unlabeled
speech manifests.

Input: a recording set with a supervision set, or a cut set, as lhotse's JSONL (``.jsonl``
or ``.jsonl.gz``; see ``lhotse_format``). Each supervision (or MonoCut) becomes one row
with its id: an ASR row when it has text, and an ST row too when its ``custom`` holds a
``translation`` and its ``tgt_lang``; an unlabeled speech row when it has no text. A cut's
text is its supervisions' texts joined by spaces. A supervision covering its whole
recording points at the audio file; a shorter segment becomes a feature item of its own
(the recording resampled to 16 kHz, then cut at start..start+duration), so it needs
``--features``. Channels are down-mixed. Languages are the supervisions' codes, or
``--lang`` for every row (lhotse recipes often write names such as ``English``).
Outputs: ``<split>_asr_<lang>.tsv``, ``<split>_st_<lang>_<tgt>.tsv``,
``<split>_speech_<lang>.tsv``.
"""

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from mu2slam_fairseq.data.io.langcodes import is_known_language

from .common import Clip, PrepError, Segment, text_problem
from .lhotse_format import Recording, Supervision, read_jsonl, recording, required, supervision
from .rows import SPEECH_COLUMNS, UNLABELED_COLUMNS, asr_row, speech_row, st_row
from .template import Output, Pending, Script

COMMAND = "mu2slam-prep-lhotse"
DESCRIPTION = (
    "Make manifests from lhotse JSONL manifests (gzipped or not): --recordings with "
    "--supervisions, or --cuts. Supervisions with text give <split>_asr_<lang>.tsv (and "
    "<split>_st_<lang>_<tgt>.tsv when custom holds translation and tgt_lang), without text "
    "<split>_speech_<lang>.tsv; segments shorter than their recording need --features."
)
WHOLE_TOLERANCE = 0.001  # seconds: a supervision this close to its recording's ends covers it
NOT_A_CODE = "language is not a code the validator knows (pass --lang)"


@dataclass
class Item:
    """One supervision or cut, resolved to its audio: what a row is made of."""

    id: str
    clip: Optional[Clip]
    text: str
    language: str
    speaker: str
    translation: str = ""
    tgt_lang: str = ""
    problem: Optional[str] = None


def _clip(rec: Recording, start: float, duration: float) -> Tuple[Optional[Clip], Optional[str]]:
    """The recording's file when the span covers it, else a Segment; or why neither."""
    if rec.problem:
        return None, rec.problem
    if start < 0 or duration <= 0 or start + duration > rec.duration + WHOLE_TOLERANCE:
        return None, "segment outside its recording"
    path = rec.path.absolute()
    if start <= WHOLE_TOLERANCE and start + duration >= rec.duration - WHOLE_TOLERANCE:
        return path, None
    return Segment(path, start, duration), None


def _item(uid: str, clip, problem, sups: List[Supervision]) -> Item:
    first = sups[0] if sups else Supervision(uid, "", 0.0, 0.0)
    texts = [s.text for s in sups if s.text.strip()]
    translation, tgt = first.custom.get("translation"), first.custom.get("tgt_lang")
    return Item(
        uid,
        clip,
        " ".join(texts),
        next((s.language for s in sups if s.language), ""),
        first.speaker,
        translation if isinstance(translation, str) and len(sups) == 1 else "",
        tgt if isinstance(tgt, str) and len(sups) == 1 else "",
        problem,
    )


def from_sets(recordings_path: Path, supervisions_path: Path, out: Output) -> List[Item]:
    recordings: Dict[str, Recording] = {}
    for where, record in read_jsonl(recordings_path, out.summary):
        rec = recording(record, where)
        if rec.id in recordings:
            raise PrepError(f"{where}: recording id {rec.id!r} appears twice")
        recordings[rec.id] = rec
    items, used = [], set()
    for where, record in read_jsonl(supervisions_path, out.summary):
        sup = supervision(record, where)
        rec = recordings.get(sup.recording_id)
        if rec is None:
            out.drop("supervision's recording_id is not in the recording set", sup.id)
            continue
        used.add(rec.id)
        clip, problem = _clip(rec, sup.start, sup.duration)
        items.append(_item(sup.id, clip, problem, [sup]))
    if len(used) < len(recordings):
        out.note(f"{len(recordings) - len(used)} recording(s) have no supervision and are not used")
    return items


def from_cuts(cuts_path: Path, out: Output) -> List[Item]:
    items = []
    for where, record in read_jsonl(cuts_path, out.summary):
        kind = record.get("type", "MonoCut")
        uid = str(record.get("id", where))
        if kind != "MonoCut":
            out.drop(f"{kind} (only MonoCut is read)", uid)
            continue
        if not isinstance(record.get("recording"), dict):
            out.drop("cut without a recording", uid)
            continue
        rec = recording(record["recording"], where)
        start, duration = (
            required(record, "start", float, where),
            required(record, "duration", float, where),
        )
        sups = [supervision(s, where) for s in record.get("supervisions") or []]
        clip, problem = _clip(rec, start, duration)
        items.append(_item(uid, clip, problem, sorted(sups, key=lambda s: s.start)))
    return items


def prepare(args: argparse.Namespace, out: Output) -> None:
    if args.cuts:
        items = from_cuts(args.cuts, out)
    else:
        items = from_sets(args.recordings, args.supervisions, out)
    plans: Dict[Tuple[str, ...], List[Pending]] = {}
    clips: Dict[str, Clip] = {}
    for item in items:
        lang = args.lang or item.language
        if item.problem:
            out.drop(item.problem, item.id)
        elif item.id in clips:
            out.drop("id seen before", item.id)
        elif not is_known_language(lang) or (
            item.tgt_lang and not is_known_language(item.tgt_lang)
        ):
            out.drop(NOT_A_CODE, f"{item.id}: {lang!r}")
        elif not item.text:
            clips[item.id] = item.clip
            pending = Pending(item.id, item.id, speech_row(item.id, lang, item.speaker))
            plans.setdefault(("speech", lang), []).append(pending)
        else:
            clips[item.id] = item.clip
            problem = text_problem(item.text)
            row = asr_row(item.id, item.text, lang, item.speaker)
            plans.setdefault(("asr", lang), []).append(Pending(item.id, item.id, row, problem))
            if item.translation and item.tgt_lang:
                problem = problem or text_problem(item.translation)
                row = st_row(
                    item.id, item.text, item.translation, lang, item.tgt_lang, item.speaker
                )
                key = ("st", lang, item.tgt_lang)
                plans.setdefault(key, []).append(Pending(item.id, item.id, row, problem))
    out.write_speech(
        clips,
        "segments",
        [
            (
                pending,
                UNLABELED_COLUMNS if name[0] == "speech" else SPEECH_COLUMNS,
                args.split,
                *name,
            )
            for name, pending in sorted(plans.items())
        ],
    )


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--recordings", type=Path, help="lhotse RecordingSet (.jsonl[.gz])")
    parser.add_argument("--supervisions", type=Path, help="lhotse SupervisionSet (.jsonl[.gz])")
    parser.add_argument(
        "--cuts", type=Path, help="lhotse CutSet (.jsonl[.gz]), instead of the two sets"
    )
    parser.add_argument(
        "--split",
        required=True,
        help="split name of the outputs (lhotse sets are per split), starting with train, dev or test",
    )
    parser.add_argument(
        "--lang",
        help="language code for every row, instead of the supervisions' language field",
    )


def check(args: argparse.Namespace) -> Optional[str]:
    sets = args.recordings is not None and args.supervisions is not None
    if args.cuts is None and not sets:
        return "give --recordings and --supervisions, or --cuts"
    if args.cuts is not None and (args.recordings or args.supervisions):
        return "give --cuts or --recordings with --supervisions, not both"
    return None


main = Script(COMMAND, DESCRIPTION, arguments, prepare, check=check).main


if __name__ == "__main__":
    raise SystemExit(main())
