"""Batched inputs and targets of every Mu2SLAM loss term ("views").

The data layer decides, for every example, what the encoder sees, what each decoder pass
is fed and predicts, and which positions carry loss; the criterion only runs the model on
a view and sums cross-entropies. One view is one loss-term kind over one sub-batch::

    {"name": "asr_align", "type": "asr", "seq2seq": one full decoder pass and nothing else (bool),
     "net_input": {src_tokens (B,L), src_lengths (B,), src_speech (B,T,80) | None,
                   src_speech_lengths (B,), speech_lang (B,), text_lang (B,) or (B,L),
                   speech_mask (B,T_grid) bool | None},
     "mlm_target": (B, T_enc) original id at masked encoder positions, pad elsewhere,
     "decoders": [{"name", "prev_output_tokens" (B,Ly), "target" (B,Ly) pad = no loss,
                   "tgt_lang" (B,), "tgt_modality" (B,)}, ...],
     "ctc": {"target" (B,Lt), "target_lengths" (B,)} | None,
     "id": (B,), "nsentences": B, "ntokens": decoder loss positions, "n_mlm": MLM positions}

``id`` holds the indices the sampler drew: ``id % len(dataset)`` is the example, the
quotient the draw (see ``sampling.py``). A batch is ``{"views": [view, ...], "types":
{data type: examples}, "nsentences": examples, "ntokens": decoder loss positions}``, the
views in a fixed order (data types as in ``objectives.DATA_TYPES``, then each type's views).

Encoder layout: item i's encoder sequence is its grid_length(frames_i) speech steps and
then its L_i text tokens, packed left, so text token j sits at position
grid_length(frames_i) + j; ``mlm_target`` uses the same positions (T_enc = max_i of
steps_i + L_i). Encoder sequences carry no end-of-sequence token.

Decoder targets come in two kinds (``Target.mask``):

* complementary (ℓ_u, ℓ_a; ``mask`` given): the decoder is teacher-forced on x^¬m,
  ``prev_output_tokens = [eos] + x^¬m[:-1]`` (fairseq uses eos as the start symbol), and
  ``target`` holds x_i where m_i = 1 and pad elsewhere. No end-of-sequence is appended:
  Eq. 2 sums over masked positions only, and an eos position with no loss would change
  nothing (causal decoder), so the sequences keep the length of x exactly.
* full (ℓ_p; ``mask`` None): ``target = y + [eos]`` with loss everywhere, and
  ``prev_output_tokens = [eos] + y``, as fairseq's translation data does.

A view with one full decoder pass is also a standard fairseq sample (``fairseq_sample``):
``net_input`` = the encoder inputs plus ``prev_output_tokens``, ``tgt_lang`` and
``tgt_modality`` (the model's ``forward`` signature), ``target``, ``id``. That is what
``SequenceGenerator``, ``fairseq-generate`` and fairseq's own criterions expect.
"""

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple, Union

import torch
from fairseq.data import Dictionary
from fairseq.data.data_utils import collate_tokens

from ...grid import grid_length
from ...symbols import MASK
from .masking import apply_complement, apply_mask


@dataclass
class Source:
    """One example's encoder input before batching.

    ``speech_units`` are dictionary indices of the speech's unit ids (needed for MLM
    targets at masked steps); ``text`` holds the original ids and ``text_mask`` says
    which of them the encoder sees as ``<mask>``. ``text_lang`` is the text's language
    tag, or one tag per text token where the text joins texts of several languages (the
    two sides of ``mt_align``).
    """

    speech_lang: int
    text_lang: Union[int, torch.Tensor]
    speech: Optional[torch.Tensor] = None  # (frames, 80) float
    speech_units: Optional[torch.Tensor] = None  # (grid_length(frames),) long
    speech_mask: Optional[torch.Tensor] = None  # (grid_length(frames),) bool
    text: torch.Tensor = field(default_factory=lambda: torch.zeros(0, dtype=torch.long))
    text_mask: Optional[torch.Tensor] = None  # (len(text),) bool

    def __post_init__(self) -> None:
        if self.text_mask is None:
            self.text_mask = torch.zeros(len(self.text), dtype=torch.bool)
        if self.speech is not None:
            steps = grid_length(len(self.speech))
            if self.speech_mask is None:
                self.speech_mask = torch.zeros(steps, dtype=torch.bool)
            if (
                self.speech_units is None
                or len(self.speech_units) != steps
                or len(self.speech_mask) != steps
            ):
                raise ValueError(
                    f"speech of {len(self.speech)} frames needs {steps} units and mask steps"
                )
        for what, value in (("text mask", self.text_mask), ("text languages", self.text_lang)):
            if torch.is_tensor(value) and len(value) != len(self.text):
                raise ValueError(f"{what} has {len(value)} positions for {len(self.text)} tokens")

    @property
    def steps(self) -> int:
        return 0 if self.speech is None else int(grid_length(len(self.speech)))


@dataclass
class Target:
    """One decoder pass of one example: a sequence, its language and modality, its mask."""

    name: str
    tokens: torch.Tensor  # original ids (text pieces or unit symbols)
    lang: int
    modality: int  # SPEECH (units) or TEXT
    mask: Optional[torch.Tensor] = None  # None: full target + eos; else complementary, loss at mask


@dataclass
class ViewItem:
    """Everything one example contributes to one view."""

    index: int
    source: Source
    targets: List[Target]
    ctc: Optional[torch.Tensor] = None  # transcript ids (ASR speech -> text only)


