"""Audio loading and 80-dim log-Mel features.

Audio is read with soundfile (wav, flac, ogg, mp3 without ffmpeg) and resampled to
16 kHz; features come from ``torchaudio.compliance.kaldi.fbank``. fairseq's own
``get_fbank`` is not used: it imports ``torchaudio.sox_effects``, which current
torchaudio no longer ships.
"""

import contextlib
import io
from pathlib import Path
from typing import Optional, Tuple, Union

import numpy as np
import soundfile as sf
import torch
import torchaudio

SAMPLE_RATE = 16000
N_MELS = 80
FRAME_LENGTH = 400  # 25 ms at 16 kHz
FRAME_SHIFT = 160  # 10 ms at 16 kHz


class AudioError(ValueError):
    """Audio that cannot be turned into features, with the file it came from."""


@contextlib.contextmanager
def _one_thread():
    """One utterance's resampling and fbank are too small to split across threads, and
    on a busy machine OpenMP's spinning threads make them 20x slower; so run them on one."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def n_fbank_frames(n_samples: int) -> int:
    """Frames kaldi.fbank (snip_edges=True) yields for ``n_samples`` 16 kHz samples."""
    return 0 if n_samples < FRAME_LENGTH else 1 + (n_samples - FRAME_LENGTH) // FRAME_SHIFT


def _decode(data: Union[str, Path, io.BytesIO], name: str) -> Tuple[np.ndarray, int]:
    try:
        wav, sr = sf.read(data, dtype="float32", always_2d=True)
    except Exception as e:  # soundfile raises several types for bad files
        raise AudioError(f"{name}: cannot read audio ({e})") from None
    if wav.shape[0] == 0:
        raise AudioError(f"{name}: audio has no samples")
    return wav.mean(axis=1), sr  # down-mix to mono


def _to_16k(wav: np.ndarray, rate: int) -> np.ndarray:
    """Samples read as recorded at ``rate`` Hz, resampled to 16 kHz."""
    with _one_thread():
        wav = torch.from_numpy(np.ascontiguousarray(wav, dtype=np.float32))
        return torchaudio.functional.resample(wav, rate, SAMPLE_RATE).numpy()


def load_waveform(path: Union[str, Path], data: Optional[bytes] = None) -> np.ndarray:
    """Mono float32 samples at 16 kHz in [-1, 1]; ``data`` holds the bytes when already read."""
    wav, sr = _decode(io.BytesIO(data) if data is not None else path, str(path))
    if sr != SAMPLE_RATE:
        wav = _to_16k(wav, sr)
    if not np.isfinite(wav).all():
        raise AudioError(f"{path}: audio contains NaN or infinite samples")
    return wav


def speed_perturb(waveform: np.ndarray, factor: float) -> np.ndarray:
    """16 kHz samples played ``factor`` times as fast (tempo and pitch both change), as
    Kaldi's and ESPnet's speed perturbation (0.9 / 1.1) makes them: the samples are read as
    if recorded at ``factor`` x 16 kHz and resampled to 16 kHz."""
    if factor <= 0:
        raise ValueError(f"speed factor must be positive, not {factor}")
    return _to_16k(waveform, round(SAMPLE_RATE * factor))


def fbank(waveform: np.ndarray) -> np.ndarray:
    """(frames, 80) float32 log-Mel filterbanks, scaled like fairseq's prep scripts."""
    if len(waveform) < FRAME_LENGTH:
        raise AudioError(f"audio of {len(waveform)} samples is shorter than one 25 ms frame")
    x = torch.from_numpy(np.ascontiguousarray(waveform, dtype=np.float32)).unsqueeze(0) * 32768.0
    with _one_thread():
        feats = torchaudio.compliance.kaldi.fbank(
            x, num_mel_bins=N_MELS, sample_frequency=SAMPLE_RATE
        )
    return feats.numpy()
