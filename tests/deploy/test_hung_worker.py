"""One of two workers hangs (SIGSTOP): a file's ingest keeps going at the other worker's speed
(backpressure counts only undelivered frames), the hung worker's frames are reclaimed after
``claim_idle_ms`` and the tracker waits for them: processed and tracked counts are complete."""

from __future__ import annotations

import signal
import threading
import time

import pytest
import redis
from running import stop_all
from test_redis_outage import FRAMES, cctv, count, wait_until, write_video

from common.cameras import CameraConfig
from common.keys import KEYS
from ingest.camera import CameraRunner
from ingest.settings import IngestSettings

pytestmark = pytest.mark.slow

MAXLEN = 20


@pytest.mark.timeout(300)
def test_a_hung_worker_holds_back_only_its_own_frames(redis_client, redis_url, tmp_path):
    video = write_video(tmp_path / "walk.mp4")
    env = {"CCTV_CLAIM_IDLE_MS": "10000", "CCTV_BATCH_SIZE": "4"}
    logs = {name: open(tmp_path / f"{name}.log", "w") for name in ("w1", "w2", "tracker")}
    procs = {name: cctv(redis_url, "worker", "--worker-id", name, stderr=logs[name], env_add=env)
             for name in ("w1", "w2")}
    procs["tracker"] = cctv(redis_url, "tracker", stderr=logs["tracker"],
                            env_add={"CCTV_REORDER_PENDING_MS": "20000"})
    stop = threading.Event()
    try:
        assert wait_until(lambda: redis_client.scard(KEYS.workers) == 2, 180)
        settings = IngestSettings(redis_url=redis_url, stream_maxlen=MAXLEN)
        runner = CameraRunner(redis.Redis.from_url(redis_url), KEYS,
                              CameraConfig(name="walk", url=str(video)), str(video), settings,
                              stop, "file")
        ingest = threading.Thread(target=runner.run)
        ingest.start()
        state = KEYS.state("walk")
        assert wait_until(lambda: count(redis_client, KEYS.stats("walk"), "frames_processed")
                          >= 40, 60)
        procs["w2"].send_signal(signal.SIGSTOP)
        before = count(redis_client, state, "frames_in")
        time.sleep(6)  # shorter than claim_idle_ms: w2's frames are not reclaimed yet
        during = count(redis_client, state, "frames_in") - before
        print(f"frames ingested in 6 s with one of two workers stopped: {during}")
        assert during >= 3 * MAXLEN or count(redis_client, state, "frames_in") == FRAMES, during
        ingest.join(120)
        assert count(redis_client, state, "frames_in") == FRAMES
        assert wait_until(lambda: count(redis_client, KEYS.stats("walk"), "frames_processed")
                          == FRAMES, 60)
        assert wait_until(lambda: count(redis_client, KEYS.track_stats("walk"),
                                        "frames_tracked") == FRAMES, 60)
        assert count(redis_client, KEYS.track_stats("walk"), "late_frames") == 0
    finally:
        stop.set()
        procs["w2"].send_signal(signal.SIGCONT)
        stop_all(procs.values())
        for log in logs.values():
            log.close()