def decoder_sequences(target: Target, d: Dictionary) -> Tuple[torch.Tensor, torch.Tensor]:
    """(prev_output_tokens, target with pad where no loss) of one example."""
    eos = torch.tensor([d.eos()], dtype=torch.long)
    x = target.tokens.long()
    if target.mask is None:
        return torch.cat([eos, x]), torch.cat([x, eos])
    decoder_in = apply_complement(x, target.mask, d.index(MASK))
    prev = torch.cat([eos, decoder_in[:-1]])
    return prev, torch.where(target.mask, x, torch.full_like(x, d.pad()))


def encoder_row(source: Source, d: Dictionary) -> Tuple[torch.Tensor, torch.Tensor]:
    """(text input x^m, MLM targets over [speech steps, text]) of one example."""
    pad = d.pad()
    text_in = apply_mask(source.text.long(), source.text_mask, d.index(MASK))
    parts = []
    if source.speech is not None:
        units = source.speech_units.long()
        parts.append(torch.where(source.speech_mask, units, torch.full_like(units, pad)))
    text = source.text.long()
    parts.append(torch.where(source.text_mask, text, torch.full_like(text, pad)))
    return text_in, torch.cat(parts)


def text_languages(sources: List[Source]) -> torch.Tensor:
    """(B,) one tag per row, or (B, L) one per text token (-1 at padding) where a row
    carries per-token tags."""
    if not any(torch.is_tensor(s.text_lang) for s in sources):
        return torch.tensor([s.text_lang for s in sources], dtype=torch.long)
    rows = [
        s.text_lang.long()
        if torch.is_tensor(s.text_lang)
        else torch.full((len(s.text),), s.text_lang)
        for s in sources
    ]
    return _pad_rows(rows, -1)


def _pad_rows(rows: List[torch.Tensor], pad: int) -> torch.Tensor:
    if max(len(r) for r in rows) == 0:
        return torch.full((len(rows), 0), pad, dtype=torch.long)
    return collate_tokens(rows, pad)


def collate_view(name: str, data_type: str, items: List[ViewItem], d: Dictionary) -> Dict:
    """Batch one view over a sub-batch (see the module docstring for the schema)."""
    if not items:
        raise ValueError(f"view {name}: no items")
    pad = d.pad()
    sources = [it.source for it in items]
    with_speech = [s.speech is not None for s in sources]
    if any(with_speech) and not all(with_speech):
        raise ValueError(f"view {name}: items disagree on whether the source has speech")
    rows = [encoder_row(s, d) for s in sources]
    net_input = {
        "src_tokens": _pad_rows([r[0] for r in rows], pad),
        "src_lengths": torch.tensor([len(s.text) for s in sources], dtype=torch.long),
        "src_speech": None,
        "src_speech_lengths": torch.tensor(
            [0 if s.speech is None else len(s.speech) for s in sources], dtype=torch.long
        ),
        "speech_lang": torch.tensor([s.speech_lang for s in sources], dtype=torch.long),
        "text_lang": text_languages(sources),
        "speech_mask": None,
    }
    if all(with_speech):
        frames = max(len(s.speech) for s in sources)
        speech = sources[0].speech.new_zeros(len(sources), frames, sources[0].speech.shape[1])
        steps = int(grid_length(frames))
        speech_mask = torch.zeros(len(sources), steps, dtype=torch.bool)
        for i, s in enumerate(sources):
            speech[i, : len(s.speech)] = s.speech
            speech_mask[i, : s.steps] = s.speech_mask
        net_input["src_speech"], net_input["speech_mask"] = speech, speech_mask
    mlm_target = _pad_rows([r[1] for r in rows], pad)

    decoders = []
    for j, first in enumerate(items[0].targets):
        targets = [it.targets[j] for it in items]
        if any(t.name != first.name for t in targets):
            raise ValueError(f"view {name}: items disagree on decoder pass {j}")
        seqs = [decoder_sequences(t, d) for t in targets]
        decoders.append(
            {
                "name": first.name,
                "prev_output_tokens": _pad_rows([s[0] for s in seqs], pad),
                "target": _pad_rows([s[1] for s in seqs], pad),
                "tgt_lang": torch.tensor([t.lang for t in targets], dtype=torch.long),
                "tgt_modality": torch.tensor([t.modality for t in targets], dtype=torch.long),
            }
        )

    ctc = None
    if items[0].ctc is not None:
        ctc = {
            "target": _pad_rows([it.ctc.long() for it in items], pad),
            "target_lengths": torch.tensor([len(it.ctc) for it in items], dtype=torch.long),
        }
    return {
        "name": name,
        "type": data_type,
        "seq2seq": len(items[0].targets) == 1 and items[0].targets[0].mask is None,
        "id": torch.tensor([it.index for it in items], dtype=torch.long),
        "net_input": net_input,
        "mlm_target": mlm_target,
        "decoders": decoders,
        "ctc": ctc,
        "nsentences": len(items),
        "ntokens": int(sum((dec["target"] != pad).sum().item() for dec in decoders)),
        "n_mlm": int((mlm_target != pad).sum().item()),
    }


def fairseq_sample(view: Dict) -> Dict:
    """The standard fairseq sample of a view with one full decoder pass (see the module doc)."""
    if not view["seq2seq"]:
        raise ValueError(f"view {view['name']} is not a one-pass sequence-to-sequence view")
    dec = view["decoders"][0]
    net_input = dict(view["net_input"])
    net_input.update(
        prev_output_tokens=dec["prev_output_tokens"],
        tgt_lang=dec["tgt_lang"],
        tgt_modality=dec["tgt_modality"],
    )
    return {
        "id": view["id"],
        "type": view["type"],
        "net_input": net_input,
        "target": dec["target"],
        "nsentences": view["nsentences"],
        "ntokens": view["ntokens"],
    }
