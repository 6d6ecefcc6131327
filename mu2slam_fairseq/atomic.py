"""Whole-or-nothing file writes, the one way every file of the project is replaced.

A write goes to a temporary file in the target's folder (so the rename cannot cross file
systems), which is flushed and fsynced, renamed over the target, and then the folder is
fsynced so that the rename itself survives a power cut. A reader sees the previous file or
the new one, never half of one. When the writing code raises, or the process is stopped by
an exception such as ``KeyboardInterrupt``, the temporary file is removed and the target is
left as it was.

Temporary files are named ``.NAME.XXXXXXXX.tmp`` (unique, so that two writers of one
target cannot mix their bytes) unless the caller gives ``temp_name``: a fixed name is
truncated and reused, so that a write killed outright (SIGKILL, power loss) leaves at most
one stale temporary file, overwritten by the next write. That suits large files with one
writer at a time (checkpoints, feature archives).
"""

import os
import shutil
import tempfile
from pathlib import Path
from typing import IO, Optional, Type, Union

PathLike = Union[str, os.PathLike]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def fsync_folder(folder: PathLike) -> None:
    """Make a rename in ``folder`` durable (a no-op where folders cannot be opened or synced)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems refuse fsync on a folder; the rename has happened regardless
    finally:
        os.close(fd)


class AtomicFile:
    """A temporary file that replaces ``path`` on ``commit`` and vanishes on ``discard``.

    As a context manager it yields the open file, commits when the block ends normally and
    discards when it raises. ``mode`` is one of the writing modes (``"wb"``, ``"w+b"``,
    ``"w"``, ``"w+"``); text modes default to UTF-8. The file gets the permissions a plain
    ``open`` would give it (``mkstemp``'s 0600 would hide it from other users).
    """

    def __init__(
        self,
        path: PathLike,
        mode: str = "wb",
        *,
        encoding: Optional[str] = None,
        newline: Optional[str] = None,
        temp_name: Optional[str] = None,
    ):
        if not mode.startswith("w"):
            raise ValueError(f"AtomicFile writes a new file; mode {mode!r} does not start with 'w'")
        if "b" not in mode and encoding is None:
            encoding = "utf-8"
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if temp_name is None:
            fd, tmp = tempfile.mkstemp(
                dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp"
            )
            self.temp = Path(tmp)
            try:
                os.fchmod(fd, 0o666 & ~_umask())
                self.file: IO = os.fdopen(fd, mode, encoding=encoding, newline=newline)
            except BaseException:
                os.close(fd)
                self.temp.unlink(missing_ok=True)
                raise
        else:
            if os.sep in temp_name or temp_name in (self.path.name, ".", ".."):
                raise ValueError(
                    f"temp_name must be another plain file name in the target's folder, not {temp_name!r}"
                )
            self.temp = self.path.parent / temp_name
            self.file = open(self.temp, mode, encoding=encoding, newline=newline)
        self.done = False

    def commit(self) -> None:
        """Flush and fsync the temporary file, rename it over the target, fsync the folder."""
        if self.done:
            raise ValueError(f"{self.path}: this write was already committed or discarded")
        try:
            self.file.flush()
            os.fsync(self.file.fileno())
            self.file.close()
            os.replace(self.temp, self.path)
        except BaseException:
            self.discard()
            raise
        self.done = True
        fsync_folder(self.path.parent)

    def discard(self) -> None:
        """Close and remove the temporary file; the target stays as it was."""
        if self.done:
            return
        self.done = True
        try:
            self.file.close()
        finally:
            self.temp.unlink(missing_ok=True)

    def __enter__(self) -> IO:
        return self.file

    def __exit__(self, exc_type: Optional[Type[BaseException]], exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.discard()


def atomic_write(
    path: PathLike,
    mode: str = "wb",
    *,
    encoding: Optional[str] = None,
    newline: Optional[str] = None,
    temp_name: Optional[str] = None,
) -> AtomicFile:
    """``with atomic_write(path) as f: ...``: the file ``f`` replaces ``path`` when the block
    ends normally; if it raises, ``path`` is untouched and no temporary file stays behind."""
    return AtomicFile(path, mode, encoding=encoding, newline=newline, temp_name=temp_name)


def write_bytes(path: PathLike, data: bytes) -> None:
    """Replace ``path`` with ``data``, whole or not at all."""
    with atomic_write(path, "wb") as f:
        f.write(data)


def write_text(path: PathLike, text: str, encoding: str = "utf-8") -> None:
    """Replace ``path`` with ``text``, whole or not at all (newlines written as given)."""
    with atomic_write(path, "w", encoding=encoding, newline="") as f:
        f.write(text)


def copy_file(src: PathLike, dst: PathLike, temp_name: Optional[str] = None) -> None:
    """Replace ``dst`` with a copy of ``src``, whole or not at all."""
    with atomic_write(dst, "wb", temp_name=temp_name) as f, open(src, "rb") as source:
        shutil.copyfileobj(source, f, 1 << 20)
