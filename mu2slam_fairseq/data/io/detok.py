"""Plain text from the symbol strings fairseq prints, for BLEU, WER and ``D-`` lines.

``fairseq-generate`` turns hypotheses and references into strings with
``Dictionary.string`` (symbols joined by spaces) and then calls the task's BPE object's
``decode``. Ours maps the symbols back to SentencePiece pieces and decodes them, dropping
every symbol that is not a text piece: fairseq's specials, the unknown symbol (also in
its escaped ``<<unk>>`` form), speech units, language tags and ``<mask>``. The same
function serves validation BLEU/WER, so both always score the same strings.
"""

from pathlib import Path
from typing import Iterable

import sentencepiece as spm
from fairseq.data import Dictionary

from ...symbols import is_special


class PieceCodec:
    """fairseq's BPE interface (``encode``/``decode`` on strings) over the joint dictionary."""

    def __init__(self, spm_model: Path, dictionary: Dictionary):
        self.spm_model, self.dictionary = Path(spm_model), dictionary
        self.sp = spm.SentencePieceProcessor(model_file=str(spm_model))

    def encode(self, text: str) -> str:
        """Space-separated pieces, as ``Dictionary.encode_line`` expects."""
        return " ".join(self.sp.encode(text, out_type=str))

    def decode(self, symbols: str) -> str:
        """Text of a space-separated symbol string; non-text symbols are dropped."""
        d = self.dictionary
        pieces = [s for s in symbols.split(" ") if s and not is_special(d, d.index(s))]
        return self.sp.decode_pieces(pieces)

    def decode_ids(self, ids: Iterable[int]) -> str:
        return self.decode(" ".join(self.dictionary[int(i)] for i in ids))

    def __getstate__(self):
        return {"spm_model": self.spm_model, "dictionary": self.dictionary}

    def __setstate__(self, state):
        self.__init__(state["spm_model"], state["dictionary"])
