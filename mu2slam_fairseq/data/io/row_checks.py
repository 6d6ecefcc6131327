"""The checks of a manifest's rows, shared by the dataset readers (``rows``) and
``mu2slam-validate``, so that both judge ids, frame counts, units and audio references
the same way and in the same words.

A check returns what is wrong (None: nothing) instead of raising: a reader refuses the
manifest or skips the row on it, the validator lists it and goes on.
"""

import os
from pathlib import Path
from typing import Dict, Optional, Tuple

import numpy as np

from ...grid import grid_length
from .features import reference_problem


class RowChecks:
    """Checks the rows of one manifest, in line order (a duplicate id is one seen before).

    ``audio_root``: the folder relative audio fields are resolved against; ``n_units``:
    the dictionary's unit count, bounding unit ids (None: not bounded).
    """

    def __init__(self, audio_root: Optional[os.PathLike] = None, n_units: Optional[int] = None):
        self.audio_root, self.n_units = audio_root, n_units
        self._first_line: Dict[str, int] = {}
        self._sizes: Dict[Path, int] = {}  # file sizes: a zip is looked up once

    def duplicate_of(self, row_id: str, line: int) -> Optional[int]:
        """The line of an earlier row with this id; None for an id not seen before."""
        first = self._first_line.setdefault(row_id, line)
        return None if first == line else first

    @staticmethod
    def n_frames(field: str) -> Tuple[Optional[int], Optional[str]]:
        """The declared frame count, and the problem unless it is a positive integer (the
        count is None when the field is no integer at all)."""
        try:
            n = int(field)
        except ValueError:
            n = None
        problem = (
            None if n is not None and n > 0 else f"n_frames {field!r} is not a positive integer"
        )
        return n, problem

    def units(self, field: str, n_frames: int) -> Tuple[Optional[np.ndarray], Optional[str]]:
        """The unit ids of a ``units`` field, or why they are unusable: not integers, not one
        per 40 ms step of ``n_frames``, or beyond the dictionary's units."""
        try:
            units = np.array([int(u) for u in field.split()], dtype=np.int64)
        except ValueError:
            return None, "units must be space-separated integers"
        if len(units) != grid_length(n_frames):
            return None, (
                f"{len(units)} units for {n_frames} frames; "
                f"the 40 ms grid needs {grid_length(n_frames)}"
            )
        if (
            self.n_units is not None
            and len(units)
            and (units.min() < 0 or units.max() >= self.n_units)
        ):
            return None, f"unit ids must be in [0, {self.n_units})"
        return units, None

    def audio(self, field: str) -> Optional[str]:
        """Why the file an ``audio`` field names cannot hold its item (missing, empty,
        shorter than a zip reference), found without reading it."""
        return reference_problem(field, self.audio_root, self._sizes)
