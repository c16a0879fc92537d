"""A clip's recording follows the frame stream without reading any frame twice."""

import cv2
import numpy as np
import pytest

from common.keys import KEYS
from tracking.recording import Recording


def test_frames_read_ahead_are_kept_not_read_again(redis_client, tmp_path):
    jpeg = cv2.imencode(".jpg", np.full((48, 64, 3), 128, np.uint8))[1].tobytes()
    for i in range(30):  # 10 fps from t=100
        redis_client.xadd(KEYS.frames("cam"), {"ts": 100 + i / 10, "jpeg": jpeg},
                          id=f"{100_000 + i * 100}-0")
    recording = Recording(redis_client, KEYS, "cam", tmp_path / "clip.mp4", 100.0, 1.0,
                          "ultrafast")
    reads = []
    xrange = redis_client.xrange
    redis_client.xrange = lambda *a, **kw: reads.append(a) or xrange(*a, **kw)
    for _ in range(5):  # tracked up to 101.5: frames up to 100.5 are in, the rest wait
        assert not recording.follow(101.5)
    assert len(reads) == 1 and recording.last_ts == 100.5
    recording.until = 102.9
    assert recording.follow(103.0)  # the rest: the 14 frames kept, then the 10 after them
    assert len(reads) == 3 and recording.last_ts == 102.9
    assert recording.finish() == pytest.approx(2.9) and (tmp_path / "clip.mp4").stat().st_size > 0
