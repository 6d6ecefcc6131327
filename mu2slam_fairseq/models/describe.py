"""Print the parameter counts of a mu2slam architecture.

    python -m mu2slam_fairseq.models.describe mu2slam_base [--vocab-size 4096]
    python -m mu2slam_fairseq.models.describe mu2slam_tiny --dict dict.txt

Without ``--dict`` the joint dictionary is made up of ``--vocab-size`` text pieces
(the paper's character vocabulary has 4096, its unigram one 64k), ``--units`` speech
units and ``--languages`` language tags, plus ``<mask>``. The model is built on the
meta device, so even the base model costs no memory or time here.
"""

import argparse
from collections import OrderedDict
from typing import Dict, List, Optional

import torch
from fairseq.data import Dictionary
from fairseq.models import ARCH_MODEL_INV_REGISTRY

from ..symbols import MASK, lang_symbol, unit_symbol
from . import architectures  # noqa: F401  (registers the architectures)
from .mu2slam import Mu2SlamModel, build_for_dictionary

GROUPS = [  # (name prefix, group); first match wins
    ("encoder.embed_tokens.", "token embedding"),
    ("decoder.embed_tokens.", "decoder token embedding"),
    ("encoder.input_embeddings.", "language + modality embeddings"),
    ("encoder.frontend.", "speech front end"),
    ("encoder.speech_mask_emb", "speech front end"),
    ("encoder.layers.", "encoder Conformer stack"),
    ("decoder.output_projection.", "decoder output projection"),
    ("decoder.", "decoder Transformer stack"),
    ("mlm_head.", "MLM head"),
    ("ctc_proj.", "CTC head"),
]
ENCODER = ["speech front end", "encoder Conformer stack"]
EMBEDDINGS = ["token embedding", "decoder token embedding", "language + modality embeddings"]


def synthetic_dictionary(text_pieces: int, units: int, languages: int) -> Dictionary:
    """A joint dictionary of the given composition (symbol spellings from symbols.py)."""
    d = Dictionary()
    for i in range(text_pieces):
        d.add_symbol(f"t{i}")
    for k in range(units):
        d.add_symbol(unit_symbol(k))
    for i in range(languages):
        d.add_symbol(lang_symbol(f"l{i:03d}"))
    d.add_symbol(MASK)
    return d


def count_parameters(model: torch.nn.Module) -> Dict[str, int]:
    """Unique parameters per group (a tied tensor counts once, in the first group that holds it)."""
    counts: Dict[str, int] = OrderedDict((g, 0) for _, g in GROUPS)
    for name, p in model.named_parameters():  # shared parameters are listed once
        group = next(g for prefix, g in GROUPS if name.startswith(prefix))
        counts[group] += p.numel()
    return counts


def summary(model: Mu2SlamModel) -> Dict[str, int]:
    counts = count_parameters(model)
    out = OrderedDict(counts)
    out["encoder (front end + Conformer)"] = sum(counts[g] for g in ENCODER)
    out["encoder incl. its input embeddings"] = out["encoder (front end + Conformer)"] + sum(
        counts[g] for g in ["token embedding", "language + modality embeddings"]
    )
    out["decoder (Transformer stack)"] = counts["decoder Transformer stack"]
    out["embeddings"] = sum(counts[g] for g in EMBEDDINGS)
    out["total"] = sum(counts.values())
    return out


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("arch", choices=sorted(ARCH_MODEL_INV_REGISTRY["mu2slam"]))
    parser.add_argument(
        "--vocab-size", type=int, default=4096, help="text pieces in the vocabulary"
    )
    parser.add_argument("--units", type=int, default=1024, help="speech units in the vocabulary")
    parser.add_argument(
        "--languages", type=int, default=101, help="language tags in the vocabulary"
    )
    parser.add_argument(
        "--dict", help="a fairseq dict.txt to use instead of a synthetic dictionary"
    )
    args = parser.parse_args(argv)
    d = (
        Dictionary.load(args.dict)
        if args.dict
        else synthetic_dictionary(args.vocab_size, args.units, args.languages)
    )
    with torch.device("meta"):
        model = build_for_dictionary(args.arch, d)
    print(f"{args.arch}: dictionary of {len(d)} symbols, width {model.cfg.embed_dim}")
    for name, n in summary(model).items():
        print(f"  {name:40s} {n:>14,d}  ({n / 1e6:9.2f}M)")


if __name__ == "__main__":
    main()
