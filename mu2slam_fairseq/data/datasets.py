"""One FairseqDataset per data type (speech, text, asr, ast, mt, t2t) over a manifest.

Each example yields, for every view of its type, the encoder input, the decoder passes
and the mask positions of that loss term (see ``views.py`` for the schema); its masks are
drawn from ``item_rng(seed, epoch, index)``. Texts are encoded once when the dataset is
built (their lengths drive bucketing); features are loaded lazily, one example at a time.

Which views a row yields, and how, is the objectives' business (``objectives/``): a
dataset hands each example's sequences (``S`` speech, ``v`` source text, ``t`` text) to
``objectives.build_views``. Speech units come from the manifest's ``units`` column or,
when a row has none, from the ``units_for_features`` callable (the speech tokenizer)
applied to the raw features; ``feature_transform`` (global CMVN) applies to the model's
input only, so the same utterance always gets the same units. The language of an example
for sampling is its source language (speech, text, asr) or its language pair (ast, mt,
t2t).

Units are only read when a selected view uses them: the forward speech -> text views
under a zero speech mask ratio (fine-tuning) need neither a ``units`` column nor a speech
tokenizer. ``augment`` (SpecAugment on training splits) changes the model's speech input
of every selected view, after the units were taken from the clean features, with NumPy
seeded from (seed, epoch, index) so that a resumed run sees the same augmentation.

Bad rows, so that none stops training hours in: a manifest with duplicate ids, or rows
whose audio is missing, empty or beyond the end of its feature zip, is refused when the
dataset is built (the error names the manifest, the line and the id, and counts the rows
like it); rows with empty text or audio are skipped with a counted warning. Problems
that only loading shows (undecodable audio, NaN or infinite features, units that do not
fit the features) skip the example with a warning naming manifest, line and id, counted
per corpus; more than 1% of a corpus (at least 10 examples) is an error, since the data
itself is then at fault. ``target_sizes`` holds each example's longest decoder sequence,
so that batching can skip examples beyond the model's decoder positions, as it does for
the encoder with ``sizes``.
"""
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
import torch
from fairseq.data import Dictionary, FairseqDataset

from ..grid import grid_length
from ..objectives import Sequences, build_views, objectives_of, view_names
from ..symbols import lang_symbol, unit_ids
from .features import load_features, reference_problem
from .manifest import ManifestError, read_manifest
from .masking import MaskConfig, item_rng
from .views import ViewItem, collate_view

logger = logging.getLogger(__name__)

TextEncodeFn = Callable[[str, str], List[int]]
UnitsFn = Callable[[torch.Tensor], torch.Tensor]
FeatureTransform = Callable[[np.ndarray], np.ndarray]
# (features (frames, 80), (seed, epoch, index)) -> features of the same shape
Augment = Callable[[torch.Tensor, Tuple[int, int, int]], torch.Tensor]
SEGMENT_SEPARATOR = "</s>"  # between the input segments of a t2t row's src_text
UNUSABLE_SHARE, UNUSABLE_MIN = 0.01, 10  # how many examples may fail to load before it is an error


class UnusableExample(ManifestError):
    """An example whose audio or features turn out unusable when loaded; it is skipped."""


@dataclass
class _Example:
    id: str
    line: int
    audio: str = ""
    n_frames: int = 0
    units: Optional[np.ndarray] = None  # unit ids (not dictionary indices)
    src: Optional[np.ndarray] = None  # encoded text ids
    tgt: Optional[np.ndarray] = None
    src_lang: str = ""
    tgt_lang: str = ""


