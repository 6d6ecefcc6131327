"""Running the views of a batch through the model in fewer, larger passes.

A pre-training update holds 11 views, most of one or a few examples. Every pass through
the encoder or the decoder costs a fixed time on top of its positions (each operator's
launch and, on CPU, waking its threads): on a two-core CPU a fine-tuning pass of
mu2slam_tiny cost as much as about 100 positions (``python -m mu2slam_fairseq.benchmarks
scaling``), and packing made a pre-training update about 10% faster. So views are
grouped into packs: runs of the views sorted by encoder length, chosen by a small
dynamic programme that weighs the padding a pack adds against the passes it saves
(``plan``). A pack's encoder inputs are concatenated along the batch and encoded at once
(``concat_inputs``); all decoder passes of its views then run as one decoder batch over
the rows of that encoder output (``decoder_batch``; the encoder selects the rows,
``Mu2slamEncoder.select_rows``). Every row of a batch is computed
independently of the others (padding masks in attention and in the convolution module
and its group norm, positions and languages per row), so each view's losses are those of
its own passes, up to float rounding.
"""

from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

import torch

from ..grid import grid_length

ENCODER_INPUTS = (
    "src_tokens",
    "src_lengths",
    "src_speech",
    "src_speech_lengths",
    "speech_lang",
    "text_lang",
    "speech_mask",
)


@dataclass
class ViewShape:
    """What the packing plan needs to know of a view."""

    rows: int
    enc_len: int  # its encoder batch's width (longest row)
    dec_rows: int  # rows over all its decoder passes
    dec_len: int  # its longest decoder pass
    packable: bool


def view_shape(view: Dict) -> ViewShape:
    net = view["net_input"]
    rows = len(net["src_lengths"])
    lengths = grid_length(net["src_speech_lengths"]) + net["src_lengths"]
    decoders = view.get("decoders", [])
    packable = set(net) <= set(ENCODER_INPUTS) and net.get("text_lang") is not None
    return ViewShape(
        rows,
        int(lengths.max()),
        rows * len(decoders),
        max((d["prev_output_tokens"].size(1) for d in decoders), default=0),
        packable,
    )


def plan(shapes: Sequence[ViewShape], overhead: int) -> List[List[int]]:
    """Packs of view indices minimising padded positions + ``overhead`` per pack.

    A pack is a run of the views sorted by encoder length; its cost is its padded encoder
    and decoder positions plus ``overhead`` (one encoder and one decoder pass). With
    ``overhead`` <= 0, or for a view that cannot be packed, every view is a pack of its own.
    """
    if overhead <= 0:
        return [[i] for i in range(len(shapes))]
    alone = [[i] for i, s in enumerate(shapes) if not s.packable]
    order = sorted((i for i, s in enumerate(shapes) if s.packable), key=lambda i: shapes[i].enc_len)

    def cost(run: Sequence[int]) -> int:
        enc = max(shapes[i].enc_len for i in run) * sum(shapes[i].rows for i in run)
        dec = max(shapes[i].dec_len for i in run) * sum(shapes[i].dec_rows for i in run)
        return enc + dec + overhead

    best: List[float] = [0.0] + [float("inf")] * len(order)
    cut = [0] * (len(order) + 1)
    for j in range(1, len(order) + 1):
        for i in range(j):
            c = best[i] + cost(order[i:j])
            if c < best[j]:
                best[j], cut[j] = c, i
    packs, j = [], len(order)
    while j > 0:
        packs.append(order[cut[j] : j])
        j = cut[j]
    return packs[::-1] + alone


def stack_rows(rows: Sequence[torch.Tensor], fill, width: Optional[int] = None) -> torch.Tensor:
    """Stack 2-d or 3-d row blocks along dim 0, padded along dim 1 with ``fill``."""
    width = max(r.size(1) for r in rows) if width is None else width
    out = rows[0].new_full((sum(r.size(0) for r in rows), width, *rows[0].shape[2:]), fill)
    start = 0
    for r in rows:
        out[start : start + r.size(0), : r.size(1)] = r
        start += r.size(0)
    return out


def concat_inputs(net_inputs: Sequence[Dict], pad: int) -> Dict:
    """One encoder batch holding the rows of several views' encoder inputs, in order."""
    if len(net_inputs) == 1:
        return net_inputs[0]
    cat = lambda key: torch.cat([n[key] for n in net_inputs])  # noqa: E731
    out = {key: cat(key) for key in ("src_lengths", "src_speech_lengths", "speech_lang")}
    out["src_tokens"] = stack_rows([n["src_tokens"] for n in net_inputs], pad)
    langs = [n["text_lang"] for n in net_inputs]
    if any(t.dim() == 2 for t in langs):  # some views tag every text token: all do here
        width = out["src_tokens"].size(1)
        langs = [t if t.dim() == 2 else t[:, None].expand(-1, width) for t in langs]
        out["text_lang"] = stack_rows(langs, -1, width)
    else:
        out["text_lang"] = torch.cat(langs)
    speech = [n["src_speech"] for n in net_inputs]
    if all(s is None for s in speech):
        out["src_speech"] = out["speech_mask"] = None
        return out
    like = next(s for s in speech if s is not None)
    speech = [
        like.new_zeros(len(n["src_lengths"]), 0, like.size(2)) if s is None else s
        for s, n in zip(speech, net_inputs)
    ]
    out["src_speech"] = stack_rows(speech, 0.0)
    masks = [
        n["speech_mask"]
        if n["speech_mask"] is not None
        else torch.zeros(len(n["src_lengths"]), 0, dtype=torch.bool)
        for n in net_inputs
    ]
    out["speech_mask"] = stack_rows(
        [m.to(like.device) for m in masks], False, int(grid_length(out["src_speech"].size(1)))
    )
    return out


def decoder_batch(passes: Sequence[Dict], starts: Sequence[int], pad: int) -> Dict:
    """One decoder batch for several decoder passes, pass k over the encoder rows from
    ``starts[k]``: the decoder's inputs, the stacked targets and the encoder rows it reads."""
    return {
        "prev_output_tokens": stack_rows([p["prev_output_tokens"] for p in passes], pad),
        "target": stack_rows([p["target"] for p in passes], pad),
        "tgt_lang": torch.cat([p["tgt_lang"] for p in passes]),
        "tgt_modality": torch.cat([p["tgt_modality"] for p in passes]),
        "rows": torch.cat(
            [torch.arange(s, s + len(p["tgt_lang"])) for s, p in zip(starts, passes)]
        ),
        "pass_of_row": torch.cat(
            [torch.full((len(p["tgt_lang"]),), k, dtype=torch.long) for k, p in enumerate(passes)]
        ),
    }
