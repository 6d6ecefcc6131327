"""What an objective is, and the one table of them that every other layer reads.

An objective (a "view" of an example) is one loss term kind over one data type: what
the encoder reads, which positions are masked, what each decoder pass predicts, its
coefficient and the paper's equation it implements. The datasets build its inputs
(``recipes.py``), the criteria log and weigh its terms, fine-tuning trains and scores the
views marked ``finetune_metric``; none of them names an objective itself, so a new one
is a declaration in ``paper.py`` and nothing else.

An example carries up to three sequences, named as in the paper: ``S`` (speech: its
log-Mel frames, whose 40 ms units are z), ``v`` (the source text of a text pair) and
``t`` (a text: the text of text-only data, the transcript or translation of speech, the
target of a text pair).
"""

import functools
from dataclasses import dataclass, field, make_dataclass
from typing import Dict, List, Optional, Tuple, Union

import numpy as np

from fairseq.dataclass import FairseqDataclass

# every data type, in the fixed order of a batch's views and of the sampler's seeds;
# the last is trained by fine-tuning only
DATA_TYPES = ("speech", "text", "asr", "ast", "mt", "t2t")
PRETRAINING_TYPES = DATA_TYPES[:5]
SEQUENCES = ("S", "v", "t")
MASK_RATIOS = ("text_ratio", "mt_ratio")  # MaskConfig fields that may mask text inputs
METRICS = ("bleu", "wer", "accuracy")

Length = Union[int, np.ndarray]


@dataclass(frozen=True)
class Coefficient:
    """A loss coefficient: the criterion's ``--weight-*`` option of that name."""

    flag: str
    default: float
    help: str


@dataclass(frozen=True)
class Decode:
    """One decoder pass of an objective.

    ``complementary``: teacher-forced on x^¬m with loss at the masked positions of x
    (Eq. 2; x must be a masked encoder input of the same objective); otherwise the whole
    sequence plus end-of-sequence is predicted (Eq. 4). ``part`` names the pass's logged
    term (``<view>/dec_<part>``) when a view has several.
    """

    sequence: str
    complementary: bool = False
    part: str = ""


@dataclass(frozen=True)
class Objective:
    """One loss term kind, declared once (see the module doc).

    ``encoder``: the sequences the encoder reads, speech first, then the texts joined,
    each token with its own text's language embedding. ``mask_ratio``: the ``MaskConfig``
    ratio of the text inputs (speech inputs always use ``speech_ratio`` in spans of
    ``speech_span``); None masks nothing. Masks are drawn in declaration order, every
    objective of a type for every example, so selecting fewer views or declaring a new
    one after the others never changes the masks of the rest. ``weight`` is the
    coefficient of every term of the view but its encoder MLM (``mlm_weight`` when set)
    and its CTC (``ctc_weight``); ``ctc`` is the sequence that CTC over the speech
    encoder output predicts; a fine-tuning-only data type has no coefficient (None), the
    fine-tuning criterion weighing by type. ``finetune_metric``: fine-tuning on this data type trains
    this view alone (unmasked) and validates it with this metric. ``opt_in``: built only
    for corpora whose ``views`` (data config) name it, so that declaring it changes no
    existing recipe.
    """

    name: str
    data_type: str
    equation: str
    encoder: Tuple[str, ...]
    decoders: Tuple[Decode, ...]
    weight: Optional[str]
    mask_ratio: Optional[str] = "text_ratio"
    mlm_weight: Optional[str] = None
    ctc: Optional[str] = None
    ctc_weight: str = "weight_ctc"
    finetune_metric: Optional[str] = None
    opt_in: bool = False

    def parts(self, finetune: bool = False) -> Tuple[str, ...]:
        """The parts it logs, ``<view>/<part>``: the encoder MLM (when it masks, and not in
        fine-tuning, which masks nothing), one per decoder pass, CTC."""
        mlm = ("mlm",) if self.mask_ratio is not None and not finetune else ()
        dec = tuple("dec" + (f"_{d.part}" if d.part else "") for d in self.decoders)
        return mlm + dec + (("ctc",) if self.ctc else ())

    def weight_flag(self, part: str) -> str:
        """The coefficient of one of its parts."""
        if part not in self.parts():
            raise ValueError(f"objective {self.name} has no part {part!r}; it has {self.parts()}")
        if part == "mlm" and self.mlm_weight:
            return self.mlm_weight
        flag = self.ctc_weight if part == "ctc" else self.weight
        if flag is None:
            raise ValueError(f"objective {self.name} is not pre-trained and has no coefficient")
        return flag

    def reads_units(self, speech_ratio: float) -> bool:
        """Whether its inputs or targets need the speech's units: a decoder pass predicts
        them, or its encoder's masked speech steps are MLM targets."""
        masked = "S" in self.encoder and self.mask_ratio is not None and speech_ratio > 0
        return masked or any(d.sequence == "S" for d in self.decoders)

    def encoder_length(self, lengths: Dict[str, Length]) -> Length:
        """Encoder positions of an example whose sequences have ``lengths`` (ints, or
        arrays over many examples)."""
        return sum(lengths[s] for s in self.encoder)

    def decoder_length(self, lengths: Dict[str, Length]) -> Length:
        """Its longest decoder sequence (a full target carries end-of-sequence)."""
        return functools.reduce(
            np.maximum, [lengths[d.sequence] + (0 if d.complementary else 1) for d in self.decoders]
        )


