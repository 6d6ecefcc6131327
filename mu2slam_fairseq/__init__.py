"""Mu2SLAM for fairseq: importing this package registers its tasks, models, criterions and scorers.

Use it with ``fairseq-train --user-dir mu2slam_fairseq`` (or ``import mu2slam_fairseq``).
"""

from .checkpoint_safety import allow_fairseq_checkpoint_globals

allow_fairseq_checkpoint_globals()

from . import criterions, models, scoring, tasks  # noqa: E402,F401  (registration side effects)

__version__ = "0.1.0"
