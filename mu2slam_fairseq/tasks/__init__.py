"""fairseq tasks: ``mu2slam_pretrain``, ``mu2slam_finetune`` and ``mu2slam_w2vbert``."""

from . import finetune, pretrain, w2vbert  # noqa: F401
