"""fairseq criterions: ``mu2slam`` (every pre-training loss term) and ``mu2slam_seq2seq`` (fine-tuning)."""

from . import mu2slam_loss, seq2seq  # noqa: F401
