"""The mu2slam, mu2slam_w2vbert, mu2slam_slam and mu2slam_slam_seq2seq models: importing this package registers them and their architectures."""

from . import mu2slam, architectures  # noqa: F401  (registration side effects)
from .config import Mu2SlamConfig  # noqa: F401
from .mu2slam import Mu2SlamModel, build_for_dictionary  # noqa: F401
from .slam import SlamModel  # noqa: F401
from .slam_seq2seq import SlamSeq2SeqModel  # noqa: F401
from .w2vbert import W2vBertModel  # noqa: F401
