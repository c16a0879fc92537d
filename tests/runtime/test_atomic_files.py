"""runtime.files: a file replaced whole or not at all, no temporary file left behind."""

from __future__ import annotations

import stat

import pytest

from runtime.files import FILE_MODE, atomic_write, replacing, sibling_temp


def test_atomic_write_replaces_the_file_and_leaves_nothing_else(tmp_path):
    path = tmp_path / "snap" / "a.jpg"
    atomic_write(path, b"old")
    atomic_write(path, b"new")
    assert path.read_bytes() == b"new"
    assert stat.S_IMODE(path.stat().st_mode) == FILE_MODE
    assert [p.name for p in path.parent.iterdir()] == ["a.jpg"]


def test_a_failed_write_keeps_the_old_file_and_removes_the_temporary_one(tmp_path):
    path = tmp_path / "clip.mp4"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with replacing(path) as partial:
            partial.write_bytes(b"half")
            raise RuntimeError("encoder failed")
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]


def test_the_temporary_file_is_hidden_beside_its_target_with_its_suffix(tmp_path):
    partial = sibling_temp(tmp_path / "clip.mp4")
    assert partial.parent == tmp_path and partial.name.startswith(".clip.")
    assert partial.name.endswith(".partial.mp4") and partial.stat().st_size == 0