OBJECTIVES: Dict[str, Objective] = {}
COEFFICIENTS: Dict[str, Coefficient] = {}


def add_coefficient(coefficient: Coefficient) -> Coefficient:
    if coefficient.flag in COEFFICIENTS or not coefficient.flag.startswith("weight_"):
        raise ValueError(f"coefficient {coefficient.flag!r} is taken or not named weight_*")
    COEFFICIENTS[coefficient.flag] = coefficient
    return coefficient


def register(objective: Objective) -> Objective:
    """Add an objective after those of its data type; refuse one that cannot be built."""
    o = objective
    problems = []
    if o.name in OBJECTIVES:
        problems.append("the name is taken")
    if o.data_type not in DATA_TYPES:
        problems.append(f"data type {o.data_type!r} is not one of {DATA_TYPES}")
    used = set(o.encoder) | {d.sequence for d in o.decoders} | ({o.ctc} if o.ctc else set())
    if not o.encoder or not o.decoders or not used <= set(SEQUENCES):
        problems.append(f"it needs encoder inputs and decoder passes over {SEQUENCES}")
    if o.encoder.count("S") > 1 or "S" in o.encoder[1:] or len(set(o.encoder)) != len(o.encoder):
        problems.append("the encoder reads each sequence once, speech first")
    if any(
        d.complementary and (d.sequence not in o.encoder or o.mask_ratio is None)
        for d in o.decoders
    ):
        problems.append("a complementary pass needs its sequence as a masked encoder input")
    if o.mask_ratio is not None and o.mask_ratio not in MASK_RATIOS:
        problems.append(f"mask_ratio must be None or one of {MASK_RATIOS}")
    if o.ctc and "S" not in o.encoder:
        problems.append("CTC needs speech in the encoder")
    if o.finetune_metric is not None and o.finetune_metric not in METRICS:
        problems.append(f"finetune_metric must be one of {METRICS}")
    if o.finetune_metric is not None and finetune_view(o.data_type, missing_ok=True):
        problems.append(f"{o.data_type} data already has a fine-tuning view")
    if o.finetune_metric is not None and o.opt_in:
        problems.append("the fine-tuning view of a type cannot be opt-in")
    if (o.weight is None) != (o.data_type not in PRETRAINING_TYPES):
        problems.append("pre-trained objectives, and they only, have a coefficient")
    elif o.weight is not None and {o.weight_flag(p) for p in o.parts()} - set(COEFFICIENTS):
        problems.append(
            f"unknown coefficient(s) {sorted({o.weight_flag(p) for p in o.parts()} - set(COEFFICIENTS))}"
        )
    if problems:
        raise ValueError(f"objective {o.name!r}: " + "; ".join(problems))
    OBJECTIVES[o.name] = o
    return o


def objective(name: str) -> Objective:
    if name not in OBJECTIVES:
        raise KeyError(f"no objective {name!r}; known: {', '.join(OBJECTIVES)}")
    return OBJECTIVES[name]


def objectives_of(data_type: str) -> List[Objective]:
    """The objectives of a data type, in declaration order (the order of its views and masks)."""
    return [o for o in OBJECTIVES.values() if o.data_type == data_type]


def view_names(data_type: str) -> Tuple[str, ...]:
    return tuple(o.name for o in objectives_of(data_type))


def finetune_view(data_type: str, missing_ok: bool = False) -> Optional[Objective]:
    """The one view that fine-tuning trains on a data type."""
    found = [o for o in objectives_of(data_type) if o.finetune_metric]
    if not found and not missing_ok:
        raise ValueError(f"fine-tuning trains no view of {data_type} data")
    return found[0] if found else None


def finetune_types() -> Tuple[str, ...]:
    return tuple(t for t in DATA_TYPES if finetune_view(t, missing_ok=True))


def log_terms(finetune: bool = False) -> Dict[str, Tuple[str, ...]]:
    """{view: its parts} of every term a criterion logs, in a fixed order: pre-training's
    views, or fine-tuning's."""
    if finetune:
        return {o.name: o.parts(finetune=True) for o in OBJECTIVES.values() if o.finetune_metric}
    return {o.name: o.parts() for o in OBJECTIVES.values() if o.data_type in PRETRAINING_TYPES}


def coefficients_config() -> type:
    """A dataclass with one float field per coefficient (defaults and help as declared),
    which the pre-training criterion's config extends."""
    fields = [
        (c.flag, float, field(default=c.default, metadata={"help": c.help}))
        for c in COEFFICIENTS.values()
    ]
    config = make_dataclass("Coefficients", fields, bases=(FairseqDataclass,))
    config.__module__ = __name__
    return config
