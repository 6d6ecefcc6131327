"""A corpus's examples as one sequence, whether read from a TSV manifest (a list, built
when the dataset is) or from a binarized one (``io/binarized.py``: each example built
when asked for), with the per-example arrays that batching and sampling need (sequence
lengths, language codes) computed without building examples one by one.
"""

from typing import Dict, List, Sequence, Tuple, Type, Union

import numpy as np

from ...grid import grid_length
from ..io.binarized import BinarizedManifest
from .rows import Example, RowReader


class BinarizedExamples(Sequence[Example]):
    """The examples of a binarized manifest; each is built from the maps when indexed."""

    def __init__(self, corpus: BinarizedManifest, reader: Type[RowReader]):
        self.corpus, self.reader = corpus, reader
        self.fields = [field for field, _ in reader.texts.values()]

    def __len__(self) -> int:
        return len(self.corpus)

    def __getitem__(self, i: int) -> Example:  # type: ignore[override]
        c = self.corpus
        if not 0 <= i < len(c):
            raise IndexError(i)
        ex = Example(
            id=c.id(i),
            line=c.line(i),
            src_lang=c.lang("src_lang", i),
            tgt_lang=c.lang("tgt_lang", i),
        )
        for field in self.fields:
            setattr(ex, field, c.text(field, i))
        if self.reader.needs_speech:
            ex.audio, ex.n_frames, ex.units = c.audio(i), int(c.n_frames()[i]), c.units(i)
        return ex


Examples = Union[List[Example], BinarizedExamples]


def sequence_lengths(examples: Examples, reader: Type[RowReader]) -> Dict[str, np.ndarray]:
    """Each sequence's length per example (speech ``S`` in 40 ms steps), without loading."""
    if isinstance(examples, BinarizedExamples):
        c = examples.corpus
        out = {
            name: np.asarray(c.text_lengths(f), dtype=np.int64)
            for name, (f, _) in reader.texts.items()
        }
        frames = np.asarray(c.n_frames(), dtype=np.int64)
    else:
        out = {
            name: np.array([len(getattr(e, f)) for e in examples], dtype=np.int64)
            for name, (f, _) in reader.texts.items()
        }
        frames = np.array([e.n_frames for e in examples], dtype=np.int64)
    if reader.needs_speech:
        out["S"] = grid_length(frames)
    return out


def language_codes(examples: Examples, reader: RowReader) -> Tuple[np.ndarray, List[str]]:
    """(code per example, names): each example's language for sampling (``lang_key``)."""
    if isinstance(examples, BinarizedExamples):
        c = examples.corpus
        code = np.zeros(len(c), dtype=np.int64)
        for f in reader.lang_key_fields:
            code = code * (len(c.langs) + 1) + np.asarray(c.lang_codes(f), dtype=np.int64) + 1
        used, codes = np.unique(code, return_inverse=True)
        names = []
        for k in used:
            parts = []
            for _ in reader.lang_key_fields:
                k, lang = divmod(int(k), len(c.langs) + 1)
                parts.append(c.langs[lang - 1])
            names.append("-".join(reversed(parts)))
        return codes.astype(np.int16), names
    keys = [reader.lang_key(e) for e in examples]
    names, codes = np.unique(np.array(keys, dtype=object), return_inverse=True)
    return codes.astype(np.int16), [str(n) for n in names]


class LanguageKeys(Sequence[str]):
    """``lang_key`` of each example, read from the codes."""

    def __init__(self, codes: np.ndarray, names: List[str]):
        self.codes, self.names = codes, names

    def __len__(self) -> int:
        return len(self.codes)

    def __getitem__(self, i: int) -> str:  # type: ignore[override]
        return self.names[int(self.codes[i])]
