"""A real Redis filled by a real short pipeline run (the sample video, the real detector)."""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import pytest
import redis
from running import run_until

from common.cameras import CameraConfig
from common.counting_rules import LineConfig, ZoneConfig
from common.keys import KEYS
from ingest.camera import CameraRunner
from ingest.settings import IngestSettings
from runtime.camera_list import store_camera
from runtime.redis_conn import EmbeddedRedis
from tracking.settings import TrackerSettings
from workers.settings import WorkerSettings

CLIP = range(90, 130)
"""Frames of bikes.mp4 (25 fps) to replay: pedestrians walk by from frame ~105 to the end."""


def write_clip(source: Path, target: Path, frames: range) -> Path:
    """``frames`` of ``source`` as a new MP4 (real footage, short enough for 2 cores)."""
    capture = cv2.VideoCapture(str(source))
    capture.set(cv2.CAP_PROP_POS_FRAMES, frames.start)
    writer = None
    for _ in frames:
        ok, image = capture.read()
        assert ok, f"{source} ended early"
        if writer is None:
            writer = cv2.VideoWriter(str(target), cv2.VideoWriter_fourcc(*"mp4v"), 25.0,
                                     (image.shape[1], image.shape[0]))
        writer.write(image)
    writer.release()
    capture.release()
    return target


ROAD = LineConfig(name="road", points=[(0.05, 0.85), (0.95, 0.85)])
RIGHT = ZoneConfig(name="right", points=[(0.5, 0.6), (1.0, 0.6), (1.0, 1.0), (0.5, 1.0)])


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory, sample_video) -> dict:
    """An own redis-server holding camera ``bikes`` (with a line and a zone) after ingest, a
    worker and the tracker went through every frame of :data:`CLIP`; yields ``{"url",
    "client", "frames"}``, then stops the server."""
    from detector import load_detector
    from tracking.service import Tracker
    from workers.service import Worker

    folder = tmp_path_factory.mktemp("dashboard-redis")
    server = EmbeddedRedis(folder, unix_socket=folder / "redis.sock")
    server.start()
    client = redis.Redis.from_url(server.url)
    clip = write_clip(sample_video, folder / "bikes-clip.mp4", CLIP)
    camera = CameraConfig(name="bikes", url=str(clip), lines=[ROAD], zones=[RIGHT])
    store_camera(client, KEYS, camera)
    ingest = IngestSettings(redis_url=server.url, stream_maxlen=1000)
    runner = CameraRunner(client, KEYS, camera, camera.url, ingest, threading.Event(), "file")
    assert runner.run() == "finished"
    frames = client.xlen(KEYS.frames("bikes"))
    run_until(Worker(client, WorkerSettings(redis_url=server.url, batch_size=4),
                     load_detector("ssdlite-person", num_threads=1)),
              lambda: int(client.hget(KEYS.stats("bikes"), "frames_processed") or 0) == frames,
              timeout=120)
    last = client.xrevrange(KEYS.frames("bikes"), count=1)[0][0]
    run_until(Tracker(client, TrackerSettings(redis_url=server.url, tracker_poll_s=0.05)),
              lambda: client.hget(KEYS.tracker_state("bikes"), "frame_id") == last)
    yield {"url": server.url, "client": client, "frames": frames}
    client.close()
    server.stop()


@pytest.fixture
def media_dir(tmp_path, small_video) -> Path:
    """A media folder holding one short video (what the Replay view offers)."""
    folder = tmp_path / "media"
    folder.mkdir()
    (folder / "clip.mp4").write_bytes(small_video.read_bytes())
    return folder
