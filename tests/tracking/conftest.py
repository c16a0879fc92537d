"""Fixtures of the tracking tests (the scene itself is in tracking_scene.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tracking_scene import write_scene_video


@pytest.fixture
def scene_video(tmp_path) -> Path:
    """The synthetic scene as an MP4 file."""
    return write_scene_video(tmp_path / "scene.mp4")
