"""The frozen speech tokenizer: speech -> one unit id per 40 ms step (paper Eq. 1).

Three kinds share one pipeline, vectors -> nearest codebook entry:

* ``kmeans``: 80-dim log-Mel frames, standardised with global statistics of the fitting
  data, stacked four by four (``steps.stack_frames``); codebook from k-means.
  With ``normalization="utterance"`` each utterance's own mean log-Mel is subtracted
  first (the global statistics are then those of mean-removed frames): a gain change
  shifts every log-Mel bin by a constant, so the ids no longer depend on the level.
* ``bestrq``: the same stacked vectors through a frozen random projection, L2-normalised,
  against a random L2-normalised codebook (BEST-RQ); only the statistics are fitted.
* ``w2v-kmeans``: hidden states of one block of a wav2vec 2.0 / HuBERT model (20 ms),
  averaged in pairs onto the 40 ms grid and standardised; codebook from k-means. It
  needs the waveform, not stored log-Mel features.
* ``w2vbert``: the quantizer of a ``mu2slam_w2vbert`` checkpoint (``w2vbert.py``): log-Mel
  frames standardised with the model's CMVN (``mean``, ``std``), its front end (the
  vectors), then the product quantizer's argmax per group (the id); ``codebook`` holds the
  quantizer's G V code vectors, the id space is V^G. Here ``quantize`` is the quantizer's,
  not a nearest-entry search.

File format: version 1 holds mean, std, codebook, projection and hidden; version 2 adds
``quantizer`` (the ``w2vbert`` kind's front end and quantizer). Files of the other kinds
are still written as version 1, so older readers keep loading them.

Inputs to the log-Mel kinds are the raw features as ``data.features.load_features``
returns them, before any dataset-side normalisation or augmentation.
"""

from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np
import torch

from ..data.io.audio import fbank, n_fbank_frames
from ..grid import SUBSAMPLING, grid_length
from .errors import TokenizerError
from .search import DEFAULT_CHUNK, nearest
from .steps import average_pairs, stack_frames

KINDS = ("kmeans", "bestrq", "w2v-kmeans", "w2vbert")
NORMALIZATIONS = ("global", "utterance")
FORMAT = "mu2slam-speech-tokenizer"
VERSION = 2  # the newest version this code reads and writes

Array = Union[np.ndarray, torch.Tensor]


def _tensor(x: Array) -> torch.Tensor:
    return x if isinstance(x, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(x))


def l2_normalize(x: torch.Tensor) -> torch.Tensor:
    return x / x.norm(dim=-1, keepdim=True).clamp_min(1e-12)


def remove_utterance_mean(feats: torch.Tensor) -> torch.Tensor:
    """Frames minus their mean over the utterance (summed in float64: independent of thread count)."""
    return feats - feats.double().mean(dim=0).float()


