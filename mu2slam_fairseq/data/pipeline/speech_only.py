"""Speech-only examples with span masks on the 40 ms grid, for w2v-BERT pre-training.

Each example is one manifest row's raw log-Mel frames (``data/io/features.load_features``)
and a mask over its ``grid_length(frames)`` steps: ``span_mask`` with w2v-BERT's
settings (about 50% of the steps, in spans of 10), drawn from ``item_rng(seed, epoch,
index)`` so masks are reproducible and change from epoch to epoch. Feature normalisation
is the model's (its CMVN buffers), so the frames stay raw here.
"""

import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import torch
from fairseq.data import FairseqDataset

from ...grid import grid_length
from ..io.features import load_features
from ..io.manifest import is_speech_row, read_manifest
from .masking import item_rng, span_mask


class SpeechMaskDataset(FairseqDataset):
    """Rows with an ``audio`` field -> {feats, mask}; batches padded at the end."""

    def __init__(
        self,
        rows: Sequence[Dict[str, str]],
        root: Optional[os.PathLike],
        mask_ratio: float = 0.5,
        mask_span: int = 10,
        seed: int = 1,
        shuffle: bool = True,
    ):
        self.rows = list(rows)
        self.root = root
        self.mask_ratio, self.mask_span, self.seed = mask_ratio, mask_span, seed
        self.shuffle = shuffle
        self.epoch = 1
        self.sizes = np.array([int(r["n_frames"]) for r in self.rows], dtype=np.int64)

    @classmethod
    def from_manifest(
        cls, manifest: os.PathLike, max_frames: Optional[int] = None, **kwargs: Any
    ) -> "SpeechMaskDataset":
        """The speech rows of ``manifest`` (at most ``max_frames`` frames each, when given)."""
        rows = [
            r
            for r in read_manifest(manifest, required=("id", "audio", "n_frames"))
            if is_speech_row(r) and (max_frames is None or int(r["n_frames"]) <= max_frames)
        ]
        return cls(rows, Path(manifest).parent, **kwargs)

    def __len__(self) -> int:
        return len(self.rows)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    @property
    def can_reuse_epoch_itr_across_epochs(self) -> bool:
        return True  # batches do not change with the epoch, masks are drawn per item

    def mask_for(self, index: int, steps: int) -> np.ndarray:
        """The span mask of item ``index`` in the current epoch."""
        return span_mask(
            steps, self.mask_ratio, self.mask_span, item_rng(self.seed, self.epoch, index)
        )

    def __getitem__(self, index: int) -> Dict[str, Any]:
        feats = torch.from_numpy(load_features(self.rows[index]["audio"], self.root))
        mask = self.mask_for(index, int(grid_length(len(feats))))
        return {"id": index, "feats": feats, "mask": torch.from_numpy(mask)}

    def collater(self, samples: List[Dict[str, Any]]) -> Dict[str, Any]:
        if not samples:
            return {}
        lengths = torch.tensor([len(s["feats"]) for s in samples])
        feats = samples[0]["feats"].new_zeros(
            len(samples), int(lengths.max()), samples[0]["feats"].size(1)
        )
        mask = torch.zeros(len(samples), max(len(s["mask"]) for s in samples), dtype=torch.bool)
        for i, s in enumerate(samples):
            feats[i, : len(s["feats"])] = s["feats"]
            mask[i, : len(s["mask"])] = s["mask"]
        return {
            "id": torch.tensor([s["id"] for s in samples]),
            "nsentences": len(samples),
            "ntokens": int(mask.sum()),
            "net_input": {"feats": feats, "lengths": lengths, "mask": mask},
        }

    def num_tokens(self, index: int) -> int:
        return int(self.sizes[index])

    def size(self, index: int) -> int:
        return int(self.sizes[index])

    def ordered_indices(self) -> np.ndarray:
        """By length (so batches pad little), ties in a seeded shuffled order."""
        order = (
            np.random.default_rng((self.seed, self.epoch)).permutation(len(self))
            if self.shuffle
            else np.arange(len(self))
        )
        return order[np.argsort(self.sizes[order], kind="mergesort")]
