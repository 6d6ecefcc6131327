"""Synthetic speech with espeak-ng, for languages without recordings.

espeak-ng is far from human speech, so its output is only ever extra training data and
is written to its own manifests (``train_asr_synth_<lang>.tsv``), never mixed into the
real-speech dev and test sets. Several voice variants stand in for several speakers.
"""

import shutil
import subprocess
from typing import List

import numpy as np

from mu2slam_fairseq.data.io.audio import AudioError, load_waveform

from .holdout import stable_hash

VARIANTS = ("m1", "m3", "f2", "f4")
# espeak-ng voice names where they differ from the language code
VOICES = {"zh": "cmn-latn-pinyin", "fr": "fr-fr", "en": "en-us", "pt": "pt-br"}


def available() -> bool:
    return shutil.which("espeak-ng") is not None


def voice_for(lang: str, text: str) -> str:
    """A voice name like ``de+m3``: the variant is picked from the text, deterministically."""
    return f"{VOICES.get(lang, lang)}+{VARIANTS[stable_hash('voice', text) % len(VARIANTS)]}"


def espeak_voices() -> List[str]:
    """Language names espeak-ng knows (second column of ``espeak-ng --voices``)."""
    out = subprocess.run(
        ["espeak-ng", "--voices"], capture_output=True, text=True, check=False
    ).stdout
    return [line.split()[1] for line in out.splitlines()[1:] if len(line.split()) > 1]


def synthesize(text: str, voice: str) -> np.ndarray:
    """16 kHz mono samples of ``text`` spoken by ``voice``."""
    got = subprocess.run(
        ["espeak-ng", "-v", voice, "--stdout", "--", text], capture_output=True, check=False
    )
    if got.returncode != 0 or not got.stdout:
        raise AudioError(
            f"espeak-ng -v {voice} failed: {got.stderr.decode(errors='replace').strip()}"
        )
    return load_waveform(f"espeak-ng:{voice}", got.stdout)
