"""Scaling out: several ``cctv worker`` processes share the frames of every camera through the
consumer group, each frame processed by exactly one of them (the SIGKILL case is in
tests/workers/test_kill.py; this one is about the split)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest
from running import stop_all

from common.cameras import CameraConfig
from common.keys import GROUP, KEYS
from common.messages import DetectionMessage
from ingest.camera import CameraRunner
from ingest.settings import IngestSettings

pytestmark = pytest.mark.slow

WORKERS = ("w1", "w2", "w3")
CAMERAS = ("north", "south")


def start_worker(redis_url: str, name: str) -> subprocess.Popen:
    """``cctv worker`` as another host would run it: only REDIS_URL tells it where to go."""
    env = dict(os.environ, REDIS_URL=redis_url, CCTV_HEARTBEAT_S="0.5")
    return subprocess.Popen([sys.executable, "-m", "cctv", "worker", "--worker-id", name,
                             "--batch-size", "2", "--batch-wait-ms", "10", "--num-threads", "1"],
                            env=env, stdin=subprocess.DEVNULL)


def wait_until(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.1)
    return predicate()


@pytest.mark.timeout(240)
def test_frames_split_between_workers_none_lost_none_duplicated(redis_client, redis_url,
                                                                small_video):
    procs = [start_worker(redis_url, name) for name in WORKERS]
    try:
        assert wait_until(lambda: {m.decode() for m in redis_client.smembers(KEYS.workers)}
                          == set(WORKERS), 120), "not every worker sent a heartbeat"
        settings = IngestSettings(redis_url=redis_url, stream_maxlen=1000)
        ingested = {}
        for camera in CAMERAS:
            cam = CameraConfig(name=camera, url=str(small_video))
            runner = CameraRunner(redis_client, KEYS, cam, cam.url, settings, threading.Event())
            assert runner.run() == "finished"
            ingested[camera] = [e[0].decode() for e in redis_client.xrange(KEYS.frames(camera))]
        total = sum(len(ids) for ids in ingested.values())
        assert total == 80

        def processed() -> int:
            return sum(int(redis_client.hget(KEYS.stats(c), "frames_processed") or 0)
                       for c in CAMERAS)

        assert wait_until(lambda: processed() == total, 150), f"{processed()} of {total}"
    finally:
        stop_all(procs)
    by_worker: Counter[str] = Counter()
    for camera in CAMERAS:
        messages = [DetectionMessage.from_fields(f)
                    for _, f in redis_client.xrange(KEYS.detections(camera))]
        ids = [m.frame_id for m in messages]
        assert len(ids) == len(set(ids)), f"{camera}: a frame was published twice"
        assert sorted(ids) == sorted(ingested[camera]), f"{camera}: a frame was lost"
        assert redis_client.xpending(KEYS.frames(camera), GROUP)["pending"] == 0
        by_worker.update(m.worker for m in messages)
    assert sum(by_worker.values()) == total
    assert set(by_worker) == set(WORKERS), f"not every worker got frames: {dict(by_worker)}"
    assert all(p.returncode == 0 for p in procs), "workers did not stop cleanly on SIGTERM"
