"""Reading ``fairseq-generate`` output: references (``T-``) and detokenized hypotheses (``D-``)."""

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List


@dataclass
class Generated:
    """One example of a generate run: its sample id, reference and best hypothesis."""

    id: int
    reference: str
    hypothesis: str


def read_generate_output(path: os.PathLike) -> List[Generated]:
    """Examples in sample-id order; the first ``D-`` line of an id is its best hypothesis.

    Every other line (``S-``, ``H-``, ``P-``, logging) is ignored. An id without a ``D-``
    or a ``T-`` line is an error: fairseq printed no target, or the file is cut short.
    """
    refs: Dict[int, str] = {}
    hyps: Dict[int, str] = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        tag, _, rest = line.partition("\t")
        if len(tag) < 3 or tag[1] != "-" or tag[0] not in "TD" or not tag[2:].isdigit():
            continue
        i = int(tag[2:])
        if tag[0] == "T":
            refs[i] = rest
        elif i not in hyps:
            hyps[i] = rest.partition("\t")[2]  # D-<id> <score> <text>
    if not refs and not hyps:
        raise ValueError(
            f"{path}: no T-/D- lines (is this fairseq-generate output, run without --quiet?)"
        )
    missing = sorted(set(refs) ^ set(hyps))
    if missing:
        raise ValueError(f"{path}: ids without both a T- and a D- line, e.g. {missing[:5]}")
    return [Generated(i, refs[i], hyps[i]) for i in sorted(refs)]
