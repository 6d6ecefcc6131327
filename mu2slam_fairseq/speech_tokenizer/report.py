"""How a tokenizer behaves on data: codebook usage and stability of the ids.

Usage: the share of entries never chosen and the perplexity exp(H) of the id
distribution (equal to the codebook size when every entry is chosen equally often).
Stability: the share of ids that stay the same when an utterance is re-encoded from its
audio after a gain change or with white noise at a given SNR, over all steps and over the
louder half of each utterance's steps (by mean log-Mel energy): white noise at 30 dB
below the mean power is louder than the pauses of a clean recording, so the ids of
pauses change under any log-Mel tokenizer, and the louder half shows how speech fares. Stability needs the
waveform (features are recomputed from it), hence audio paths in the manifest or an
audio manifest with the same ids.
"""

import math
import os
import random
from dataclasses import asdict, dataclass
from typing import Dict, List, Optional

import numpy as np
import torch
from tqdm import tqdm

from ..data.io.audio import AudioError, fbank
from .errors import TokenizerError
from .sources import AudioIndex, iter_inputs, speech_rows
from .steps import stack_frames
from .tokenizer import SpeechTokenizer

BATCH = 32


@dataclass
class Usage:
    utterances: int
    steps: int
    codebook_size: int
    used: int
    unused_share: float
    perplexity: float


@dataclass
class Stability:
    utterances: int
    steps: int
    gain_db: float
    snr_db: float
    unchanged_gain: float
    unchanged_noise: float
    unchanged_gain_loud: float
    unchanged_noise_loud: float


def usage_from_counts(counts: torch.Tensor, utterances: int) -> Usage:
    total = int(counts.sum())
    p = counts.double() / max(total, 1)
    nz = p[p > 0]
    entropy = float(-(nz * nz.log()).sum())
    used = int((counts > 0).sum())
    return Usage(utterances, total, len(counts), used, 1.0 - used / len(counts), math.exp(entropy))


def usage(
    tokenizer: SpeechTokenizer,
    manifest: os.PathLike,
    audio_manifest: Optional[os.PathLike] = None,
    max_utterances: Optional[int] = None,
    skip_errors: bool = False,
    progress: bool = True,
) -> Usage:
    """Codebook usage over the speech rows of a manifest (the first ``max_utterances``)."""
    utts = speech_rows(manifest, max_utterances)
    counts = torch.zeros(tokenizer.codebook_size, dtype=torch.long)
    n = 0
    pending: List[torch.Tensor] = []
    inputs = iter_inputs(
        utts,
        waveforms=tokenizer.needs_audio,
        audio=AudioIndex(audio_manifest),
        skip_errors=skip_errors,
    )
    for _, x in tqdm(
        inputs, total=len(utts), desc="usage", unit="utt", disable=not progress, mininterval=1
    ):
        try:
            pending.append(
                tokenizer.vectors_for_waveform(x)
                if tokenizer.needs_audio
                else tokenizer.vectors_for_features(x)
            )
        except TokenizerError:
            if not skip_errors:
                raise
            continue
        n += 1
        if len(pending) == BATCH:
            counts += torch.bincount(
                tokenizer.quantize(torch.cat(pending)), minlength=tokenizer.codebook_size
            )
            pending = []
    if pending:
        counts += torch.bincount(
            tokenizer.quantize(torch.cat(pending)), minlength=tokenizer.codebook_size
        )
    if n == 0:
        raise TokenizerError(f"{manifest}: no speech rows to measure usage on")
    return usage_from_counts(counts, n)


def add_noise(wav: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """White Gaussian noise scaled to ``snr_db`` below the utterance's mean power."""
    power = float(np.mean(wav.astype(np.float64) ** 2))
    noise = rng.standard_normal(len(wav)) * math.sqrt(power / 10 ** (snr_db / 10))
    return (wav + noise).astype(np.float32)


def stability(
    tokenizer: SpeechTokenizer,
    manifest: os.PathLike,
    audio_manifest: Optional[os.PathLike] = None,
    max_utterances: int = 100,
    gain_db: float = -6.0,
    snr_db: float = 30.0,
    seed: int = 1,
    skip_errors: bool = False,
    progress: bool = True,
) -> Stability:
    """Share of ids unchanged under a gain change and under light noise, on a seeded sample of utterances."""
    utts = speech_rows(manifest)
    if len(utts) > max_utterances:
        utts = random.Random(seed).sample(utts, max_utterances)
    audio = AudioIndex(audio_manifest)
    gain = 10 ** (gain_db / 20)
    same_gain = same_noise = steps = n = 0
    loud_gain = loud_noise = loud_steps = 0
    for i, (utt, wav) in enumerate(
        tqdm(
            iter_inputs(utts, True, audio, skip_errors),
            total=len(utts),
            desc="stability",
            unit="utt",
            disable=not progress,
            mininterval=1,
        )
    ):
        rng = np.random.default_rng([seed, i])
        try:
            ref, louder, noisy = tokenizer.units_for_batch(
                [wav, (wav * gain).astype(np.float32), add_noise(wav, snr_db, rng)], waveforms=True
            )
        except (AudioError, TokenizerError):
            if not skip_errors:
                raise
            continue
        energy = stack_frames(torch.from_numpy(fbank(wav))).mean(dim=1)
        loud = energy >= energy.median()
        same_gain += int((ref == louder).sum())
        same_noise += int((ref == noisy).sum())
        loud_gain += int((ref == louder)[loud].sum())
        loud_noise += int((ref == noisy)[loud].sum())
        steps += len(ref)
        loud_steps += int(loud.sum())
        n += 1
    if steps == 0:
        raise TokenizerError(f"{manifest}: no utterance with audio to measure stability on")
    return Stability(
        n,
        steps,
        gain_db,
        snr_db,
        same_gain / steps,
        same_noise / steps,
        loud_gain / loud_steps,
        loud_noise / loud_steps,
    )


def format_report(
    tokenizer: SpeechTokenizer, name: str, use: Optional[Usage], stab: Optional[Stability]
) -> str:
    s = tokenizer.settings
    lines = [
        f"tokenizer {name}: {tokenizer.kind}, {tokenizer.codebook_size} entries of {tokenizer.codebook.shape[1]} dims"
        + (f", fitted on {s['fitted_on']}" if s.get("fitted_on") else "")
    ]
    if use is not None:
        lines += [
            f"usage: {use.utterances} utterances, {use.steps} steps",
            f"  used entries   {use.used} / {use.codebook_size} (unused {100 * use.unused_share:.1f}%)",
            f"  perplexity     {use.perplexity:.1f} (at most {use.codebook_size})",
        ]
    if stab is not None:
        lines += [
            f"stability: {stab.utterances} utterances, {stab.steps} steps, share of ids unchanged"
            " (all steps / louder half)",
            f"  {f'gain {stab.gain_db:+g} dB':<17}{100 * stab.unchanged_gain:5.1f}% / {100 * stab.unchanged_gain_loud:5.1f}%",
            f"  {f'noise {stab.snr_db:g} dB SNR':<17}{100 * stab.unchanged_noise:5.1f}% / {100 * stab.unchanged_noise_loud:5.1f}%",
        ]
    return "\n".join(lines)


def as_dict(use: Optional[Usage], stab: Optional[Stability]) -> Dict[str, Optional[dict]]:
    return {"usage": asdict(use) if use else None, "stability": asdict(stab) if stab else None}
