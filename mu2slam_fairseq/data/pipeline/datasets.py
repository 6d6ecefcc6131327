"""One FairseqDataset per data type (speech, text, asr, ast, mt, t2t) over a manifest.

A dataset reads its rows with its type's reader (``rows.py``: texts encoded once, bad
rows refused or skipped there) and loads features lazily, one example at a time. Which
views an example yields, and how, is the objectives' business (``objectives/``): the
dataset hands the example's sequences (``S`` speech, ``v`` source text, ``t`` text) to
``objectives.build_views``, with masks drawn from ``item_rng(seed, epoch, index)``.

Speech units come from the manifest's ``units`` column or, when a row has none, from the
``units_for_features`` callable (the speech tokenizer) applied to the raw features;
``feature_transform`` (global CMVN) applies to the model's input only, so the same
utterance always gets the same units. Units are only read when a selected view uses
them: the forward speech -> text views under a zero speech mask ratio (fine-tuning) need
neither a ``units`` column nor a speech tokenizer. ``augment`` (SpecAugment on training
splits) changes the model's speech input of every selected view, after the units were
taken from the clean features, with NumPy seeded from (seed, epoch, index) so that a
resumed run sees the same augmentation.

Problems that only loading shows (undecodable audio, NaN or infinite features, units
that do not fit the features) skip the example with a warning naming manifest, line and
id, counted per corpus; more than 1% of a corpus (at least 10 examples) is an error,
since the data itself is then at fault. ``sizes`` holds each example's longest encoder
input over its type's objectives, ``target_sizes`` its longest decoder sequence over the
selected views, so that batching can skip examples beyond the model's positions.
"""

import logging
import os
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Type

import numpy as np
import torch
from fairseq.data import Dictionary, FairseqDataset

from ...grid import grid_length
from ...objectives import Sequences, build_views, objectives_of, view_names
from ...symbols import lang_symbol, unit_ids
from ..io.binarized import BinarizedManifest, dictionary_digest, is_binarized
from ..io.features import load_features
from ..io.manifest import ManifestError
from .examples import BinarizedExamples, Examples, LanguageKeys, language_codes, sequence_lengths
from .masking import MaskConfig, item_rng
from .rows import READERS, Example, RowReader, TextEncodeFn
from .rows import SEGMENT_SEPARATOR  # noqa: F401  (the t2t row format, for manifests/)
from .views import ViewItem, collate_view

logger = logging.getLogger(__name__)

UnitsFn = Callable[[torch.Tensor], torch.Tensor]
FeatureTransform = Callable[[np.ndarray], np.ndarray]
# (features (frames, 80), (seed, epoch, index)) -> features of the same shape
Augment = Callable[[torch.Tensor, Tuple[int, int, int]], torch.Tensor]
UNUSABLE_SHARE, UNUSABLE_MIN = 0.01, 10  # how many examples may fail to load before it is an error


class UnusableExample(ManifestError):
    """An example whose audio or features turn out unusable when loaded; it is skipped."""


class SizedDataset(FairseqDataset):
    """fairseq's size queries over ``sizes``, each example's longest encoder input; an
    index may be virtual, ``draw * len(self) + p``: example p drawn again, masked anew."""

    sizes: np.ndarray

    def num_tokens(self, index: int) -> int:
        """Encoder positions (40 ms steps + text tokens) of the example's longest view."""
        return int(self.sizes[int(index) % len(self)])

    def num_tokens_vec(self, indices: np.ndarray) -> np.ndarray:
        return self.sizes[np.asarray(indices) % len(self)]

    def size(self, index: int) -> int:
        return self.num_tokens(index)

    def ordered_indices(self) -> np.ndarray:
        return np.argsort(self.sizes, kind="mergesort")

    @property
    def can_reuse_epoch_itr_across_epochs(self) -> bool:
        return False  # masks and sampling change with the epoch


