"""Motion gating end to end: a still scene with one mover through ingest and a worker, with
gating and without. The mover is detected in every frame it moves in, the still frames skip the
detector, and every frame's objects and the counts equal those of the run without gating."""

from __future__ import annotations

import threading
from typing import NamedTuple

import numpy as np
from prometheus_client import REGISTRY
from running import run_until
from still_scene import still_scene

from common.cameras import CameraConfig, MotionConfig
from common.keys import KEYS
from common.messages import DetectionMessage
from ingest.camera import CameraRunner, read_state
from ingest.settings import IngestSettings
from media.video import VideoWriter
from workers.service import Worker
from workers.settings import WorkerSettings

FRAMES, MOVER = 50, range(20, 30)


class Box(NamedTuple):
    label: str
    class_id: int
    score: float
    box: tuple[float, float, float, float]


class BrightBoxDetector:
    """Finds the bright mover; counts the frames it was asked to look at (not the warm-up's
    blank ones)."""

    def __init__(self):
        self.frames = 0

    def detect(self, frames):
        self.frames += sum(1 for image in frames if image.any())
        out = []
        for image in frames:
            ys, xs = np.nonzero(image.min(axis=2) > 200)
            out.append([Box("person", 1, 0.9, (float(xs.min()), float(ys.min()),
                                               float(xs.max()), float(ys.max())))]
                       if len(xs) > 50 else [])
        return out


def run(client, url, video, camera, motion) -> tuple[dict[int, DetectionMessage], int, dict]:
    settings = IngestSettings(redis_url=url, stream_maxlen=1000)
    cam = CameraConfig(name=camera, url=str(video), motion=motion)
    assert CameraRunner(client, KEYS, cam, str(video), settings, threading.Event()).run() \
        == "finished"
    detector = BrightBoxDetector()
    worker = Worker(client, WorkerSettings(redis_url=url, batch_size=4), detector)
    run_until(worker, lambda: int(client.hget(KEYS.stats(camera), "frames_processed") or 0)
              == FRAMES)
    messages = {m.seq: m for m in (DetectionMessage.from_fields(f)
                                   for _, f in client.xrange(KEYS.detections(camera)))}
    return messages, detector.frames, client.hgetall(KEYS.stats(camera))


def test_still_frames_skip_the_detector_and_counts_stay(redis_client, redis_url, tmp_path):
    video = tmp_path / "street.mp4"
    with VideoWriter(video, 10) as writer:
        for image in still_scene(FRAMES, MOVER):
            writer.write(image)
    full, full_calls, full_stats = run(redis_client, redis_url, video, "full",
                                       MotionConfig(enabled=False))
    gated, gated_calls, gated_stats = run(redis_client, redis_url, video, "gated",
                                          MotionConfig(enabled=True, keepalive_s=2.0))
    assert full_calls == FRAMES and not any(m.carried for m in full.values())
    assert gated_calls <= FRAMES * 0.35  # the mover's 10 frames and its exit, keepalives
    moving = [seq for seq in MOVER if full[seq].objects]
    assert len(moving) >= 9
    assert not any(gated[seq].carried for seq in moving)  # detected in every frame it moves in
    carried = sum(m.carried for m in gated.values())
    assert carried >= FRAMES - gated_calls
    assert REGISTRY.get_sample_value("cctv_frames_carried_total", {"camera": "gated"}) == carried
    gated_state = read_state(redis_client, KEYS, "gated")  # what cctv status shows
    assert gated_state.frames_still == carried and gated_state.frames_motion >= len(moving)
    assert read_state(redis_client, KEYS, "full").frames_motion == 0
    for seq in range(FRAMES):
        assert gated[seq].objects == full[seq].objects, seq
    assert gated_stats == full_stats  # the workers' counts: frames processed, detections
