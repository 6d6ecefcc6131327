"""The one whole-or-nothing write: content, failure, durability, permissions, temporary names."""

import os
import stat

import pytest

from mu2slam_fairseq import atomic
from mu2slam_fairseq.data.io.manifest import atomic_write_text


def names(folder):
    return sorted(p.name for p in folder.iterdir())


def test_text_and_bytes_are_written_exactly(tmp_path):
    atomic.write_text(tmp_path / "a.txt", "é\tx\r\ny\n")
    atomic.write_bytes(tmp_path / "b.bin", b"\x00\xff\r\n")
    atomic_write_text(tmp_path / "sub" / "c.txt", "made its folder\n")
    assert (tmp_path / "a.txt").read_bytes() == "é\tx\r\ny\n".encode(
        "utf-8"
    )  # no newline translation
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\xff\r\n"
    assert (tmp_path / "sub" / "c.txt").read_text() == "made its folder\n"
    assert names(tmp_path) == ["a.txt", "b.bin", "sub"]
    assert atomic_write_text is atomic.write_text


def test_overwrite_replaces_the_whole_file(tmp_path):
    path = tmp_path / "f.txt"
    atomic.write_text(path, "a much longer first version\n")
    atomic.write_text(path, "short\n")
    assert path.read_text() == "short\n"
    assert names(tmp_path) == ["f.txt"]


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
@pytest.mark.parametrize("temp_name", [None, "f.txt.tmp"])
def test_an_error_inside_leaves_the_previous_file_and_no_temporary_file(tmp_path, error, temp_name):
    path = tmp_path / "f.txt"
    path.write_text("previous\n")
    with pytest.raises(error):
        with atomic.atomic_write(path, "w", temp_name=temp_name) as f:
            f.write("half of the new ")
            f.flush()
            assert len(names(tmp_path)) == 2  # the new content is in a temporary file beside it
            raise error()
    assert path.read_text() == "previous\n"
    assert names(tmp_path) == ["f.txt"]


def test_a_failed_rename_removes_the_temporary_file(tmp_path, monkeypatch):
    path = tmp_path / "f.txt"
    path.write_text("previous\n")

    def refuse(src, dst):
        raise OSError("rename refused")

    monkeypatch.setattr(atomic.os, "replace", refuse)
    with pytest.raises(OSError, match="rename refused"):
        atomic.write_text(path, "new\n")
    assert path.read_text() == "previous\n"
    assert names(tmp_path) == ["f.txt"]


def test_file_and_folder_are_fsynced_before_and_after_the_rename(tmp_path, monkeypatch):
    path = tmp_path / "f.bin"
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        mode = os.fstat(fd).st_mode
        events.append(("fsync", "folder" if stat.S_ISDIR(mode) else "file"))
        real_fsync(fd)

    def replace(src, dst):
        events.append(("replace", os.path.basename(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(atomic.os, "fsync", fsync)
    monkeypatch.setattr(atomic.os, "replace", replace)
    atomic.write_bytes(path, b"data")
    assert events == [("fsync", "file"), ("replace", "f.bin"), ("fsync", "folder")]


def test_the_file_gets_the_permissions_of_a_plain_open(tmp_path):
    old = os.umask(0o027)
    try:
        atomic.write_bytes(tmp_path / "f.bin", b"x")
        with atomic.atomic_write(tmp_path / "g.bin", temp_name="g.tmp") as f:
            f.write(b"y")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "f.bin").stat().st_mode) == 0o640
    assert stat.S_IMODE((tmp_path / "g.bin").stat().st_mode) == 0o640


def test_a_fixed_temporary_name_overwrites_what_a_killed_write_left(tmp_path):
    (tmp_path / ".big.tmp").write_bytes(b"stale bytes of a write that was killed" * 100)
    atomic.copy_file(tmp_path / ".big.tmp", tmp_path / "source")  # any source will do
    (tmp_path / "source").write_bytes(b"fresh")
    atomic.copy_file(tmp_path / "source", tmp_path / "big", temp_name=".big.tmp")
    assert (tmp_path / "big").read_bytes() == b"fresh"
    assert names(tmp_path) == ["big", "source"]


def test_commit_and_discard_by_hand(tmp_path):
    kept = atomic.AtomicFile(tmp_path / "kept.txt", "w")
    dropped = atomic.AtomicFile(tmp_path / "dropped.txt", "w")
    kept.file.write("kept\n")
    dropped.file.write("dropped\n")
    kept.commit()
    dropped.discard()
    dropped.discard()  # a second discard changes nothing
    assert names(tmp_path) == ["kept.txt"]
    assert (tmp_path / "kept.txt").read_text() == "kept\n"
    with pytest.raises(ValueError, match="already committed"):
        kept.commit()


@pytest.mark.parametrize(
    "bad", [{"mode": "a"}, {"mode": "r+b"}, {"temp_name": "t.txt"}, {"temp_name": "x/y"}]
)
def test_refuses_modes_that_keep_old_content_and_temporary_names_elsewhere(tmp_path, bad):
    with pytest.raises(ValueError):
        atomic.AtomicFile(tmp_path / "t.txt", **bad)
    assert names(tmp_path) == []
