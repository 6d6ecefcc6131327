"""Fitting a tokenizer by streaming once over a manifest.

One pass accumulates the normalisation statistics and, for the k-means kinds, a
seeded reservoir sample of at most ``max_samples`` step vectors (memory stays bounded
whatever the corpus size); k-means then runs on the standardised sample. BEST-RQ fits
nothing but the statistics: its projection and codebook are drawn from the seed. The
same manifest, settings and seed give the same tokenizer file, byte for byte.

The ``w2vbert`` kind fits nothing: it exports a trained w2v-BERT checkpoint's CMVN, front
end and quantizer (``export_w2vbert``), and needs no manifest.
"""

import os
from pathlib import Path
from typing import List, Optional

import numpy as np
import torch
from tqdm import tqdm

from ..data.io.audio import n_fbank_frames
from ..grid import SUBSAMPLING, grid_length
from .errors import TokenizerError
from .kmeans import fit_kmeans
from .sampling import Reservoir, RunningStats
from .sources import AudioIndex, iter_inputs, speech_rows
from .steps import average_pairs, stack_frames
from .tokenizer import KINDS, NORMALIZATIONS, SpeechTokenizer, l2_normalize, remove_utterance_mean

DEFAULT_CODEBOOK_SIZE = 1024
DEFAULT_MAX_SAMPLES = 100_000
DEFAULT_PROJECTION_DIM = 16


def bestrq_parameters(in_dim: int, projection_dim: int, codebook_size: int, seed: int):
    """BEST-RQ's frozen parts: a Xavier-uniform projection and an L2-normalised Gaussian codebook."""
    g = torch.Generator().manual_seed(seed)
    projection = torch.empty(in_dim, projection_dim)
    torch.nn.init.xavier_uniform_(projection, generator=g)
    codebook = l2_normalize(torch.randn(codebook_size, projection_dim, generator=g))
    return projection, codebook


def export_w2vbert(checkpoint: os.PathLike) -> SpeechTokenizer:
    """The ``w2vbert`` tokenizer of a ``mu2slam_w2vbert`` checkpoint: its own quantizer ids."""
    from .w2vbert import read_w2vbert_checkpoint

    mean, std, codebook, payload = read_w2vbert_checkpoint(checkpoint)
    q = payload["config"]
    settings = {
        "checkpoint": payload["checkpoint"],
        "codebook_size": int(q["latent_vars"]) ** int(q["latent_groups"]),
        "groups": int(q["latent_groups"]),
        "entries_per_group": int(q["latent_vars"]),
        "normalization": "global",
        "frames_per_step": SUBSAMPLING,
    }
    return SpeechTokenizer("w2vbert", mean, std, codebook, settings=settings, quantizer=payload)