class ExampleDataset(FairseqDataset):
    """Common machinery; subclasses say which columns they read and which hold what sequence."""

    data_type = ""
    needs_speech = False  # rows carry speech, the sequence S (language: src_lang)
    texts: Dict[str, Tuple[str, str]] = {}  # text sequence -> (example field, language field)

    def __init__(
        self,
        manifest: os.PathLike,
        dictionary: Dictionary,
        encode: Optional[TextEncodeFn] = None,
        masking: Optional[MaskConfig] = None,
        seed: int = 1,
        units_for_features: Optional[UnitsFn] = None,
        feature_transform: Optional[FeatureTransform] = None,
        audio_root: Optional[os.PathLike] = None,
        src_lang: Optional[str] = None,
        tgt_lang: Optional[str] = None,
        views: Optional[Sequence[str]] = None,
        name: Optional[str] = None,
        augment: Optional[Augment] = None,
    ):
        self.manifest = Path(manifest)
        self.name = name or self.manifest.stem
        self.dictionary = dictionary
        self.masking = masking or MaskConfig()
        self.seed = seed
        self.epoch = 1
        self.units_for_features = units_for_features
        self.feature_transform = feature_transform
        self.audio_root = Path(audio_root) if audio_root is not None else self.manifest.parent
        self.default_langs = (src_lang, tgt_lang)
        self.objectives = objectives_of(self.data_type)
        known = view_names(self.data_type)
        views = [o.name for o in self.objectives if not o.opt_in] if views is None else views
        unknown = [v for v in views if v not in known]
        if unknown:
            raise ValueError(f"{self.data_type} data has no view(s) {unknown}; choose from {list(known)}")
        self.views = [v for v in known if v in views]
        sequences = set(self.texts) | ({"S"} if self.needs_speech else set())
        for o in self.objectives:
            if not set(o.encoder) | {d.sequence for d in o.decoders} <= sequences:
                raise ValueError(f"objective {o.name} reads sequences that {self.data_type} rows lack")
        self.augment = augment
        self.needs_units = self.needs_speech and any(
            o.reads_units(self.masking.speech_ratio) for o in self.objectives if o.name in self.views
        )
        self.unit_table = torch.tensor(unit_ids(dictionary), dtype=torch.long)
        if self.needs_units and len(self.unit_table) == 0:
            raise ValueError(f"{self.manifest}: the dictionary has no speech-unit symbols")
        self.examples = self._read(encode)
        if not self.examples:
            raise ManifestError(self.manifest, None, f"no usable {self.data_type} examples")
        self._check_audio_references()
        lengths = [self._lengths(e) for e in self.examples]
        self.sizes = np.array([max(o.encoder_length(n) for o in self.objectives) for n in lengths], dtype=np.int64)
        selected = [o for o in self.objectives if o.name in self.views]
        self.target_sizes = np.array([max(o.decoder_length(n) for o in selected) for n in lengths], dtype=np.int64)
        self.unusable: Dict[int, str] = {}  # row -> why it could not be loaded
        self.lang_keys = [self._lang_key(e) for e in self.examples]

    # ---- reading -------------------------------------------------------------------
    def _read(self, encode: Optional[TextEncodeFn]) -> List[_Example]:
        rows = read_manifest(self.manifest, required=self._required_columns())
        if self.needs_units and self.units_for_features is None:
            missing = [r["id"] for r in rows if not r["units"]]
            if missing:
                raise ManifestError(
                    self.manifest, None,
                    f"{len(missing)} row(s) (first: {missing[0]}) have no units and no speech tokenizer was given",
                )
        first_line: Dict[str, int] = {}
        for i, row in enumerate(rows):
            if row["id"] in first_line:
                raise self._error(i + 2, row["id"], f"duplicate id (first on line {first_line[row['id']]})")
            first_line[row["id"]] = i + 2
        examples, skipped = [], []
        for i, row in enumerate(rows):
            ex = self._parse(row, i + 2, encode)
            if ex is None:
                skipped.append((i + 2, row["id"]))
            else:
                examples.append(ex)
        if skipped:
            logger.warning(
                "%s: skipped %d of %d rows with empty text or audio (first: line %d, id %r)",
                self.manifest, len(skipped), len(rows), *skipped[0],
            )
        return examples

    def _check_audio_references(self) -> None:
        """Refuse rows whose audio file is missing, empty or shorter than their zip reference."""
        sizes: Dict[Path, int] = {}
        bad = []
        for ex in self.examples:
            problem = reference_problem(ex.audio, self.audio_root, sizes) if ex.audio else None
            if problem:
                bad.append((ex, problem))
        if bad:
            ex, problem = bad[0]
            more = f"; {len(bad) - 1} more row(s) with unusable audio" if len(bad) > 1 else ""
            raise self._error(ex.line, ex.id, f"{problem}{more} (mu2slam-validate lists every problem)")

    def _required_columns(self) -> Sequence[str]:
        return ("id", "audio", "n_frames") if self.needs_speech else ("id", "src_text")

    def _error(self, line: int, row_id: str, problem: str) -> ManifestError:
        return ManifestError(self.manifest, line, f"id {row_id!r}: {problem}")

    def _lang(self, row: Dict[str, str], column: str, line: int) -> str:
        lang = row[column] or self.default_langs[0 if column == "src_lang" else 1]
        if not lang:
            raise self._error(line, row["id"], f"empty {column} and the corpus sets no default {column}")
        if lang_symbol(lang) not in self.dictionary.indices:
            raise self._error(line, row["id"], f"language {lang!r} has no tag {lang_symbol(lang)} in the dictionary")
        return lang

    def _encode(self, encode: Optional[TextEncodeFn], text: str, lang: str, line: int, row_id: str) -> Optional[np.ndarray]:
        if encode is None:
            raise ValueError(f"{self.manifest}: {self.data_type} data needs a text encoder")
        text = text.strip()
        if not text:
            return None
        ids = np.asarray(encode(text, lang), dtype=np.int64)
        if len(ids) and (ids.min() < 0 or ids.max() >= len(self.dictionary)):
            raise self._error(line, row_id, "the text encoder returned ids outside the dictionary")
        return ids if len(ids) else None

    def _speech(self, row: Dict[str, str], line: int) -> Optional[_Example]:
        if not row["audio"]:
            return None
        try:
            n_frames = int(row["n_frames"])
        except ValueError:
            raise self._error(line, row["id"], f"n_frames {row['n_frames']!r} is not an integer") from None
        if n_frames <= 0:
            return None
        units = None
        if row["units"] and self.needs_units:
            try:
                units = np.array([int(u) for u in row["units"].split()], dtype=np.int64)
            except ValueError:
                raise self._error(line, row["id"], "units must be space-separated integers") from None
            if len(units) != grid_length(n_frames):
                raise self._error(
                    line, row["id"],
                    f"{len(units)} units for {n_frames} frames; the 40 ms grid needs {grid_length(n_frames)}",
                )
            if units.min() < 0 or units.max() >= len(self.unit_table):
                raise self._error(line, row["id"], f"unit ids must be in [0, {len(self.unit_table)})")
        return _Example(id=row["id"], line=line, audio=row["audio"], n_frames=n_frames, units=units)

    def _parse(self, row: Dict[str, str], line: int, encode: Optional[TextEncodeFn]) -> Optional[_Example]:
        raise NotImplementedError

    def _lang_key(self, ex: _Example) -> str:
        return ex.src_lang

    # ---- FairseqDataset ------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.examples)

    def num_tokens(self, index: int) -> int:
        """Encoder positions (40 ms steps + text tokens) of the example's longest view."""
        return int(self.sizes[index % len(self)])

    def num_tokens_vec(self, indices: np.ndarray) -> np.ndarray:
        return self.sizes[np.asarray(indices) % len(self)]

    def size(self, index: int) -> int:
        return self.num_tokens(index)

    def ordered_indices(self) -> np.ndarray:
        return np.argsort(self.sizes, kind="mergesort")

    @property
    def can_reuse_epoch_itr_across_epochs(self) -> bool:
        return False  # masks and sampling change with the epoch

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __getitem__(self, index: int) -> Dict:
        """Example ``index % len(self)``; ``index`` itself seeds the masks.

        A sampler that draws an example several times in one epoch passes
        ``draw * len(self) + row`` so that every draw gets its own masks.
        """
        return self.item(index % len(self), index)

    def item(self, row: int, key: int) -> Optional[Dict]:
        """Example ``row`` with masks drawn from (seed, epoch, key); None when it cannot be
        loaded (skipped and counted, see the module doc)."""
        if row in self.unusable:
            return None
        ex = self.examples[row]
        rng = item_rng(self.seed, self.epoch, key)
        try:
            sequences = self._sequences(ex)
        except UnusableExample as e:
            self._skip(row, e)
            return None
        views = build_views(self.data_type, sequences, self.masking, rng, self.views)
        for view in views.values():
            view.index = key
        if self.augment is not None:
            self._augment_speech(views.values(), key)
        return {"index": key, "type": self.data_type, "views": views}

    def _skip(self, row: int, error: UnusableExample) -> None:
        self.unusable[row] = error.problem
        n, limit = len(self.unusable), max(UNUSABLE_MIN, int(UNUSABLE_SHARE * len(self)))
        if n > limit:
            raise ManifestError(
                error.path, error.line,
                f"{error.problem}; {n} examples of {self.manifest} could not be loaded, more than {limit}: "
                "stopping (mu2slam-validate lists every problem)",
            )
        logger.warning(f"{error}: skipped ({n} of {len(self)} examples of {self.name} unusable so far)")

    def _augment_speech(self, views: Iterable[ViewItem], key: int) -> None:
        """Replace the speech input of the views by one augmented copy (views share the features)."""
        done: Dict[int, torch.Tensor] = {}
        for view in views:
            speech = view.source.speech
            if speech is not None:
                if id(speech) not in done:
                    done[id(speech)] = self.augment(speech, (self.seed, self.epoch, key))
                view.source.speech = done[id(speech)]

    def collate_views(self, samples: List[Dict]) -> List[Dict]:
        """The batched views of items of this type, in declaration order (see ``views.py``)."""
        samples = [s for s in samples if s is not None]
        return [collate_view(name, self.data_type, [s["views"][name] for s in samples], self.dictionary) for name in self.views]

    def collater(self, samples: List[Dict]) -> Dict:
        samples = [s for s in samples if s is not None]
        if not samples:
            return {}
        return make_sample(self.collate_views(samples), {self.data_type: len(samples)})

    # ---- building blocks for subclasses -------------------------------------------
    def _load_speech(self, ex: _Example) -> Tuple[torch.Tensor, torch.Tensor]:
        """(features (frames, 80), unit symbols as dictionary indices) on the same grid;
        pad symbols instead of units when no selected view reads them (``needs_units``)."""
        try:
            feats = load_features(ex.audio, self.audio_root)
        except Exception as e:
            raise UnusableExample(self.manifest, ex.line, f"id {ex.id!r}: cannot load features: {e}") from e
        steps = grid_length(len(feats))
        if not self.needs_units:  # no selected view reads them: pad symbols keep the shapes
            symbols = torch.full((steps,), self.dictionary.pad(), dtype=torch.long)
        else:
            if ex.units is not None:
                units = torch.from_numpy(ex.units)
            else:
                units = torch.as_tensor(self.units_for_features(torch.from_numpy(feats))).long().view(-1)
                if len(units) and (units.min() < 0 or units.max() >= len(self.unit_table)):
                    raise self._error(ex.line, ex.id, f"the speech tokenizer returned unit ids outside [0, {len(self.unit_table)})")
            if len(units) != steps:
                raise UnusableExample(
                    self.manifest, ex.line,
                    f"id {ex.id!r}: {len(units)} units but the features have {len(feats)} frames "
                    f"(manifest n_frames {ex.n_frames}), i.e. {steps} steps of 40 ms",
                )
            symbols = self.unit_table[units]
        if self.feature_transform is not None:
            feats = self.feature_transform(feats)
        return torch.from_numpy(np.ascontiguousarray(feats, dtype=np.float32)), symbols

    def _lang_id(self, lang: str) -> int:
        return self.dictionary.index(lang_symbol(lang))

    def _lengths(self, ex: _Example) -> Dict[str, int]:
        """Lengths of the example's sequences (speech in 40 ms steps), without loading it."""
        lengths = {name: len(getattr(ex, column)) for name, (column, _) in self.texts.items()}
        return {"S": int(grid_length(ex.n_frames)), **lengths} if self.needs_speech else lengths

    def _sequences(self, ex: _Example) -> Sequences:
        """The example's sequences, as the objectives name them (speech loaded here)."""
        seqs = Sequences(
            {name: torch.from_numpy(getattr(ex, column)) for name, (column, _) in self.texts.items()},
            {name: self._lang_id(getattr(ex, lang)) for name, (_, lang) in self.texts.items()},
        )
        if self.needs_speech:
            seqs.features, seqs.tokens["S"] = self._load_speech(ex)
            seqs.langs["S"] = self._lang_id(ex.src_lang)
        return seqs


