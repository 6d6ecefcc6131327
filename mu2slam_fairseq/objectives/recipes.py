"""The views an example yields: each objective's encoder input, masks and decoder passes,
built from the example's sequences (``Sequences``) as its declaration says.

The dataset reads rows and loads features; everything that makes an example a training
signal of some objective happens here, the same way for every data type.
"""

from dataclasses import dataclass
from typing import Dict, Optional, Sequence

import numpy as np
import torch

from ..data.pipeline.masking import MaskConfig, contiguous_mask, span_mask
from ..data.pipeline.views import Source, Target, ViewItem
from ..symbols import SPEECH, TEXT
from .registry import Objective, objectives_of


@dataclass
class Sequences:
    """One example's sequences by name (``S``, ``v``, ``t``): token ids (for ``S``, the
    dictionary indices of its units), the Dictionary index of each one's language tag,
    and the log-Mel frames of ``S``."""

    tokens: Dict[str, torch.Tensor]
    langs: Dict[str, int]
    features: Optional[torch.Tensor] = None


Masks = Dict[str, torch.Tensor]  # sequence -> bool mask (an encoder input or a target y^¬m)


def draw_masks(
    objectives: Sequence[Objective], seqs: Sequences, masking: MaskConfig, rng: np.random.Generator
) -> Dict[str, Masks]:
    """The masks of every objective, in declaration order and, within one, in encoder
    order: speech in spans of ``speech_span`` steps, a text in one contiguous span. With
    ``paired_target_ratio`` > 0, then a mask of each full target that is not an encoder
    input (Eq. 6's y^¬m), drawn by the same samplers."""
    masks: Dict[str, Masks] = {}
    for o in objectives:
        masks[o.name] = {}
        if o.mask_ratio is None:
            continue
        text_ratio = getattr(masking, o.mask_ratio)
        draws = [(s, masking.speech_ratio if s == "S" else text_ratio) for s in o.encoder]
        if masking.paired_target_ratio > 0:
            draws += [
                (d.sequence, masking.paired_target_ratio)
                for d in o.decoders
                if not d.complementary and d.sequence not in o.encoder
            ]
        for s, ratio in draws:
            n = len(seqs.tokens[s])
            if s == "S":
                m = span_mask(n, ratio, masking.speech_span, rng)
            else:
                m = contiguous_mask(n, ratio, rng)
            masks[o.name][s] = torch.from_numpy(m)
    return masks


def build_view(o: Objective, seqs: Sequences, masks: Masks) -> ViewItem:
    """One example's contribution to one view (``data/pipeline/views.py`` batches it)."""
    texts = [s for s in o.encoder if s != "S"]
    inputs = {}
    if texts:
        none = lambda s: torch.zeros(len(seqs.tokens[s]), dtype=torch.bool)  # noqa: E731
        inputs["text"] = torch.cat([seqs.tokens[s] for s in texts])
        inputs["text_mask"] = torch.cat([masks.get(s, none(s)) for s in texts])
    if len(texts) > 1:  # joined texts: each token carries its own text's language
        inputs["text_lang"] = torch.cat(
            [torch.full((len(seqs.tokens[s]),), seqs.langs[s]) for s in texts]
        )
    if "S" in o.encoder:
        inputs.update(
            speech=seqs.features, speech_units=seqs.tokens["S"], speech_mask=masks.get("S")
        )
    lang = seqs.langs[o.encoder[0]]
    inputs.setdefault("text_lang", seqs.langs[texts[0]] if texts else lang)
    source = Source(lang, **inputs)
    targets = [
        Target(
            o.name + (f"_{d.part}" if d.part else ""),
            seqs.tokens[d.sequence],
            seqs.langs[d.sequence],
            SPEECH if d.sequence == "S" else TEXT,
            masks.get(d.sequence) if d.complementary or d.sequence not in o.encoder else None,
        )
        for d in o.decoders
    ]
    return ViewItem(0, source, targets, ctc=seqs.tokens[o.ctc] if o.ctc else None)


def build_views(
    data_type: str,
    seqs: Sequences,
    masking: MaskConfig,
    rng: np.random.Generator,
    selected: Sequence[str],
) -> Dict[str, ViewItem]:
    """The ``selected`` views of one example of ``data_type``; the masks of every view of
    the type are drawn all the same, so selecting fewer never changes the others'."""
    objectives = objectives_of(data_type)
    masks = draw_masks(objectives, seqs, masking, rng)
    return {o.name: build_view(o, seqs, masks[o.name]) for o in objectives if o.name in selected}
