"""The frozen speech tokenizer: log-Mel (or waveform) -> one unit id per 40 ms step.

Fit once (``fit_tokenizer`` or ``mu2slam-speech-tokenizer fit``), save as one file, then
apply offline (``apply_to_manifest``: the ``units`` column) or on the fly
(``load_tokenizer(path).units_for_features(feats)``). This package depends on the grid
arithmetic and the audio/feature/manifest readers only, never on the model or datasets.
"""

from .apply import apply_to_manifest
from .errors import TokenizerError, TokenizerFileError
from .fit import fit_tokenizer
from .storage import load_tokenizer
from .tokenizer import KINDS, SpeechTokenizer

__all__ = [
    "KINDS",
    "SpeechTokenizer",
    "TokenizerError",
    "TokenizerFileError",
    "apply_to_manifest",
    "fit_tokenizer",
    "load_tokenizer",
]
