"""What ffprobe says about a video's first stream; imported by tests as ``ffprobe`` (pytest puts
this folder on sys.path for tests/conftest.py). Tests that need it skip when ffprobe is absent."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest


def probe_stream(path: Path) -> dict:
    """``codec_name``, ``pix_fmt``, ``width``, ``height`` and ``nb_read_frames`` (decoded and
    counted) of ``path``'s first video stream, as ffprobe reports them."""
    if shutil.which("ffprobe") is None:
        pytest.skip("ffprobe is not installed (apt-get install ffmpeg)")
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-count_frames",
                          "-show_entries", "stream=codec_name,pix_fmt,width,height,nb_read_frames",
                          "-of", "json", str(path)], capture_output=True, text=True, timeout=60,
                         check=True)
    return json.loads(out.stdout)["streams"][0]


def faststart(path: Path) -> bool:
    """True when the MP4's ``moov`` atom comes before its ``mdat`` (plays before it is all loaded)."""
    data = path.read_bytes()
    return 0 <= data.find(b"moov") < data.find(b"mdat")
