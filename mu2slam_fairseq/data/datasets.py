"""One FairseqDataset per data type (speech, text, asr, ast, mt) over a manifest.

Each example yields, for every view of its type, the encoder input, the decoder passes
and the mask positions of that loss term (see ``views.py`` for the schema); its masks are
drawn from ``item_rng(seed, epoch, index)``. Texts are encoded once when the dataset is
built (their lengths drive bucketing); features are loaded lazily, one example at a time.

Views per type and the masks they use (ratios from ``MaskConfig``):

======  ==================================================================================
speech  speech_u: S^m -> z^¬m (speech_ratio, spans of speech_span)
text    text_u: t^m -> t^¬m (text_ratio, one span)
asr     asr_s2t: S^m -> t (+ CTC on t); asr_t2s: t^m -> z; asr_align: [S, t]^m -> z^¬m, t^¬m
ast     ast_s2t, ast_t2s, ast_align as for asr with t the translation, no CTC
mt      mt_fwd: v^m -> t; mt_bwd: t^m -> v; mt_align: [v, <lang_t>, t]^m -> v^¬m, t^¬m
t2t     t2t_fwd: text understanding as text -> text (fine-tuning only; see TextToTextDataset)
======  ==================================================================================

Choices where the paper is silent: the mask of a concatenation [x, y] is the
concatenation of one mask per part, each drawn with its own modality's sampler (speech
spans over S, one text span per text), so "one mask over both" keeps each modality's
masking statistics. In mt_align the two texts share one text stream, so the target
language's tag ``<lang_t>`` separates them (never masked, never a target): it marks both
the boundary and the language of the second text, which the per-item ``text_lang`` cannot.
Speech units come from the manifest's ``units`` column or, when a row has none, from the
``units_for_features`` callable (the speech tokenizer) applied to the raw features;
``feature_transform`` (global CMVN) applies to the model's input only, so the same
utterance always gets the same units. The language of an example for sampling is its source language (speech, text, asr) or its
language pair (ast, mt, t2t). Every mask is drawn for every example in a fixed order, so
selecting fewer views never changes the masks of the others.

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
from ..symbols import SPEECH, TEXT, lang_symbol, unit_ids
from .features import load_features, reference_problem
from .manifest import ManifestError, read_manifest
from .masking import MaskConfig, contiguous_mask, item_rng, span_mask
from .views import Source, Target, ViewItem, collate_view

logger = logging.getLogger(__name__)

DATA_TYPES = ("speech", "text", "asr", "ast", "mt", "t2t")
PRETRAINING_TYPES = DATA_TYPES[:5]
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
    """Common machinery; subclasses say which columns they read and which views they build."""

    data_type = ""
    view_names: Sequence[str] = ()
    unit_free_views: Sequence[str] = ()  # views that never read units when the speech mask ratio is 0
    needs_speech = False

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
        if views is None:
            views = self.view_names
        unknown = [v for v in views if v not in self.view_names]
        if unknown:
            raise ValueError(f"{self.data_type} data has no view(s) {unknown}; choose from {list(self.view_names)}")
        self.views = [v for v in self.view_names if v in views]
        self.augment = augment
        self.needs_units = self.needs_speech and (
            self.masking.speech_ratio > 0 or any(v not in self.unit_free_views for v in self.views)
        )
        self.unit_table = torch.tensor(unit_ids(dictionary), dtype=torch.long)
        if self.needs_units and len(self.unit_table) == 0:
            raise ValueError(f"{self.manifest}: the dictionary has no speech-unit symbols")
        self.examples = self._read(encode)
        if not self.examples:
            raise ManifestError(self.manifest, None, f"no usable {self.data_type} examples")
        self._check_audio_references()
        self.sizes = np.array([self._size(e) for e in self.examples], dtype=np.int64)
        self.target_sizes = np.array(
            [max(self._decoder_lengths(e)[v] for v in self.views) for e in self.examples], dtype=np.int64
        )
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

    def _size(self, ex: _Example) -> int:
        raise NotImplementedError

    def _decoder_lengths(self, ex: _Example) -> Dict[str, int]:
        """Length of each view's longest decoder sequence (a full target has an eos more)."""
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
            views = self._views(ex, rng)
        except UnusableExample as e:
            self._skip(row, e)
            return None
        for view in views.values():
            view.index = key
        selected = {k: views[k] for k in self.views}
        if self.augment is not None:
            self._augment_speech(selected.values(), key)
        return {"index": key, "type": self.data_type, "views": selected}

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
        """The batched views of items of this type, in ``view_names`` order (see ``views.py``)."""
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

    def _speech_mask(self, steps: int, rng: np.random.Generator) -> torch.Tensor:
        m = self.masking
        return torch.from_numpy(span_mask(steps, m.speech_ratio, m.speech_span, rng))

    @staticmethod
    def _text_mask(n: int, ratio: float, rng: np.random.Generator) -> torch.Tensor:
        return torch.from_numpy(contiguous_mask(n, ratio, rng))

    def _views(self, ex: _Example, rng: np.random.Generator) -> Dict[str, ViewItem]:
        raise NotImplementedError


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
    """Unlabeled speech: ℓ_u on S^m with unit targets z^¬m."""

    data_type = "speech"
    view_names = ("speech_u",)
    needs_speech = True

    def _parse(self, row, line, encode):
        ex = self._speech(row, line)
        if ex is not None:
            ex.src_lang = self._lang(row, "src_lang", line)
        return ex

    def _size(self, ex):
        return int(grid_length(ex.n_frames))

    def _decoder_lengths(self, ex):
        return {"speech_u": int(grid_length(ex.n_frames))}

    def _views(self, ex, rng):
        feats, units = self._load_speech(ex)
        m = self._speech_mask(len(units), rng)
        lang = self._lang_id(ex.src_lang)
        src = Source(lang, lang, speech=feats, speech_units=units, speech_mask=m)
        return {"speech_u": ViewItem(0, src, [Target("speech_u", units, lang, SPEECH, m)])}


