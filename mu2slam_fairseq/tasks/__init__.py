"""fairseq tasks: ``mu2slam_pretrain``, ``mu2slam_finetune``, ``mu2slam_w2vbert`` and ``mu2slam_slam``."""

from . import finetune, pretrain, slam, w2vbert  # noqa: F401
