"""media.files: partial files published under their name or a numbered one, never over a file."""

from __future__ import annotations

import pytest

from media.files import PendingFiles, numbered, publish


def test_numbered_names(tmp_path):
    assert numbered(tmp_path / "a.mp4", 0) == tmp_path / "a.mp4"
    assert numbered(tmp_path / "a.mp4", 2) == tmp_path / "a-2.mp4"


def test_publish_takes_the_first_free_number_and_removes_the_partial(tmp_path):
    (tmp_path / "a.mp4").write_text("old")
    (tmp_path / "a-1.mp4").write_text("old")
    partial = tmp_path / ".a.partial.mp4"
    partial.write_text("new")
    assert publish([(partial, tmp_path / "a.mp4")]) == [tmp_path / "a-2.mp4"]
    assert (tmp_path / "a.mp4").read_text() == "old" and (tmp_path / "a-2.mp4").read_text() == "new"
    assert not partial.exists()


def test_files_published_together_share_a_number(tmp_path):
    (tmp_path / "cam.csv").write_text("old")  # only one of the three names is taken
    with PendingFiles(tmp_path) as files:
        for name in ("cam.mp4", "cam.csv", "cam.json"):
            files.reserve(name).write_text(name)
        done = files.commit(together=True)
    assert [p.name for p in done] == ["cam-1.mp4", "cam-1.csv", "cam-1.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "cam-1.csv", "cam-1.json", "cam-1.mp4", "cam.csv"]


def test_commit_numbers_each_file_on_its_own_by_default(tmp_path):
    (tmp_path / "a.jpg").write_text("old")
    with PendingFiles(tmp_path) as files:
        files.reserve("a.jpg").write_text("new")
        files.reserve("b.mp4").write_text("new")
        assert [p.name for p in files.commit()] == ["a-1.jpg", "b.mp4"]


def test_a_failure_leaves_no_file_under_a_final_name(tmp_path):
    with pytest.raises(RuntimeError), PendingFiles(tmp_path / "out") as files:
        partial = files.reserve("clip.mp4")
        assert partial.parent == tmp_path / "out" and partial.name.startswith(".clip.")
        partial.write_text("half")
        raise RuntimeError("encoder died")
    assert list((tmp_path / "out").iterdir()) == []