class TextDataset(ExampleDataset):
    """Unlabeled text: ℓ_u on t^m with targets t^¬m."""

    data_type = "text"
    view_names = ("text_u",)

    def _parse(self, row, line, encode):
        lang = self._lang(row, "src_lang", line)
        ids = self._encode(encode, row["src_text"], lang, line, row["id"])
        return None if ids is None else _Example(id=row["id"], line=line, src=ids, src_lang=lang)

    def _size(self, ex):
        return len(ex.src)

    def _decoder_lengths(self, ex):
        return {"text_u": len(ex.src)}

    def _views(self, ex, rng):
        t = torch.from_numpy(ex.src)
        m = self._text_mask(len(t), self.masking.text_ratio, rng)
        lang = self._lang_id(ex.src_lang)
        src = Source(lang, lang, text=t, text_mask=m)
        return {"text_u": ViewItem(0, src, [Target("text_u", t, lang, TEXT, m)])}


class PairedSpeechDataset(ExampleDataset):
    """Speech with a text (ASR: its transcript; AST: its translation): ℓ_p both ways and ℓ_a.

    The transcript of an ASR row is ``src_text``, or ``tgt_text`` when ``src_text`` is
    empty (fairseq's own ASR manifests keep the transcript there).
    """

    needs_speech = True

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

    def _size(self, ex):
        return int(grid_length(ex.n_frames)) + len(ex.tgt)

    def _decoder_lengths(self, ex):
        k, steps, n = self.data_type, int(grid_length(ex.n_frames)), len(ex.tgt)
        return {f"{k}_s2t": n + 1, f"{k}_t2s": steps + 1, f"{k}_align": max(steps, n)}

    def _lang_key(self, ex):
        return ex.src_lang if self.data_type == "asr" else f"{ex.src_lang}-{ex.tgt_lang}"

    def _views(self, ex, rng):
        k = self.data_type
        feats, units = self._load_speech(ex)
        t = torch.from_numpy(ex.tgt)
        ls, lt = self._lang_id(ex.src_lang), self._lang_id(ex.tgt_lang)
        ratio = self.masking.text_ratio
        m_s2t = self._speech_mask(len(units), rng)
        m_t2s = self._text_mask(len(t), ratio, rng)
        m_align_s = self._speech_mask(len(units), rng)
        m_align_t = self._text_mask(len(t), ratio, rng)
        return {
            f"{k}_s2t": ViewItem(
                0, Source(ls, ls, speech=feats, speech_units=units, speech_mask=m_s2t),
                [Target(f"{k}_s2t", t, lt, TEXT)], ctc=t if k == "asr" else None,
            ),
            f"{k}_t2s": ViewItem(0, Source(lt, lt, text=t, text_mask=m_t2s), [Target(f"{k}_t2s", units, ls, SPEECH)]),
            f"{k}_align": ViewItem(
                0, Source(ls, lt, speech=feats, speech_units=units, speech_mask=m_align_s, text=t, text_mask=m_align_t),
                [Target(f"{k}_align_units", units, ls, SPEECH, m_align_s), Target(f"{k}_align_text", t, lt, TEXT, m_align_t)],
            ),
        }


class AsrDataset(PairedSpeechDataset):
    data_type = "asr"
    view_names = ("asr_s2t", "asr_t2s", "asr_align")
    unit_free_views = ("asr_s2t",)


