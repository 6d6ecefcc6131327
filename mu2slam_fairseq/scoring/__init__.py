"""Scoring generated text: BLEU/WER statistics for validation, accuracy and SQuAD-style
F1/EM for text understanding (also as fairseq scorers ``mu2slam_accuracy`` and
``mu2slam_qa``), and ``mu2slam-score`` over ``fairseq-generate`` output."""

from . import scorers  # noqa: F401  (registers the scorers)
