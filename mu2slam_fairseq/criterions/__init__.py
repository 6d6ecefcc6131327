"""fairseq criterions: ``mu2slam`` (every pre-training loss term)."""
from . import mu2slam_loss  # noqa: F401
