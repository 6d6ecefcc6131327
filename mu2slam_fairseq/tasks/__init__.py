"""fairseq tasks: ``mu2slam_pretrain`` and ``mu2slam_finetune``."""

from . import finetune, pretrain  # noqa: F401
