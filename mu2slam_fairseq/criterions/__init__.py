"""fairseq criterions: ``mu2slam`` (every pre-training loss term), ``mu2slam_seq2seq`` (fine-tuning) and ``mu2slam_w2vbert`` (w2v-BERT on speech)."""

from . import mu2slam_loss, seq2seq, w2vbert  # noqa: F401
