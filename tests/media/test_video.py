"""media.video: H.264 yuv420p +faststart MP4 from BGR frames, and reading a file back."""

from __future__ import annotations

import numpy as np
import pytest

from ffprobe import faststart, probe_stream
from media.video import VideoError, VideoWriter, probe, read_frames


def frames(count: int, width: int, height: int) -> list[np.ndarray]:
    out = []
    for i in range(count):
        image = np.full((height, width, 3), 30, np.uint8)
        image[:, : (i * 7) % width] = (0, 180, 255)
        out.append(image)
    return out


@pytest.mark.parametrize("width,height", [(160, 120), (161, 121)])
def test_writes_h264_yuv420p_faststart(tmp_path, width, height):
    path = tmp_path / "v.mp4"
    with VideoWriter(path, 12.5) as writer:
        for image in frames(15, width, height):
            writer.write(image)
    stream = probe_stream(path)
    assert (stream["codec_name"], stream["pix_fmt"]) == ("h264", "yuv420p")
    assert int(stream["nb_read_frames"]) == 15 and faststart(path)
    assert (stream["width"], stream["height"]) == (width + width % 2, height + height % 2)
    info = probe(path)
    assert (info.codec, info.frames, info.packets, info.fps) == ("h264", 15, 15, 12.5)
    decoded = list(read_frames(path))
    assert len(decoded) == 15 and decoded[0].shape == (height + height % 2, width + width % 2, 3)
    assert abs(int(decoded[10][60, 50, 2]) - 255) < 30  # the orange bar survives encoding


def test_frames_must_keep_their_size(tmp_path):
    with pytest.raises(VideoError, match="frame 1 is 80x60"), VideoWriter(tmp_path / "v.mp4", 25) as writer:
        writer.write(frames(1, 160, 120)[0])
        writer.write(frames(1, 80, 60)[0])


def test_not_a_video_and_a_cut_short_one(tmp_path):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all" * 100)
    with pytest.raises(VideoError, match="not a readable video"):
        probe(junk)
    whole = tmp_path / "whole.mp4"
    with VideoWriter(whole, 25) as writer:
        for image in frames(20, 160, 120):
            writer.write(image)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size * 2 // 3])
    info = probe(cut)
    assert info.frames == 20 and info.packets < 20
