"""fairseq tasks: ``mu2slam_pretrain`` (and ``mu2slam_finetune``)."""
from . import pretrain  # noqa: F401
