"""A live camera stays live when detection falls behind: frames older than its ``max_lag_s`` are
skipped to the newest (published with the newest objects carried, counted), a file's frames are
all detected, and ``cctv status`` shows the lag and the share of frames detection keeps up with."""

from __future__ import annotations

import time
from typing import NamedTuple

import cv2
import numpy as np
import pytest
from running import run_until

from common.cameras import CameraConfig
from common.counts import FRAMES_SKIPPED
from common.keys import KEYS
from common.messages import DetectionMessage, FrameMessage
from ingest.publisher import ensure_group
from runtime.camera_list import store_camera
from runtime.status import camera_status
from workers.service import Worker
from workers.settings import WorkerSettings

OLD, STALE_AGE_S = 12, 5.0


class Box(NamedTuple):
    label: str
    class_id: int
    score: float
    box: tuple[float, float, float, float]


class CountingDetector:
    """One person per frame; counts the frames it was asked to look at (not the warm-up's)."""

    def __init__(self):
        self.frames = 0

    def detect(self, frames):
        self.frames += sum(1 for image in frames if image.any())
        return [[Box("person", 1, 0.9, (1.0, 2.0, 30.0, 40.0))] for _ in frames]


def add_frames(client, camera: str) -> list[str]:
    """``OLD`` frames captured ``STALE_AGE_S`` ago, then one captured now; their entry ids."""
    ensure_group(client, KEYS, camera)
    jpeg = cv2.imencode(".jpg", np.full((48, 64, 3), 128, np.uint8))[1].tobytes()
    now = time.time()
    stamps = [now - STALE_AGE_S + i * 0.04 for i in range(OLD)] + [now]
    return [client.xadd(KEYS.frames(camera), FrameMessage(camera, seq, ts, 64, 48, jpeg)
                        .to_fields()).decode() for seq, ts in enumerate(stamps)]


def run_worker(client, url, camera: str) -> tuple[CountingDetector, dict[str, DetectionMessage]]:
    detector = CountingDetector()
    worker = Worker(client, WorkerSettings(redis_url=url, batch_size=4), detector)
    run_until(worker, lambda: int(client.hget(KEYS.stats(camera), "frames_processed") or 0)
              == OLD + 1)
    return detector, {DetectionMessage.from_fields(f).frame_id: DetectionMessage.from_fields(f)
                      for _, f in client.xrange(KEYS.detections(camera))}


@pytest.mark.parametrize("url, realtime", [("rtsp://cam.local/stream", False),
                                           ("/videos/door.mp4", True)])
def test_stale_frames_of_a_live_camera_are_skipped_to_the_newest(redis_client, redis_url, url,
                                                                 realtime):
    store_camera(redis_client, KEYS, CameraConfig(name="door", url=url, realtime=realtime))
    ids = add_frames(redis_client, "door")
    detector, published = run_worker(redis_client, redis_url, "door")
    assert sorted(published) == sorted(ids)  # every frame published, once
    assert detector.frames < OLD  # at most the first batch read before the lag was known
    newest = published[ids[-1]]
    assert not newest.carried and newest.objects
    skipped = int(redis_client.hget(KEYS.stats("door"), FRAMES_SKIPPED))
    assert skipped == sum(m.carried for m in published.values()) == OLD + 1 - detector.frames
    assert all(m.objects == newest.objects for m in published.values() if m.carried)
    status = camera_status(redis_client, KEYS, "door", True, None)
    assert status.frames_skipped == skipped
    assert status.lag_s is not None and 0 <= status.lag_s < STALE_AGE_S + 30
    assert status.detected_ratio == pytest.approx(1 - skipped / (OLD + 1), abs=0.001)
    assert status.detected_ratio < 0.9
    assert {"lag_s", "detected_ratio", "frames_skipped"} <= set(status.to_dict())


def test_a_file_keeps_every_frame_detected(redis_client, redis_url):
    store_camera(redis_client, KEYS, CameraConfig(name="file", url="/videos/door.mp4"))
    ids = add_frames(redis_client, "file")
    detector, published = run_worker(redis_client, redis_url, "file")
    assert sorted(published) == sorted(ids)
    assert detector.frames == OLD + 1 and not any(m.carried for m in published.values())
    assert redis_client.hget(KEYS.stats("file"), FRAMES_SKIPPED) is None
    status = camera_status(redis_client, KEYS, "file", True, None)
    assert status.frames_skipped == 0 and status.detected_ratio == 1.0
    assert status.lag_s is not None and status.lag_s >= STALE_AGE_S - 1  # its old frames


def test_max_lag_s_applies_to_live_and_realtime_cameras_only():
    assert CameraConfig(name="a", url="rtsp://h/s").lag_limit_s == 1.0
    assert CameraConfig(name="a", url="0", max_lag_s=3).lag_limit_s == 3
    assert CameraConfig(name="a", url="v.mp4", realtime=True).lag_limit_s == 1.0
    assert CameraConfig(name="a", url="v.mp4").lag_limit_s is None
    for bad in (0.05, 61):
        with pytest.raises(ValueError):
            CameraConfig(name="a", url="rtsp://h/s", max_lag_s=bad)
