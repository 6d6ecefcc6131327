"""Task ``mu2slam_pretrain``: all five data types in every update (paper §2.3).

    fairseq-train DATA --user-dir mu2slam_fairseq --task mu2slam_pretrain \\
        --criterion mu2slam --arch mu2slam_tiny --optimizer adam ...

DATA is a folder holding the data config ``data.yaml`` (``--data-config``; see
``data/pipeline/data_config.py``): corpora with their types, the
vocabulary, the speech tokenizer, mask ratios and per-type batch shares. Each batch
holds a sub-batch of every present type, and the ``mu2slam`` criterion computes every
loss term from the views the data layer built.
"""

from dataclasses import dataclass

from fairseq.tasks import register_task

from ..objectives import PRETRAINING_TYPES
from .base import Mu2slamTaskBase, Mu2slamTaskConfig


@dataclass
class Mu2slamPretrainConfig(Mu2slamTaskConfig):
    pass


@register_task("mu2slam_pretrain", dataclass=Mu2slamPretrainConfig)
class Mu2slamPretrainTask(Mu2slamTaskBase):
    data_types = PRETRAINING_TYPES
