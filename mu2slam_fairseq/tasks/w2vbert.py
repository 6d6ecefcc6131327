"""Task ``mu2slam_w2vbert``: w2v-BERT pre-training on the speech rows of manifests.

    fairseq-train DATA --user-dir mu2slam_fairseq --task mu2slam_w2vbert \\
        --train-subset train_speech --valid-subset dev_speech \\
        --arch mu2slam_w2vbert_tiny --criterion mu2slam_w2vbert --max-tokens 8000 ...

A split ``S`` is the manifest ``DATA/S.tsv``; only rows with audio count, ``--max-tokens``
counts log-Mel frames. ``--global-cmvn`` (fairseq's mean/std ``.npz``, e.g. from
``mu2slam-cmvn``) gives the input normalisation, which the task hands to the model: it is
kept in the checkpoint, so the exported ``w2vbert`` speech tokenizer needs nothing else.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Tuple

import numpy as np
from fairseq.dataclass import FairseqDataclass
from fairseq.tasks import FairseqTask, register_task
from omegaconf import II

from ..checkpoint_safety import install_checkpoint_safety
from ..data.io.cmvn import GlobalCmvn
from ..data.pipeline.speech_only import SpeechMaskDataset

install_checkpoint_safety()


@dataclass
class W2vBertTaskConfig(FairseqDataclass):
    data: str = field(default="", metadata={"help": "folder of the split manifests (SPLIT.tsv)"})
    global_cmvn: Optional[str] = field(
        default=None,
        metadata={"help": "mean/std .npz normalising the log-Mel input (relative to DATA)"},
    )
    mask_ratio: float = field(
        default=0.5, metadata={"help": "share of 40 ms steps masked (w2v-BERT: about 50%)"}
    )
    mask_span: int = field(default=10, metadata={"help": "longest masked run of steps"})
    max_frames: int = field(
        default=3000, metadata={"help": "utterances longer than this many 10 ms frames are skipped"}
    )
    seed: int = II("common.seed")


@register_task("mu2slam_w2vbert", dataclass=W2vBertTaskConfig)
class W2vBertTask(FairseqTask):
    cfg: W2vBertTaskConfig

    def __init__(self, cfg: W2vBertTaskConfig):
        super().__init__(cfg)
        self._stats: Optional[Tuple[np.ndarray, np.ndarray]] = None
        if cfg.global_cmvn:
            path = Path(cfg.global_cmvn)
            cmvn = GlobalCmvn(path if path.is_absolute() else Path(cfg.data) / path)
            self._stats = (cmvn.mean, cmvn.std)

    @classmethod
    def setup_task(cls, cfg: W2vBertTaskConfig, **kwargs) -> "W2vBertTask":
        return cls(cfg)

    def input_stats(self) -> Optional[Tuple[np.ndarray, np.ndarray]]:
        """Global mean and std of the log-Mel bins, for the model; None: no normalisation."""
        return self._stats

    def load_dataset(self, split: str, epoch: int = 1, combine: bool = False, **kwargs) -> None:
        manifest = Path(self.cfg.data) / f"{split}.tsv"
        if not manifest.is_file():
            raise FileNotFoundError(f"no manifest for split {split!r}: {manifest}")
        self.datasets[split] = SpeechMaskDataset.from_manifest(
            manifest,
            max_frames=self.cfg.max_frames,
            mask_ratio=self.cfg.mask_ratio,
            mask_span=self.cfg.mask_span,
            seed=self.cfg.seed,
        )
        if len(self.datasets[split]) == 0:
            raise ValueError(f"{manifest}: no speech rows of at most {self.cfg.max_frames} frames")

    def max_positions(self) -> int:
        return self.cfg.max_frames

    @property
    def source_dictionary(self):
        return None

    @property
    def target_dictionary(self):
        return None
