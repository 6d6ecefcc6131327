"""fairseq criterions: ``mu2slam`` (every pre-training loss term), ``mu2slam_seq2seq`` (fine-tuning) ``mu2slam_w2vbert`` (w2v-BERT on speech) and ``mu2slam_slam`` (SLAM / mSLAM)."""

from . import mu2slam_loss, seq2seq, slam, w2vbert  # noqa: F401