class SpeechTokenizer:
    """A fitted, frozen tokenizer; build it with ``fit.fit_tokenizer`` or ``load_tokenizer``."""

    def __init__(
        self,
        kind: str,
        mean: Array,
        std: Array,
        codebook: Array,
        settings: Optional[Dict[str, Any]] = None,
        projection: Optional[Array] = None,
        hidden: Optional[Dict[str, Any]] = None,
        quantizer: Optional[Dict[str, Any]] = None,
    ):
        self.kind = kind
        self.settings = dict(settings or {})
        self.mean = _tensor(mean).float().contiguous()
        self.std = _tensor(std).float().contiguous()
        self.codebook = _tensor(codebook).float().contiguous()
        self.projection = None if projection is None else _tensor(projection).float().contiguous()
        self.hidden = hidden
        self.quantizer = quantizer
        self._units = None
        self._check()
        self.codebook_sq = (self.codebook * self.codebook).sum(dim=1)
        self._hidden_model = None

    def _check(self) -> None:
        if self.kind not in KINDS:
            raise TokenizerError(
                f"unknown tokenizer kind {self.kind!r} (known: {', '.join(KINDS)})"
            )
        if self.mean.dim() != 1 or self.mean.shape != self.std.shape or len(self.mean) == 0:
            raise TokenizerError(
                f"normalisation mean {tuple(self.mean.shape)} and std {tuple(self.std.shape)} do not match"
            )
        if self.codebook.dim() != 2 or len(self.codebook) == 0:
            raise TokenizerError(
                f"codebook has shape {tuple(self.codebook.shape)}, expected (entries, dims)"
            )
        for name, t in (
            ("mean", self.mean),
            ("std", self.std),
            ("codebook", self.codebook),
            ("projection", self.projection),
        ):
            if t is not None and not bool(torch.isfinite(t).all()):
                raise TokenizerError(f"{name} contains NaN or infinite values")
        if not bool((self.std > 0).all()):
            raise TokenizerError("std has non-positive entries")
        if self.normalization not in NORMALIZATIONS or (
            self.needs_audio and self.normalization != "global"
        ):
            raise TokenizerError(
                f"normalization {self.normalization!r} is not available for the {self.kind} kind"
            )
        if (self.projection is not None) != (self.kind == "bestrq"):
            raise TokenizerError(
                f"a {self.kind} tokenizer {'needs' if self.kind == 'bestrq' else 'has no'} projection"
            )
        if (self.hidden is not None) != (self.kind == "w2v-kmeans"):
            raise TokenizerError(
                f"a {self.kind} tokenizer {'needs' if self.kind == 'w2v-kmeans' else 'has no'} hidden-state model"
            )
        if (self.quantizer is not None) != (self.kind == "w2vbert"):
            raise TokenizerError(
                f"a {self.kind} tokenizer {'needs' if self.kind == 'w2vbert' else 'has no'} quantizer"
            )
        if self.kind == "w2vbert":
            q = self.quantizer["config"]
            groups, entries = int(q["latent_groups"]), int(q["latent_vars"])
            if len(self.codebook) != groups * entries:
                raise TokenizerError(
                    f"codebook has {len(self.codebook)} code vectors, the quantizer {groups} x {entries}"
                )
            expected = int(q["latent_dim"]) // groups
        elif self.kind == "kmeans":
            expected = SUBSAMPLING * len(self.mean)
        elif self.kind == "bestrq":
            if self.projection.dim() != 2 or self.projection.shape[0] != SUBSAMPLING * len(
                self.mean
            ):
                raise TokenizerError(
                    f"projection has shape {tuple(self.projection.shape)}, expected ({SUBSAMPLING * len(self.mean)}, dims)"
                )
            expected = self.projection.shape[1]
        else:
            expected = len(self.mean)
        if self.codebook.shape[1] != expected:
            raise TokenizerError(
                f"codebook vectors have {self.codebook.shape[1]} dims, the {self.kind} vectors have {expected}"
            )

    # -- properties -------------------------------------------------------------------------
    @property
    def codebook_size(self) -> int:
        """Number of distinct ids (V^G for ``w2vbert``, else the codebook's entries)."""
        if self.kind == "w2vbert":
            q = self.quantizer["config"]
            return int(q["latent_vars"]) ** int(q["latent_groups"])
        return len(self.codebook)

    @property
    def needs_audio(self) -> bool:
        """True when units come from the waveform only (``w2v-kmeans``): stored features are not enough."""
        return self.kind == "w2v-kmeans"

    @property
    def normalization(self) -> str:
        return self.settings.get("normalization", "global")

    def __repr__(self) -> str:
        return f"SpeechTokenizer(kind={self.kind!r}, codebook_size={self.codebook_size}, dim={self.codebook.shape[1]})"

    # -- vectors ----------------------------------------------------------------------------
    def vectors_for_features(self, feats: Array) -> torch.Tensor:
        """(grid_length(n), dim) vectors that are compared with the codebook, from (n, 80) log-Mel frames."""
        if self.needs_audio:
            raise TokenizerError(
                "this w2v-kmeans tokenizer works on waveforms: call units_for_waveform (stored log-Mel features are not enough)"
            )
        feats = _tensor(feats).float()
        if feats.dim() != 2 or feats.shape[1] != len(self.mean) or feats.shape[0] == 0:
            raise TokenizerError(
                f"features have shape {tuple(feats.shape)}, expected (frames >= 1, {len(self.mean)})"
            )
        if self.normalization == "utterance":
            feats = remove_utterance_mean(feats)
        if self.kind == "w2vbert":
            return self.units_model().vectors((feats - self.mean) / self.std)
        x = stack_frames((feats - self.mean) / self.std)
        if self.kind == "bestrq":
            # in float64: BLAS rounding differences (threads, shapes) stay far below float32 precision
            x = l2_normalize(x.double() @ self.projection.double()).float()
        return x

    def vectors_for_waveform(self, waveform: Array) -> torch.Tensor:
        """The same vectors from 16 kHz mono samples (log-Mel kinds compute the features first)."""
        wav = _tensor(waveform).float().reshape(-1)
        n_frames = n_fbank_frames(len(wav))
        if n_frames == 0:
            raise TokenizerError(f"audio of {len(wav)} samples is shorter than one 25 ms frame")
        if not self.needs_audio:
            return self.vectors_for_features(fbank(wav.numpy()))
        states = self.hidden_model()(wav)
        if len(states) == 0:
            raise TokenizerError(f"audio of {len(wav)} samples gives no hidden states")
        return (average_pairs(states, int(grid_length(n_frames))) - self.mean) / self.std

    def hidden_model(self) -> torch.nn.Module:
        if self._hidden_model is None:
            from .hidden import HiddenStates

            self._hidden_model = HiddenStates(self.hidden)
        return self._hidden_model

    def units_model(self) -> torch.nn.Module:
        """The ``w2vbert`` kind's front end and quantizer, built once."""
        if self._units is None:
            from .w2vbert import W2vBertUnits

            self._units = W2vBertUnits(self.quantizer)
        return self._units

    # -- units ------------------------------------------------------------------------------
    def quantize(self, vectors: torch.Tensor, chunk_size: int = DEFAULT_CHUNK) -> torch.Tensor:
        """Index of the nearest codebook entry for each row (Eq. 1); exact and batch-independent.

        For ``w2vbert``: the quantizer's code id of each front-end vector.
        """
        if self.kind == "w2vbert":
            return self.units_model().ids(vectors)
        ids, _ = nearest(vectors, self.codebook, self.codebook_sq, chunk_size=chunk_size)
        return ids

    def units_for_features(self, feats: Array) -> torch.Tensor:
        """LongTensor of grid_length(len(feats)) unit ids for one utterance's raw log-Mel frames."""
        return self.quantize(self.vectors_for_features(feats))

    def units_for_waveform(self, waveform: Array) -> torch.Tensor:
        """LongTensor of unit ids for 16 kHz mono samples, as long as the grid of their log-Mel frames."""
        return self.quantize(self.vectors_for_waveform(waveform))

    def units_for_batch(
        self, items: Sequence[Array], waveforms: bool = False
    ) -> List[torch.Tensor]:
        """Units of several utterances with one codebook search (same ids as one by one)."""
        make = self.vectors_for_waveform if waveforms else self.vectors_for_features
        vectors = [make(x) for x in items]
        if not vectors:
            return []
        ids = self.quantize(torch.cat(vectors))
        return list(ids.split([len(v) for v in vectors]))

    __call__ = units_for_features

    # -- state ------------------------------------------------------------------------------
    def state(self) -> Dict[str, Any]:
        """Everything the tokenizer is, as plain tensors and containers (the file's content)."""
        state = {
            "format": FORMAT,
            "version": 1,
            "kind": self.kind,
            "settings": dict(self.settings),
            "mean": self.mean,
            "std": self.std,
            "codebook": self.codebook,
            "projection": self.projection,
            "hidden": self.hidden,
        }
        if self.quantizer is not None:
            state.update(version=2, quantizer=self.quantizer)
        return state

    @classmethod
    def from_state(cls, state: Dict[str, Any]) -> "SpeechTokenizer":
        return cls(
            kind=state["kind"],
            mean=state["mean"],
            std=state["std"],
            codebook=state["codebook"],
            settings=state.get("settings") or {},
            projection=state.get("projection"),
            hidden=state.get("hidden"),
            quantizer=state.get("quantizer"),
        )

    def save(self, path) -> None:
        """Write the tokenizer to one file, atomically."""
        from .storage import save_state

        save_state(self.state(), path)