def make_sample(views: List[Dict], types: Dict[str, int]) -> Dict:
    """The batch fairseq's trainer carries to the criterion: a list of views plus counts.

    ``nsentences`` counts examples (each appears in several views), ``ntokens`` the
    decoder loss positions of all views.
    """
    return {
        "views": list(views),
        "types": dict(types),
        "nsentences": sum(types.values()),
        "ntokens": sum(v["ntokens"] for v in views),
    }


class SpeechDataset(ExampleDataset):
    """Unlabeled speech S."""

    data_type = "speech"
    needs_speech = True

    def _parse(self, row, line, encode):
        ex = self._speech(row, line)
        if ex is not None:
            ex.src_lang = self._lang(row, "src_lang", line)
        return ex


class TextDataset(ExampleDataset):
    """Unlabeled text t (``src_text``)."""

    data_type = "text"
    texts = {"t": ("src", "src_lang")}

    def _parse(self, row, line, encode):
        lang = self._lang(row, "src_lang", line)
        ids = self._encode(encode, row["src_text"], lang, line, row["id"])
        return None if ids is None else _Example(id=row["id"], line=line, src=ids, src_lang=lang)


class PairedSpeechDataset(ExampleDataset):
    """Speech S with a text t (ASR: its transcript; AST: its translation).

    The transcript of an ASR row is ``src_text``, or ``tgt_text`` when ``src_text`` is
    empty (fairseq's own ASR manifests keep the transcript there).
    """

    needs_speech = True
    texts = {"t": ("tgt", "tgt_lang")}

    def _parse(self, row, line, encode):
        ex = self._speech(row, line)
        if ex is None:
            return None
        if self.data_type == "asr":
            # one language for speech and transcript, from whichever column has it
            column = "src_lang" if row["src_lang"] or not row["tgt_lang"] else "tgt_lang"
            ex.src_lang = ex.tgt_lang = self._lang(row, column, line)
            text = row["src_text"] or row["tgt_text"]
        else:
            ex.src_lang = self._lang(row, "src_lang", line)
            ex.tgt_lang = self._lang(row, "tgt_lang", line)
            text = row["tgt_text"]
        ex.tgt = self._encode(encode, text, ex.tgt_lang, line, row["id"])
        return None if ex.tgt is None else ex

    def _lang_key(self, ex):
        return ex.src_lang if self.data_type == "asr" else f"{ex.src_lang}-{ex.tgt_lang}"