class ExampleDataset(SizedDataset):
    """The examples of one manifest, as the objectives of its data type see them;
    subclasses name the reader of their type's rows (``rows.py``)."""

    reader: Type[RowReader] = RowReader

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
        corpus = BinarizedManifest(manifest) if is_binarized(manifest) else None
        # messages name the manifest the rows came from, binarized or not
        self.manifest = corpus.manifest if corpus is not None else Path(manifest)
        self.name = name or Path(manifest).stem
        self.dictionary = dictionary
        self.masking = masking or MaskConfig()
        self.seed = seed
        self.epoch = 1
        self.units_for_features = units_for_features
        self.feature_transform = feature_transform
        if audio_root is None:
            audio_root = corpus.audio_root if corpus is not None else self.manifest.parent
        self.audio_root = Path(audio_root)
        self.objectives = objectives_of(self.data_type)
        known = view_names(self.data_type)
        views = [o.name for o in self.objectives if not o.opt_in] if views is None else views
        unknown = [v for v in views if v not in known]
        if unknown:
            raise ValueError(
                f"{self.data_type} data has no view(s) {unknown}; choose from {list(known)}"
            )
        self.views = [v for v in known if v in views]
        sequences = set(self.reader.texts) | ({"S"} if self.reader.needs_speech else set())
        for o in self.objectives:
            if not set(o.encoder) | {d.sequence for d in o.decoders} <= sequences:
                raise ValueError(
                    f"objective {o.name} reads sequences that {self.data_type} rows lack"
                )
        self.augment = augment
        self.needs_units = self.reader.needs_speech and any(
            o.reads_units(self.masking.speech_ratio)
            for o in self.objectives
            if o.name in self.views
        )
        self.unit_table = torch.tensor(unit_ids(dictionary), dtype=torch.long)
        if self.needs_units and len(self.unit_table) == 0:
            raise ValueError(f"{self.manifest}: the dictionary has no speech-unit symbols")
        self.rows = self.reader(
            self.manifest,
            dictionary,
            (src_lang, tgt_lang),
            self.audio_root,
            self.needs_units,
            units_for_features is not None,
            len(self.unit_table),
        )
        self.examples: Examples = (
            self._binarized(corpus, manifest, (src_lang, tgt_lang))
            if corpus is not None
            else self.rows.read(encode)
        )
        lengths = sequence_lengths(self.examples, self.reader)
        self.sizes = np.maximum.reduce([o.encoder_length(lengths) for o in self.objectives])
        selected = [o for o in self.objectives if o.name in self.views]
        self.target_sizes = np.maximum.reduce([o.decoder_length(lengths) for o in selected])
        self.unusable: Dict[int, str] = {}  # row -> why it could not be loaded
        self.lang_codes, self.lang_names = language_codes(self.examples, self.rows)

    def _binarized(
        self, corpus: BinarizedManifest, folder: os.PathLike, default_langs: Tuple
    ) -> BinarizedExamples:
        """The examples of a binarized manifest, once it is known to fit this dataset."""

        def refuse(problem: str) -> ValueError:
            return ValueError(f"{folder} (binarized {self.manifest}): {problem}")

        if corpus.data_type != self.data_type:
            raise refuse(f"holds {corpus.data_type} rows, the corpus is {self.data_type}")
        if corpus.meta["dictionary"] != dictionary_digest(self.dictionary):
            raise refuse("binarized with another dictionary: run mu2slam-binarize again")
        for field, lang in zip(("src_lang", "tgt_lang"), default_langs):
            used = corpus.meta["default_langs"].get(field)
            if used is not None and used != lang:
                raise refuse(
                    f"binarized with --{field.replace('_', '-')} {used}, the corpus sets {field} {lang}"
                )
        missing = corpus.rows_without_units() if self.needs_units else 0
        if missing and self.units_for_features is None:
            raise refuse(f"{missing} row(s) have no units and no speech tokenizer was given")
        return BinarizedExamples(corpus, self.reader)

    @property
    def lang_keys(self) -> LanguageKeys:
        """Each example's language for sampling (``RowReader.lang_key``)."""
        return LanguageKeys(self.lang_codes, self.lang_names)

    # ---- FairseqDataset ------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.examples)

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
                error.path,
                error.line,
                f"{error.problem}; {n} examples of {self.manifest} could not be loaded, more than {limit}: "
                "stopping (mu2slam-validate lists every problem)",
            )
        logger.warning(
            f"{error}: skipped ({n} of {len(self)} examples of {self.name} unusable so far)"
        )

    def _augment_speech(self, views: Iterable[ViewItem], key: int) -> None:
        """Replace the speech input of the views by one augmented copy (views share the features)."""
        done: Dict[int, torch.Tensor] = {}
        for view in views:
            speech = view.source.speech
            if speech is not None:
                if id(speech) not in done:
                    done[id(speech)] = self.augment(speech, (self.seed, self.epoch, key))
                view.source.speech = done[id(speech)]

    @property
    def data_type(self) -> str:
        return self.reader.data_type

    def collate_views(self, samples: List[Dict]) -> List[Dict]:
        """The batched views of items of this type, in declaration order (see ``views.py``)."""
        samples = [s for s in samples if s is not None]
        return [
            collate_view(name, self.data_type, [s["views"][name] for s in samples], self.dictionary)
            for name in self.views
        ]

    def collater(self, samples: List[Dict]) -> Dict:
        samples = [s for s in samples if s is not None]
        if not samples:
            return {}
        return make_sample(self.collate_views(samples), {self.data_type: len(samples)})

    # ---- building blocks for subclasses -------------------------------------------
    def _load_speech(self, ex: Example) -> Tuple[torch.Tensor, torch.Tensor]:
        """(features (frames, 80), unit symbols as dictionary indices) on the same grid;
        pad symbols instead of units when no selected view reads them (``needs_units``)."""
        try:
            feats = load_features(ex.audio, self.audio_root)
        except Exception as e:
            raise UnusableExample(
                self.manifest, ex.line, f"id {ex.id!r}: cannot load features: {e}"
            ) from e
        steps = grid_length(len(feats))
        if not self.needs_units:  # no selected view reads them: pad symbols keep the shapes
            symbols = torch.full((steps,), self.dictionary.pad(), dtype=torch.long)
        else:
            if ex.units is not None:
                units = torch.from_numpy(ex.units)
            else:
                units = (
                    torch.as_tensor(self.units_for_features(torch.from_numpy(feats)))
                    .long()
                    .view(-1)
                )
                if len(units) and (units.min() < 0 or units.max() >= len(self.unit_table)):
                    raise self.rows.error(
                        ex.line,
                        ex.id,
                        f"the speech tokenizer returned unit ids outside [0, {len(self.unit_table)})",
                    )
            if len(units) != steps:
                raise UnusableExample(
                    self.manifest,
                    ex.line,
                    f"id {ex.id!r}: {len(units)} units but the features have {len(feats)} frames "
                    f"(manifest n_frames {ex.n_frames}), i.e. {steps} steps of 40 ms",
                )
            symbols = self.unit_table[units]
        if self.feature_transform is not None:
            feats = self.feature_transform(feats)
        return torch.from_numpy(np.ascontiguousarray(feats, dtype=np.float32)), symbols

    def _lang_id(self, lang: str) -> int:
        return self.dictionary.index(lang_symbol(lang))

    def _sequences(self, ex: Example) -> Sequences:
        """The example's sequences, as the objectives name them (speech loaded here)."""
        seqs = Sequences(
            {
                name: torch.from_numpy(getattr(ex, column))
                for name, (column, _) in self.reader.texts.items()
            },
            {
                name: self._lang_id(getattr(ex, lang))
                for name, (_, lang) in self.reader.texts.items()
            },
        )
        if self.reader.needs_speech:
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


def _dataset_class(reader: Type[RowReader]) -> Type[ExampleDataset]:
    """The dataset of a reader's data type: ``SpeechRows`` -> ``SpeechDataset``."""
    name = reader.__name__[: -len("Rows")] + "Dataset"
    return type(name, (ExampleDataset,), {"reader": reader, "__module__": __name__})


DATASET_CLASSES: Dict[str, Type[ExampleDataset]] = {
    t: _dataset_class(reader) for t, reader in READERS.items()
}
SpeechDataset, TextDataset, AsrDataset, AstDataset, MtDataset, TextToTextDataset = (
    DATASET_CLASSES[t] for t in ("speech", "text", "asr", "ast", "mt", "t2t")
)
