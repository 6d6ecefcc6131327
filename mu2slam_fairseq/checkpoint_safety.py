"""Loading and writing fairseq checkpoints safely.

Three guards, installed once at plugin import (``install_checkpoint_safety``):

1. torch >= 2.6 loads with a weights-only unpickler that refuses any pickled global not
   on its allow-list, and fairseq checkpoints carry a few harmless ones (the training
   ``Namespace``, numpy scalars in logged metrics). We add exactly those to the allow-list
   instead of turning the check off, so a tampered checkpoint still cannot run code on load.
2. When fairseq's ``load_checkpoint_to_cpu`` (resuming, ``--finetune-from-model``,
   ``fairseq-generate --path``) fails because the file is empty, truncated, corrupt or
   holds a global the allow-list refuses, the error names the file and the cause
   (``CheckpointFileError``). torch's own message names neither, and suggests turning the
   check off.
3. fairseq writes the first file of a save through a temporary file and a rename, but
   copies it to the others (``checkpoint_last.pt``, ``checkpoint_best.pt``) with a plain
   ``shutil.copyfile``: a run killed during that copy leaves a half-written
   ``checkpoint_last.pt``, the very file the next run resumes from. Local copies therefore
   go through ``DEST.tmp``, fsync and a rename as well (``atomic.copy_file``; a copy that
   raises removes ``DEST.tmp``, and one killed outright leaves it to be overwritten by the
   next save of DEST).
"""

import argparse
import collections
import functools
import os
import pickle
import re
import zipfile
from typing import Any, Callable, Dict, Optional, Union

import numpy as np
import torch

from . import atomic

ALLOWED_GLOBALS = [
    argparse.Namespace,
    collections.OrderedDict,
    np._core.multiarray.scalar,
    np.dtype,
    type(np.dtype(np.float64)),
    type(np.dtype(np.float32)),
    type(np.dtype(np.int64)),
]
ZIP_MAGIC = b"PK\x03\x04"  # torch.save has written zip archives since torch 1.6
_REFUSED_GLOBAL = re.compile(r"GLOBAL (\S+)")
PathLike = Union[str, os.PathLike]


class CheckpointFileError(ValueError):
    """A checkpoint file that cannot be loaded as such: empty, truncated, corrupt or refused."""

    def __init__(self, path: PathLike, problem: str):
        self.path, self.problem = str(path), problem
        super().__init__(f"{path}: {problem}")


def allow_fairseq_checkpoint_globals() -> None:
    torch.serialization.add_safe_globals(ALLOWED_GLOBALS)


def file_problem(path: PathLike, error: BaseException) -> Optional[str]:
    """What is wrong with checkpoint ``path`` when loading it raised ``error``; None when
    the file looks sound (the error then has another cause and should propagate)."""
    if isinstance(error, pickle.UnpicklingError):
        found = _REFUSED_GLOBAL.search(str(error))
        what = f"the global {found.group(1)}" if found else "an object"
        return (
            f"refused to load: it holds {what}, which is not on the allow-list of plain checkpoint "
            "contents (a tampered or foreign file?); nothing from it was run"
        )
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError:
        return None  # missing or unreadable: the caller's own error already says so
    if size == 0:
        return "empty file, not a checkpoint"
    if head != ZIP_MAGIC:
        return f"not a torch checkpoint: truncated, corrupt or some other format ({type(error).__name__})"
    try:
        with zipfile.ZipFile(path) as zf:
            zf.infolist()
    except zipfile.BadZipFile:
        return "truncated or corrupt checkpoint (its zip directory is missing or damaged: written or copied incompletely?)"
    return None


def load_checkpoint_file(path: PathLike) -> Dict[str, Any]:
    """A checkpoint's state on CPU, weights-only (memory-mapped when possible);
    ``CheckpointFileError`` when the file itself is the problem."""
    try:
        with open(path, "rb") as f:
            zipped = f.read(4) == ZIP_MAGIC
        return torch.load(path, map_location="cpu", mmap=zipped, weights_only=True)
    except Exception as e:
        problem = file_problem(path, e)
        if problem is None:
            raise
        raise CheckpointFileError(path, problem) from None


def _guard_loading(load: Callable) -> Callable:
    @functools.wraps(load)
    def load_checkpoint_to_cpu(path, *args, **kwargs):
        try:
            return load(path, *args, **kwargs)
        except CheckpointFileError:
            raise
        except Exception as e:
            problem = file_problem(path, e)
            if problem is None:
                raise
            raise CheckpointFileError(path, problem) from None

    load_checkpoint_to_cpu.mu2slam_guarded = True
    return load_checkpoint_to_cpu


def _is_local(path: str) -> bool:
    return "://" not in str(path)


def _copy_atomically(copy: Callable) -> Callable:
    @functools.wraps(copy)
    def copy_file(src_path: str, dst_path: str, overwrite: bool = False) -> bool:
        if not (_is_local(src_path) and _is_local(dst_path)) or (
            not overwrite and os.path.exists(dst_path)
        ):
            return copy(src_path, dst_path, overwrite)
        atomic.copy_file(src_path, dst_path, temp_name=f"{os.path.basename(dst_path)}.tmp")
        return True

    copy_file.mu2slam_guarded = True
    return copy_file


def install_checkpoint_safety() -> None:
    """All three guards of the module doc; calling it again changes nothing."""
    allow_fairseq_checkpoint_globals()
    from fairseq import checkpoint_utils
    from fairseq.file_io import PathManager

    if not getattr(checkpoint_utils.load_checkpoint_to_cpu, "mu2slam_guarded", False):
        checkpoint_utils.load_checkpoint_to_cpu = _guard_loading(
            checkpoint_utils.load_checkpoint_to_cpu
        )
    if not getattr(PathManager.copy, "mu2slam_guarded", False):
        PathManager.copy = staticmethod(_copy_atomically(PathManager.copy))
