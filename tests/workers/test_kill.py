"""Two worker processes, one SIGKILLed mid-run: zero frames lost, none published twice."""

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from common.cameras import CameraConfig
from common.keys import GROUP, KEYS
from common.messages import DetectionMessage
from ingest.camera import CameraRunner
from ingest.settings import IngestSettings

pytestmark = pytest.mark.slow


def start_worker(redis_url, name):
    env = dict(os.environ, REDIS_URL=redis_url, CCTV_TORCH_THREADS="1")
    return subprocess.Popen([sys.executable, "-m", "cctv", "worker", "--worker-id", name,
                             "--batch-size", "4", "--claim-idle-ms", "1000", "--num-threads", "1"],
                            env=env, stdin=subprocess.DEVNULL)


@pytest.mark.timeout(240)
def test_sigkill_loses_nothing_and_duplicates_nothing(redis_client, redis_url, sample_video):
    settings = IngestSettings(redis_url=redis_url, stream_maxlen=1000)
    cam = CameraConfig(name="cam", url=str(sample_video), fps=10, max_width=320)
    runner = CameraRunner(redis_client, KEYS, cam, cam.url, settings, threading.Event(), "file")
    assert runner.run() == "finished"
    ids = [e[0].decode() for e in redis_client.xrange(KEYS.frames("cam"))]
    assert len(ids) == 100
    victim, survivor = start_worker(redis_url, "victim"), start_worker(redis_url, "survivor")
    try:
        def pending_on_victim():
            info = redis_client.xpending(KEYS.frames("cam"), GROUP)
            return any(c["name"] == b"victim" and c["pending"] for c in info["consumers"])

        deadline = time.monotonic() + 90
        while not pending_on_victim() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert pending_on_victim(), "victim never took frames"
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and int(
                redis_client.hget(KEYS.stats("cam"), "frames_processed") or 0) < 100:
            time.sleep(0.2)
    finally:
        for proc in (victim, survivor):
            proc.kill()
            proc.wait(10)
    published = [DetectionMessage.from_fields(f).frame_id
                 for _, f in redis_client.xrange(KEYS.detections("cam"))]
    assert sorted(published) == sorted(ids)  # every frame once, none twice
    assert int(redis_client.hget(KEYS.stats("cam"), "frames_processed")) == 100
    assert redis_client.xpending(KEYS.frames("cam"), GROUP)["pending"] == 0
