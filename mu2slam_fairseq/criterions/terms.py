"""What the pre-training and fine-tuning criteria share: a decoder pass of a view, CTC on
speech, the logged keys with their reduction, so that a term is computed and logged the
same way in both, the zero loss that keeps every parameter in the graph, and their base
class (``TermCriterion``).
"""

import math
from typing import Dict, Iterable, List, Optional, Tuple

import torch
import torch.nn.functional as F
from fairseq import metrics
from fairseq.criterions import FairseqCriterion

from ..objectives import log_terms


def empty_log(terms: Optional[Dict[str, Tuple[str, ...]]] = None) -> Dict[str, float]:
    """Every key a batch can log, set to 0, always in the same order: those of ``terms``
    ({view: parts}), by default of every pre-training objective.

    fairseq sums data-parallel ranks' logging outputs position by position, so every rank
    must log the same keys in the same order even when its batch lacks a data type.
    """
    log: Dict[str, float] = {"loss": 0.0, "nsentences": 0, "ntokens": 0, "sample_size": 0}
    for view, parts in (log_terms() if terms is None else terms).items():
        log[f"{view}/nsentences"] = 0
        for part in parts:
            log.update(
                {f"{view}/{part}/loss": 0.0, f"{view}/{part}/n": 0, f"{view}/{part}/correct": 0}
            )
    return log


def fill_log(log: Dict[str, float], key: str, value: float) -> None:
    """Set a key of ``empty_log``; an undeclared key is an error, not a new key."""
    if key not in log:
        raise KeyError(f"{key!r} is not a term of a declared objective (objectives/paper.py)")
    log[key] = value


def reduce_term_metrics(logging_outputs) -> None:
    """The loss per ``sample_size``, each term's loss per position (base 2) and accuracy,
    and each view's sentences."""
    keys = {k for log in logging_outputs for k in log}
    total = lambda k: sum(log.get(k, 0) for log in logging_outputs)  # noqa: E731
    sample_size = total("sample_size") or 1
    metrics.log_scalar("loss", total("loss") / sample_size / math.log(2), sample_size, round=3)
    for k in sorted(keys):
        if k.endswith("/loss"):
            term = k[: -len("/loss")]
            n = total(f"{term}/n")
            if n > 0:
                metrics.log_scalar(f"{term}_loss", total(k) / n / math.log(2), n, round=3)
                if not term.endswith("/ctc"):
                    metrics.log_scalar(
                        f"{term}_acc", 100.0 * total(f"{term}/correct") / n, n, round=2
                    )
        elif k.endswith("/nsentences") and total(k) > 0:
            metrics.log_scalar(k.replace("/", "_"), total(k), 1, round=0)


def decode(model, enc: Dict, dec: Dict, keep: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Logits of one decoder pass of a view over its encoder output: (B, T_out, V), or
    (N, V) at the N positions where ``keep`` (B, T_out) is True (row-major order),
    which spares the vocabulary projection of every other position."""
    features, _ = model.decoder(
        dec["prev_output_tokens"],
        encoder_out=enc,
        tgt_lang=dec["tgt_lang"],
        tgt_modality=dec["tgt_modality"],
        features_only=True,
    )
    return model.decoder.output_layer(features if keep is None else features[keep])


def ctc_loss(model, enc: Dict, ctc: Dict, pad: int, blank: int) -> Tuple[torch.Tensor, int, int]:
    """(summed loss, target tokens, 0 correct) of CTC over the speech steps of a
    speech-only encoder pass (reuses the forward pass)."""
    lprobs = F.log_softmax(model.ctc_logits(enc).float(), dim=-1)  # (T, B, V)
    lengths = enc["speech_steps"][0]
    target, target_lengths = ctc["target"], ctc["target_lengths"]
    loss = F.ctc_loss(
        lprobs,
        target[target.ne(pad)],
        lengths,
        target_lengths,
        blank=blank,
        reduction="sum",
        zero_infinity=True,
    )
    return loss, int(target_lengths.sum()), 0


def unused_parameters(
    loss: torch.Tensor, parameters: Iterable[torch.nn.Parameter]
) -> List[torch.nn.Parameter]:
    """The trainable parameters that ``loss``'s autograd graph does not reach.

    Walking the graph once is cheaper than touching every parameter: a term like
    ``p.view(-1)[0] * 0`` makes backward fill a full-size zero gradient for ``p``, which
    for the base model is gigabytes of memory traffic per step.
    """
    reached, seen, stack = set(), set(), [loss.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        variable = getattr(node, "variable", None)  # AccumulateGrad: a leaf tensor
        if variable is not None:
            reached.add(id(variable))
        stack.extend(next_node for next_node, _ in node.next_functions)
    return [p for p in parameters if p.requires_grad and id(p) not in reached]


def zero_loss(parameters: Iterable[torch.nn.Parameter]) -> torch.Tensor:
    """An exact zero whose backward gives each trainable parameter of ``parameters`` a
    zero gradient, so that data-parallel training never waits for a gradient that does
    not come (a batch without loss, a parameter no term used, a skipped non-finite loss)."""
    return sum(p.view(-1)[0] * 0.0 for p in parameters if p.requires_grad)


class TermCriterion(FairseqCriterion):
    """A criterion over the joint dictionary whose logging outputs are the terms' keys
    (``empty_log``), summed across ranks and reduced term by term."""

    def __init__(self, cfg, task):
        super().__init__(task)
        self.cfg = cfg
        self.pad = task.target_dictionary.pad()
        self.blank = task.target_dictionary.bos()  # the CTC blank (see models/mu2slam.py)

    @staticmethod
    def reduce_metrics(logging_outputs) -> None:
        reduce_term_metrics(logging_outputs)

    @staticmethod
    def logging_outputs_can_be_summed() -> bool:
        return True
