"""The mu2slam model: importing this package registers it and its architectures."""

from . import mu2slam, architectures  # noqa: F401  (registration side effects)
from .config import Mu2SlamConfig  # noqa: F401
from .mu2slam import Mu2SlamModel, build_for_dictionary  # noqa: F401
