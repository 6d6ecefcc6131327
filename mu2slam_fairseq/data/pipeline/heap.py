"""Handing freed heap memory back to the system after a large set-up.

Building a big corpus's arrays and an epoch's batches allocates and frees many large
temporary NumPy arrays; glibc keeps much of what is freed in its heap (its mmap
threshold rises after the first large frees), so every training process would hold that
set-up peak for the whole run. ``release_freed_memory`` asks glibc to return it; on other
C libraries it does nothing.
"""

import ctypes
import ctypes.util
from typing import Optional

_libc: Optional[ctypes.CDLL] = None


def release_freed_memory() -> None:
    """``malloc_trim(0)`` where the C library has it."""
    global _libc
    try:
        if _libc is None:
            _libc = ctypes.CDLL(ctypes.util.find_library("c"))
        _libc.malloc_trim(0)
    except (OSError, AttributeError, TypeError):
        pass