class AstDataset(PairedSpeechDataset):
    data_type = "ast"
    view_names = ("ast_s2t", "ast_t2s", "ast_align")
    unit_free_views = ("ast_s2t",)


class MtDataset(ExampleDataset):
    """Parallel text (v, t): ℓ_p forward and backward and ℓ_a, all masked at mt_ratio."""

    data_type = "mt"
    view_names = ("mt_fwd", "mt_bwd", "mt_align")

    def _required_columns(self):
        return ("id", "src_text", "tgt_text")

    def _parse(self, row, line, encode):
        ls, lt = self._lang(row, "src_lang", line), self._lang(row, "tgt_lang", line)
        v = self._encode(encode, row["src_text"], ls, line, row["id"])
        t = self._encode(encode, row["tgt_text"], lt, line, row["id"])
        if v is None or t is None:
            return None
        return _Example(id=row["id"], line=line, src=v, tgt=t, src_lang=ls, tgt_lang=lt)

    def _size(self, ex):
        return len(ex.src) + 1 + len(ex.tgt)

    def _decoder_lengths(self, ex):
        v, t = len(ex.src), len(ex.tgt)
        return {"mt_fwd": t + 1, "mt_bwd": v + 1, "mt_align": max(v, t)}

    def _lang_key(self, ex):
        return f"{ex.src_lang}-{ex.tgt_lang}"

    def _views(self, ex, rng):
        v, t = torch.from_numpy(ex.src), torch.from_numpy(ex.tgt)
        lv, lt = self._lang_id(ex.src_lang), self._lang_id(ex.tgt_lang)
        ratio = self.masking.mt_ratio
        m_fwd = self._text_mask(len(v), ratio, rng)
        m_bwd = self._text_mask(len(t), ratio, rng)
        m_av = self._text_mask(len(v), ratio, rng)
        m_at = self._text_mask(len(t), ratio, rng)
        sep = torch.tensor([lt], dtype=torch.long)
        joined = torch.cat([v, sep, t])
        joined_mask = torch.cat([m_av, torch.zeros(1, dtype=torch.bool), m_at])
        return {
            "mt_fwd": ViewItem(0, Source(lv, lv, text=v, text_mask=m_fwd), [Target("mt_fwd", t, lt, TEXT)]),
            "mt_bwd": ViewItem(0, Source(lt, lt, text=t, text_mask=m_bwd), [Target("mt_bwd", v, lv, TEXT)]),
            "mt_align": ViewItem(
                0, Source(lv, lv, text=joined, text_mask=joined_mask),
                [Target("mt_align_src", v, lv, TEXT, m_av), Target("mt_align_tgt", t, lt, TEXT, m_at)],
            ),
        }


class TextToTextDataset(MtDataset):
    """Text understanding as text -> text (paper §3.5): classification, extractive QA.

    ``src_text`` holds the input segments separated by ``</s>`` (``premise </s>
    hypothesis``, ``question </s> context``); each segment is encoded on its own and the
    encoder sees them joined by the end-of-sequence symbol, which no text piece can spell.
    ``tgt_text`` is the output (a label word, the answer span). One view, ``t2t_fwd``:
    input -> output over the whole target, without masks.
    """

    data_type = "t2t"
    view_names = ("t2t_fwd",)

    def _parse(self, row, line, encode):
        ls, lt = self._lang(row, "src_lang", line), self._lang(row, "tgt_lang", line)
        segments = [self._encode(encode, s, ls, line, row["id"]) for s in row["src_text"].split(SEGMENT_SEPARATOR)]
        t = self._encode(encode, row["tgt_text"], lt, line, row["id"])
        if t is None or any(s is None for s in segments):
            return None
        sep = np.array([self.dictionary.eos()], dtype=np.int64)
        v = np.concatenate([part for s in segments for part in (sep, s)][1:])
        return _Example(id=row["id"], line=line, src=v, tgt=t, src_lang=ls, tgt_lang=lt)

    def _size(self, ex):
        return len(ex.src)

    def _decoder_lengths(self, ex):
        return {"t2t_fwd": len(ex.tgt) + 1}

    def _views(self, ex, rng):
        v, t = torch.from_numpy(ex.src), torch.from_numpy(ex.tgt)
        lv, lt = self._lang_id(ex.src_lang), self._lang_id(ex.tgt_lang)
        return {"t2t_fwd": ViewItem(0, Source(lv, lv, text=v), [Target("t2t_fwd", t, lt, TEXT)])}


DATASET_CLASSES = {
    "speech": SpeechDataset,
    "text": TextDataset,
    "asr": AsrDataset,
    "ast": AstDataset,
    "mt": MtDataset,
    "t2t": TextToTextDataset,
}
