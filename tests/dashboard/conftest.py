"""A real Redis filled by a real short pipeline run (the sample video, the real detector)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import cv2
import pytest
import redis

from common.cameras import store_camera
from common.keys import KEYS
from common.redis_conn import EmbeddedRedis
from common.settings import CameraConfig, IngestSettings, WorkerSettings
from ingest.camera import CameraRunner

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


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory, sample_video) -> dict:
    """An own redis-server holding camera ``bikes`` after ingest and a worker processed every
    frame of :data:`CLIP`; yields ``{"url", "client", "frames"}``, then stops the server."""
    from detector import load_detector
    from workers.service import Worker

    folder = tmp_path_factory.mktemp("dashboard-redis")
    server = EmbeddedRedis(folder, unix_socket=folder / "redis.sock")
    server.start()
    client = redis.Redis.from_url(server.url)
    clip = write_clip(sample_video, folder / "bikes-clip.mp4", CLIP)
    camera = CameraConfig(name="bikes", url=str(clip))
    store_camera(client, KEYS, camera)
    ingest = IngestSettings(redis_url=server.url, stream_maxlen=1000)
    runner = CameraRunner(client, KEYS, camera, camera.url, ingest, threading.Event(), "file")
    assert runner.run() == "finished"
    frames = client.xlen(KEYS.frames("bikes"))
    worker = Worker(client, WorkerSettings(redis_url=server.url, batch_size=8),
                    load_detector("ssdlite-person", num_threads=1))
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,))
    thread.start()
    deadline = time.monotonic() + 120
    while (int(client.hget(KEYS.stats("bikes"), "frames_processed") or 0) < frames
           and time.monotonic() < deadline):
        time.sleep(0.1)
    stop.set()
    thread.join(30)
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
