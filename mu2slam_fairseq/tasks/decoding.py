"""What the fine-tuning task adds to fairseq's generation: a CTC-based generator for ASR
batches, a length budget that counts speech steps, and detokenized outputs."""

import contextlib
from typing import Callable, Dict, Iterator, List, Sequence, Tuple

import torch
from fairseq import utils
from fairseq.data import Dictionary

from ..data.io.detok import PieceCodec
from ..generation.ctc_greedy import CtcGreedyGenerator
from ..generation.joint_ctc import JointCtcEnsemble
from ..grid import grid_length


def asr_generator(
    models: Sequence,
    args,
    dictionary: Dictionary,
    ctc_greedy: bool,
    ctc_weight: float,
    build: Callable,
):
    """The generator of ASR batches, or None for fairseq's own: the CTC head's best path
    (``ctc_greedy``), or beam search over the decoder joined with the CTC prefix score
    (``ctc_weight`` > 0), built by ``build(ensemble)``. The CTC head is trained on
    transcripts, so it only helps where the output is one."""
    if ctc_greedy and ctc_weight > 0:
        raise ValueError(
            "--ctc-greedy decodes with the CTC head alone: drop --ctc-decoding-weight, or --ctc-greedy"
        )
    if ctc_greedy:
        return CtcGreedyGenerator(dictionary)
    if ctc_weight > 0:
        beam = getattr(args, "beam", 5)
        return build(JointCtcEnsemble(models, ctc_weight, 2 * beam, dictionary.eos()))
    return None


@contextlib.contextmanager
def speech_length_budget(generator, sample: Dict) -> Iterator[None]:
    """Within it, the generator's ``max_len_a`` counts the 40 ms speech steps as source length.

    fairseq's generator measures the source by ``src_tokens``, which is empty for speech;
    for speech batches the length budget ``a * steps + b`` goes into ``max_len_b``.
    """
    speech = sample["net_input"].get("src_speech")
    a = getattr(generator, "max_len_a", 0)
    if speech is None or not a:
        yield
        return
    b = generator.max_len_b
    steps = int(grid_length(int(sample["net_input"]["src_speech_lengths"].max())))
    text = sample["net_input"]["src_tokens"].size(1)
    generator.max_len_a, generator.max_len_b = 0, int(a * (steps + text) + b)
    try:
        yield
    finally:
        generator.max_len_a, generator.max_len_b = a, b


def detokenized(
    hypos: List, targets: torch.Tensor, dictionary: Dictionary, bpe: PieceCodec, strip: set
) -> Tuple[List[str], List[str]]:
    """(hypotheses, references) as text, as fairseq-generate prints them."""
    d, pad = dictionary, dictionary.pad()
    hyps = [
        bpe.decode(d.string(h[0]["tokens"].int().cpu(), extra_symbols_to_ignore=strip))
        for h in hypos
    ]
    refs = [
        bpe.decode(
            d.string(
                utils.strip_pad(t, pad).int().cpu(), escape_unk=True, extra_symbols_to_ignore=strip
            )
        )
        for t in targets
    ]
    return hyps, refs
