"""SLAM / mSLAM examples: the masks of each data type and the batches the ``mu2slam_slam``
criterion reads, over the manifests and data config of Mu2SLAM pre-training.

Speech targets come from the model's own quantizer (w2v-BERT), so no speech units are
read (``needs_units`` is always False): the datasets are those of ``datasets.py`` (same
rows, features, language sampling, sharding) with ``item`` and ``collate_views``
replaced; one view of each type stays selected, for the base class's bookkeeping. Every mask is drawn from ``item_rng(seed, epoch,
index)`` with the samplers of ``masking.py``:

- speech-only: ``span_mask`` over the 40 ms steps, ``speech_ratio`` (50%) in runs of at
  most ``speech_span`` (10), as w2v-BERT;
- text-only (SpanBERT): ``span_mask`` over the tokens, ``text_ratio`` (15%) in spans of
  ``text_span`` tokens (SLAM 5, mSLAM 20): exactly round(15% n) tokens, runs that never
  touch, every run ``text_span`` long once the sequence is read as a circle;
- speech-text pairs (TLM): ``span_mask`` at ``pair_speech_ratio`` (75%) on the speech and
  ``contiguous_mask`` at ``pair_text_ratio`` (50%): one span of the text.

STM negatives are made in the collater, since they need another example of the batch:
each pair draws ``stm_negative`` (probability ``stm_negative_ratio``) and a uniform ``u``
after its masks; a negative example i of a batch of B pairs reads the text of
``stm_partner(i, u, B)``, never itself, and is labelled 0 unless that text equals its own
(a repeated transcript is a true match). True pairs are labelled 1. With B = 1 every
pair is a true pair.
"""

from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple, Type

import numpy as np
import torch
from fairseq.data import Dictionary

from ...symbols import MASK
from .data_config import CorpusConfig, DataConfig
from .datasets import DATASET_CLASSES, ExampleDataset, TextEncodeFn, UnusableExample
from .masking import apply_mask, contiguous_mask, item_rng, span_mask
from .multitype import MultiTypeDataset, combine_corpora

SLAM_TYPES = ("speech", "text", "asr", "ast")
PAIR_TYPES = ("asr", "ast")
# the view of each type selected in the base dataset (its sizes stay the longest encoder
# input over all of the type's views: for pairs, speech + text)
_UNIT_FREE_VIEW = {"speech": "speech_u", "text": "text_u", "asr": "asr_s2t", "ast": "ast_s2t"}


@dataclass
class SlamMasking:
    """Mask ratios and spans of SLAM / mSLAM (defaults: the papers'), and which pair
    terms the batches carry inputs for."""

    speech_ratio: float = 0.5
    speech_span: int = 10
    text_ratio: float = 0.15
    text_span: int = 5
    pair_speech_ratio: float = 0.75
    pair_text_ratio: float = 0.5
    stm: bool = False
    stm_negative_ratio: float = 0.5
    ctc: bool = False


def text_span_mask(n: int, ratio: float, span: int, rng: np.random.Generator) -> np.ndarray:
    """SpanBERT's mask: round(ratio * n) tokens in spans of ``span`` (``span_mask``'s layout)."""
    return span_mask(n, ratio, span, rng)


def pair_masks(
    steps: int, tokens: int, settings: SlamMasking, rng: np.random.Generator
) -> Tuple[np.ndarray, np.ndarray]:
    """TLM's masks of one pair: speech spans at ``pair_speech_ratio``, one text span at
    ``pair_text_ratio`` (drawn in that order)."""
    speech = span_mask(steps, settings.pair_speech_ratio, settings.speech_span, rng)
    text = contiguous_mask(tokens, settings.pair_text_ratio, rng)
    return speech, text


def stm_partner(i: int, u: float, batch: int) -> int:
    """The example whose text a negative example i of a batch of ``batch`` pairs reads:
    one of the other ``batch - 1``, chosen by u in [0, 1); i itself when it is alone."""
    if batch < 2:
        return i
    return (i + 1 + min(int(u * (batch - 1)), batch - 2)) % batch


def _pad(seqs: List[torch.Tensor], value) -> torch.Tensor:
    out = seqs[0].new_full((len(seqs), max(len(s) for s in seqs)) + seqs[0].shape[1:], value)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = s
    return out


