"""A live source read by a slow consumer: the newest kept frame wins, the others are counted."""

import time

import numpy as np

from ingest.latest import LatestFrames
from ingest.sources import Frame


def test_newest_frame_wins_and_replaced_ones_are_counted():
    def frames():
        for i in range(60):
            time.sleep(0.002)
            yield Frame(np.zeros((2, 2, 3), np.uint8), float(i), i)

    read = []
    latest = LatestFrames(frames(), keep=lambda f: f.pos_ms % 2 == 0, on_read=read.append)
    got, dropped = [], 0
    for frame in latest:
        got.append(frame.pos_ms)
        dropped += latest.take_dropped()
        time.sleep(0.02)  # slower than the source
    dropped += latest.take_dropped()
    latest.close(1)
    assert len(read) == 60  # every frame decoded
    assert got == sorted(got) and got[-1] == 58  # in order, and the newest kept one last
    assert len(got) + dropped == 30 and dropped > 0  # every kept frame published or counted