class AsrDataset(PairedSpeechDataset):
    data_type = "asr"


class AstDataset(PairedSpeechDataset):
    data_type = "ast"


class MtDataset(ExampleDataset):
    """Parallel text: source v (``src_text``) and target t (``tgt_text``)."""

    data_type = "mt"
    texts = {"v": ("src", "src_lang"), "t": ("tgt", "tgt_lang")}

    def _required_columns(self):
        return ("id", "src_text", "tgt_text")

    def _parse(self, row, line, encode):
        ls, lt = self._lang(row, "src_lang", line), self._lang(row, "tgt_lang", line)
        v = self._encode(encode, row["src_text"], ls, line, row["id"])
        t = self._encode(encode, row["tgt_text"], lt, line, row["id"])
        if v is None or t is None:
            return None
        return _Example(id=row["id"], line=line, src=v, tgt=t, src_lang=ls, tgt_lang=lt)

    def _lang_key(self, ex):
        return f"{ex.src_lang}-{ex.tgt_lang}"


class TextToTextDataset(MtDataset):
    """Text understanding as text -> text (paper §3.5): classification, extractive QA.

    ``src_text`` holds the input segments separated by ``</s>`` (``premise </s>
    hypothesis``, ``question </s> context``); each segment is encoded on its own and the
    encoder sees them joined by the end-of-sequence symbol, which no text piece can spell.
    ``tgt_text`` is the output (a label word, the answer span).
    """

    data_type = "t2t"

    def _parse(self, row, line, encode):
        ls, lt = self._lang(row, "src_lang", line), self._lang(row, "tgt_lang", line)
        segments = [self._encode(encode, s, ls, line, row["id"]) for s in row["src_text"].split(SEGMENT_SEPARATOR)]
        t = self._encode(encode, row["tgt_text"], lt, line, row["id"])
        if t is None or any(s is None for s in segments):
            return None
        sep = np.array([self.dictionary.eos()], dtype=np.int64)
        v = np.concatenate([part for s in segments for part in (sep, s)][1:])
        return _Example(id=row["id"], line=line, src=v, tgt=t, src_lang=ls, tgt_lang=lt)


DATASET_CLASSES = {
    "speech": SpeechDataset,
    "text": TextDataset,
    "asr": AsrDataset,
    "ast": AstDataset,
    "mt": MtDataset,
    "t2t": TextToTextDataset,
}