def fit_tokenizer(
    kind: str,
    manifest: Optional[os.PathLike],
    codebook_size: int = DEFAULT_CODEBOOK_SIZE,
    max_samples: int = DEFAULT_MAX_SAMPLES,
    seed: int = 1,
    iterations: int = 20,
    init: str = "k-means++",
    projection_dim: int = DEFAULT_PROJECTION_DIM,
    normalization: str = "global",
    checkpoint: Optional[os.PathLike] = None,
    layer: Optional[int] = None,
    audio_manifest: Optional[os.PathLike] = None,
    max_utterances: Optional[int] = None,
    skip_errors: bool = False,
    progress: bool = True,
) -> SpeechTokenizer:
    """Fit a frozen tokenizer of ``kind`` on the speech rows of ``manifest``."""
    if kind not in KINDS:
        raise TokenizerError(f"unknown tokenizer kind {kind!r} (known: {', '.join(KINDS)})")
    if normalization not in NORMALIZATIONS or (kind == "w2v-kmeans" and normalization != "global"):
        raise TokenizerError(
            f"normalization {normalization!r} is not available for the {kind} kind"
        )
    if kind == "w2vbert":
        if checkpoint is None:
            raise TokenizerError("the w2vbert kind needs a mu2slam_w2vbert checkpoint")
        return export_w2vbert(checkpoint)
    if manifest is None:
        raise TokenizerError(f"the {kind} kind is fitted on a manifest")
    if codebook_size < 1:
        raise TokenizerError("the codebook needs at least one entry")
    hidden_payload, hidden = None, None
    if kind == "w2v-kmeans":
        if checkpoint is None or layer is None:
            raise TokenizerError(
                "the w2v-kmeans kind needs a wav2vec 2.0 / HuBERT checkpoint and a layer"
            )
        from .hidden import HiddenStates, read_checkpoint

        hidden_payload = read_checkpoint(checkpoint, layer)
        hidden = HiddenStates(hidden_payload)
    utts = speech_rows(manifest, max_utterances)
    if not utts:
        raise TokenizerError(f"{manifest}: no speech rows to fit on")
    stats: Optional[RunningStats] = None
    reservoir = Reservoir(max_samples, seed) if kind != "bestrq" else None
    failures: List[str] = []
    used_utts, steps_seen = 0, 0
    inputs = iter_inputs(
        utts,
        waveforms=hidden is not None,
        audio=AudioIndex(audio_manifest),
        skip_errors=skip_errors,
        failures=failures,
    )
    for utt, x in tqdm(
        inputs, total=len(utts), desc=f"fit {kind}", unit="utt", disable=not progress, mininterval=1
    ):
        if hidden is not None:
            n_frames = n_fbank_frames(len(x))
            if n_frames == 0:
                if not skip_errors:
                    raise TokenizerError(
                        f"row {utt.id!r}: audio of {len(x)} samples is shorter than one 25 ms frame"
                    )
                failures.append(f"{utt.id}: shorter than one 25 ms frame")
                continue
            base = average_pairs(hidden(torch.from_numpy(x)), int(grid_length(n_frames))).numpy()
            steps = base
        else:
            base = (
                x
                if normalization == "global"
                else remove_utterance_mean(torch.from_numpy(x)).numpy()
            )
            steps = stack_frames(torch.from_numpy(base)).numpy() if reservoir is not None else None
        if stats is None:
            stats = RunningStats(base.shape[1])
        stats.add(base)
        if reservoir is not None:
            reservoir.add(steps)
        used_utts += 1
        steps_seen += int(grid_length(len(x))) if hidden is None else len(steps)
    if stats is None:
        raise TokenizerError(f"{manifest}: none of the {len(utts)} speech rows could be read")
    mean, std = stats.result()
    settings = {
        "codebook_size": codebook_size,
        "seed": seed,
        "fitted_on": Path(manifest).name,
        "utterances": used_utts,
        "skipped_utterances": len(failures),
        "steps_seen": steps_seen,
        "normalization": normalization,
        "tail": "repeat-last",
        "frames_per_step": SUBSAMPLING,
    }
    projection = None
    if kind == "bestrq":
        projection, codebook = bestrq_parameters(
            SUBSAMPLING * len(mean), projection_dim, codebook_size, seed
        )
        settings["projection_dim"] = projection_dim
    else:
        sample = torch.from_numpy(reservoir.sample().copy())
        if len(sample) < codebook_size:
            raise TokenizerError(
                f"{manifest}: only {len(sample)} steps of speech for {codebook_size} codebook entries; "
                "use a smaller codebook or more data"
            )
        reps = SUBSAMPLING if hidden is None else 1
        sample = (sample - torch.from_numpy(np.tile(mean, reps))) / torch.from_numpy(
            np.tile(std, reps)
        )
        result = fit_kmeans(
            sample, codebook_size, seed=seed, iterations=iterations, init=init, progress=progress
        )
        codebook = result.centroids
        settings.update(
            max_samples=max_samples,
            samples=len(sample),
            init=init,
            iterations=iterations,
            iterations_run=result.iterations,
            inertia=result.inertia,
            used_on_sample=result.used,
        )
    if hidden_payload is not None:
        settings.update(
            layer=hidden_payload["layer"],
            checkpoint=hidden_payload["checkpoint"],
            architecture=hidden_payload["architecture"],
        )
    if failures:
        settings["first_skipped"] = failures[:5]
    return SpeechTokenizer(
        kind, mean, std, codebook, settings=settings, projection=projection, hidden=hidden_payload
    )
