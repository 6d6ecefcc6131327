"""The loss terms of Mu2SLAM, one declaration each (``paper.py``), and what reads them.

``registry.py`` says what an objective is and answers every question about the table
(views of a data type, logged terms, coefficients, the fine-tuning view of a type);
``recipes.py`` builds an example's views from its declaration. The datasets, both
criteria, the fine-tuning task and validation ask these, never a table of their own.
"""

from . import paper  # noqa: F401  (declares the paper's objectives)
from .recipes import Sequences, build_views
from .registry import (
    COEFFICIENTS,
    DATA_TYPES,
    OBJECTIVES,
    PRETRAINING_TYPES,
    Coefficient,
    Decode,
    Objective,
    add_coefficient,
    coefficients_config,
    finetune_types,
    finetune_view,
    log_terms,
    objective,
    objectives_of,
    register,
    view_names,
)

__all__ = [
    "COEFFICIENTS",
    "DATA_TYPES",
    "OBJECTIVES",
    "PRETRAINING_TYPES",
    "Coefficient",
    "Decode",
    "Objective",
    "Sequences",
    "add_coefficient",
    "build_views",
    "coefficients_config",
    "finetune_types",
    "finetune_view",
    "log_terms",
    "objective",
    "objectives_of",
    "register",
    "view_names",
]
