"""Let fairseq checkpoints load under torch's default weights-only unpickler.

torch >= 2.6 refuses any pickled global that is not on its allow-list, and fairseq
checkpoints carry a few harmless ones (the training ``Namespace``, numpy scalars in
logged metrics). We add exactly those to the allow-list instead of turning the check
off, so a tampered checkpoint still cannot run code on load.
"""
import argparse
import collections

import numpy as np
import torch

ALLOWED_GLOBALS = [
    argparse.Namespace,
    collections.OrderedDict,
    np._core.multiarray.scalar,
    np.dtype,
    type(np.dtype(np.float64)),
    type(np.dtype(np.float32)),
    type(np.dtype(np.int64)),
]


def allow_fairseq_checkpoint_globals() -> None:
    torch.serialization.add_safe_globals(ALLOWED_GLOBALS)