class SlamExamples:
    """Mixin over a type's ``ExampleDataset``: SLAM items and batches (module doc)."""

    def __init__(self, manifest, dictionary: Dictionary, settings: SlamMasking, **kwargs):
        super().__init__(
            manifest,
            dictionary,
            views=[_UNIT_FREE_VIEW[self.reader.data_type]],
            **kwargs,
        )
        self.settings = settings
        self.mask_index = dictionary.index(MASK)
        if self.data_type != "speech" and self.mask_index == dictionary.unk():
            raise ValueError(f"{self.manifest}: the dictionary has no {MASK} symbol")

    @property
    def needs_units(self) -> bool:
        return False  # the speech targets are the model's quantizer ids

    @needs_units.setter
    def needs_units(self, value: bool) -> None:
        pass  # the base class's choice from the Mu2SLAM views does not apply

    def item(self, row: int, key: int) -> Optional[Dict]:
        if row in self.unusable:
            return None
        try:
            seqs = self._sequences(self.examples[row])
        except UnusableExample as e:
            self._skip(row, e)
            return None
        rng = item_rng(self.seed, self.epoch, key)
        s = self.settings
        item: Dict = {"index": key, "type": self.data_type}
        if self.data_type == "speech":
            steps = len(seqs.tokens["S"])
            item.update(
                feats=seqs.features,
                speech_mask=torch.from_numpy(span_mask(steps, s.speech_ratio, s.speech_span, rng)),
            )
        elif self.data_type == "text":
            tokens = seqs.tokens["t"]
            item.update(
                tokens=tokens,
                text_mask=torch.from_numpy(
                    text_span_mask(len(tokens), s.text_ratio, s.text_span, rng)
                ),
            )
        else:
            tokens = seqs.tokens["t"]
            speech, text = pair_masks(len(seqs.tokens["S"]), len(tokens), s, rng)
            item.update(
                feats=seqs.features,
                speech_mask=torch.from_numpy(speech),
                tokens=tokens,
                text_mask=torch.from_numpy(text),
                stm_negative=bool(rng.random() < s.stm_negative_ratio),
                stm_draw=float(rng.random()),
            )
        return item

    def collate_views(self, samples: List[Dict]) -> List[Dict]:
        samples = [s for s in samples if s is not None]
        if not samples:
            return []
        return [collate_slam(samples, self.data_type, self.dictionary, self.settings)]


def collate_slam(
    samples: List[Dict], data_type: str, dictionary: Dictionary, settings: SlamMasking
) -> Dict:
    """One type's batch: ``feats``/``lengths``/``speech_mask`` for speech, ``tokens``
    (masked input), ``text_targets`` (pad but at masked positions) and ``text_lengths``
    for text; pairs also ``ctc_target`` (the whole transcript, ASR under ``ctc``) and
    ``stm_tokens``/``stm_lengths``/``stm_labels``/``stm_partner`` (under ``stm``)."""
    pad, mask_index = dictionary.pad(), dictionary.index(MASK)
    batch: Dict = {"type": data_type, "seq2seq": False, "nsentences": len(samples)}
    ntokens = 0
    if "feats" in samples[0]:
        batch["feats"] = _pad([s["feats"] for s in samples], 0.0)
        batch["lengths"] = torch.tensor([len(s["feats"]) for s in samples])
        batch["speech_mask"] = _pad([s["speech_mask"] for s in samples], False)
        ntokens += int(batch["speech_mask"].sum())
    if "tokens" in samples[0]:
        tokens = _pad([s["tokens"] for s in samples], pad)
        text_mask = _pad([s["text_mask"] for s in samples], False)
        batch["tokens"] = apply_mask(tokens, text_mask, mask_index)
        batch["text_targets"] = torch.where(text_mask, tokens, torch.full_like(tokens, pad))
        batch["text_lengths"] = torch.tensor([len(s["tokens"]) for s in samples])
        ntokens += int(text_mask.sum())
        if data_type == "asr" and settings.ctc:
            batch["ctc_target"] = tokens
        if data_type in PAIR_TYPES and settings.stm:
            batch.update(stm_batch(samples, pad))
    batch["ntokens"] = ntokens
    return batch


def stm_batch(samples: List[Dict], pad: int) -> Dict[str, torch.Tensor]:
    """The STM inputs of a batch of pairs: each speech with its own text (label 1) or, for
    a negative, its partner's (label 0 unless the texts are equal)."""
    n = len(samples)
    partners, labels = [], []
    for i, s in enumerate(samples):
        j = stm_partner(i, s["stm_draw"], n) if s["stm_negative"] else i
        same = torch.equal(samples[j]["tokens"], s["tokens"])
        partners.append(j)
        labels.append(1 if same else 0)
    texts = [samples[j]["tokens"] for j in partners]
    return {
        "stm_tokens": _pad(texts, pad),
        "stm_lengths": torch.tensor([len(t) for t in texts]),
        "stm_labels": torch.tensor(labels),
        "stm_partner": torch.tensor(partners),
    }


SLAM_DATASET_CLASSES: Dict[str, Type[ExampleDataset]] = {
    t: type(
        f"Slam{DATASET_CLASSES[t].__name__}",
        (SlamExamples, DATASET_CLASSES[t]),
        {"__module__": __name__},
    )
    for t in SLAM_TYPES
}


def build_slam_dataset(
    cfg: DataConfig,
    split: str,
    dictionary: Dictionary,
    encode: TextEncodeFn,
    settings: SlamMasking,
    seed: int = 1,
    epoch: int = 1,
    types: Tuple[str, ...] = SLAM_TYPES,
) -> MultiTypeDataset:
    """The split's corpora of ``types`` as one dataset of SLAM examples (``combine_corpora``)."""

    def make(c: CorpusConfig, manifest: Any, transform: Optional[Callable]) -> ExampleDataset:
        return SLAM_DATASET_CLASSES[c.type](
            manifest,
            dictionary,
            settings,
            encode=encode,
            seed=seed,
            feature_transform=transform,
            src_lang=c.src_lang,
            tgt_lang=c.tgt_lang,
            name=c.name,
        )

    return combine_corpora(cfg, split, make, epoch, types)
