"""How speech units, language tags and the mask appear in the joint fairseq Dictionary,
and the modality ids of decoder targets.

One Dictionary serves encoder input, decoder and every output head (the package's
DESIGN.md), so the spelling of the non-text symbols is fixed here and used everywhere
else; the data layer and the model both read it, and neither imports the other.
"""

from typing import List

from fairseq.data import Dictionary

MASK = "<mask>"
UNIT_PREFIX = "<unit_"
LANG_PREFIX = "<lang_"
SPEECH, TEXT = 0, 1  # modality ids of a decoder target (the batch's tgt_modality)


def unit_symbol(i: int) -> str:
    return f"{UNIT_PREFIX}{i}>"


def lang_symbol(code: str) -> str:
    return f"{LANG_PREFIX}{code}>"


def unit_ids(d: Dictionary) -> List[int]:
    """Dictionary indices of the speech units, in unit order (unit k at position k)."""
    ids, k = [], 0
    while unit_symbol(k) in d.indices:
        ids.append(d.index(unit_symbol(k)))
        k += 1
    return ids


def languages(d: Dictionary) -> List[str]:
    """Language codes with a tag in the dictionary, in dictionary order."""
    return [
        s[len(LANG_PREFIX) : -1] for s in d.symbols if s.startswith(LANG_PREFIX) and s.endswith(">")
    ]


def is_special(d: Dictionary, index: int) -> bool:
    """True for symbols that are not text pieces: fairseq specials, units, tags, mask."""
    s = d[index]
    return index < d.nspecial or s == MASK or s.startswith(UNIT_PREFIX) or s.startswith(LANG_PREFIX)
