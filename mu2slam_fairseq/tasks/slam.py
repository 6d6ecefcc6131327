"""Task ``mu2slam_slam``: SLAM / mSLAM joint encoder pre-training on the plugin's data config.

    fairseq-train DATA --user-dir mu2slam_fairseq --task mu2slam_slam --slam-preset mslam \\
        --arch mu2slam_slam_tiny --criterion mu2slam_slam --optimizer adam ...

The speech, text, ASR and AST corpora of DATA's data config are read as the Mu2SLAM
tasks read them, and every update holds a sub-batch of each of these types in the
config's shares (``data/pipeline/batching.py``), as mSLAM trains; MT corpora are left out.
Speech is trained with w2v-BERT, text with SpanBERT, pairs with TLM (ASR and AST pairs
alike: speech concatenated with its transcript or translation), plus CTC on ASR pairs or
STM on pairs as the preset says:

- ``slam``: SLAM-TLM-STM (text spans of 5, STM);
- ``slam_tlm``: SLAM-TLM (text spans of 5);
- ``mslam``: mSLAM-CTC (text spans of 20, CTC on the speech of ASR pairs);
- ``mslam_tlm``: mSLAM-TLM (text spans of 20).

``--text-mask-span`` overrides the preset's span. SLAM's multi-stage schedule is two runs:
``--self-supervised-only`` (speech and text corpora only) first, then the preset's full
set of losses restoring the first run's checkpoint (``examples/paper/slam/``). The data
config's ``masking`` section is Mu2SLAM's and is not read: SLAM's ratios are this task's
options, with the papers' values as defaults.
"""

import logging
from dataclasses import dataclass, field
from typing import Dict

from fairseq.dataclass import ChoiceEnum
from fairseq.tasks import register_task

from ..data.pipeline.data_config import DataConfig
from ..data.pipeline.multitype import MultiTypeDataset
from ..data.pipeline.slam import SLAM_TYPES, SlamMasking, build_slam_dataset
from .base import Mu2slamTaskBase, Mu2slamTaskConfig

logger = logging.getLogger(__name__)

SLAM_PRESETS: Dict[str, Dict] = {
    "slam": {"text_span": 5, "stm": True, "ctc": False},
    "slam_tlm": {"text_span": 5, "stm": False, "ctc": False},
    "mslam": {"text_span": 20, "stm": False, "ctc": True},
    "mslam_tlm": {"text_span": 20, "stm": False, "ctc": False},
}
SELF_SUPERVISED_TYPES = ("speech", "text")


@dataclass
class SlamTaskConfig(Mu2slamTaskConfig):
    slam_preset: ChoiceEnum(list(SLAM_PRESETS)) = field(  # type: ignore[valid-type]
        default="mslam", metadata={"help": "which paper's recipe: text span, STM, CTC"}
    )
    self_supervised_only: bool = field(
        default=False,
        metadata={"help": "speech and text only (SLAM's first stage): no pairs, no TLM/STM/CTC"},
    )
    speech_mask_ratio: float = field(default=0.5, metadata={"help": "w2v-BERT: masked steps"})
    speech_mask_span: int = field(default=10, metadata={"help": "longest masked run of steps"})
    text_mask_ratio: float = field(default=0.15, metadata={"help": "SpanBERT: masked tokens"})
    text_mask_span: int = field(
        default=0, metadata={"help": "SpanBERT span length (0: the preset's, SLAM 5, mSLAM 20)"}
    )
    pair_speech_mask_ratio: float = field(default=0.75, metadata={"help": "TLM: masked steps"})
    pair_text_mask_ratio: float = field(
        default=0.5, metadata={"help": "TLM: one span of this share of the text"}
    )
    stm_negative_ratio: float = field(
        default=0.5, metadata={"help": "STM: share of pairs given another example's text"}
    )


def slam_masking(cfg: SlamTaskConfig) -> SlamMasking:
    """The data settings of a task config: its ratios and its preset's span, STM and CTC."""
    preset = SLAM_PRESETS[str(cfg.slam_preset)]
    return SlamMasking(
        speech_ratio=cfg.speech_mask_ratio,
        speech_span=cfg.speech_mask_span,
        text_ratio=cfg.text_mask_ratio,
        text_span=cfg.text_mask_span or preset["text_span"],
        pair_speech_ratio=cfg.pair_speech_mask_ratio,
        pair_text_ratio=cfg.pair_text_mask_ratio,
        stm=preset["stm"],
        stm_negative_ratio=cfg.stm_negative_ratio,
        ctc=preset["ctc"],
    )


@register_task("mu2slam_slam", dataclass=SlamTaskConfig)
class SlamTask(Mu2slamTaskBase):
    cfg: SlamTaskConfig
    data_types = SLAM_TYPES + ("mt", "t2t")  # accepted in the config; only SLAM_TYPES are read

    def __init__(self, cfg: SlamTaskConfig, data_cfg: DataConfig, dictionary):
        super().__init__(cfg, data_cfg, dictionary)
        self.masking = slam_masking(cfg)
        self.types = SELF_SUPERVISED_TYPES if cfg.self_supervised_only else SLAM_TYPES
        left = [c.name for c in data_cfg.corpora if c.type not in self.types]
        if left:
            logger.info(f"mu2slam_slam ({cfg.slam_preset}): corpora left out: {', '.join(left)}")

    def build_split(
        self, data_cfg: DataConfig, split: str, train: bool, epoch: int = 1
    ) -> MultiTypeDataset:
        if self.encode is None:
            raise ValueError(f"{data_cfg.path}: vocab.spm is needed to encode texts")
        dataset = build_slam_dataset(
            data_cfg,
            split,
            self.dictionary,
            self.encode,
            self.masking,
            self.cfg.seed,
            epoch,
            self.types,
        )
        dataset.split, dataset.training = split, train
        logger.info(f"{split}: {len(dataset)} examples of types {dataset.types}")
        return dataset

    def max_positions(self) -> int:
        """Encoder positions only (a pair: speech steps + tokens); SLAM has no decoder."""
        return self.cfg.max_source_positions
