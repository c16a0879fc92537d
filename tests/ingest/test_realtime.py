"""A file played in real time publishes at its own pace like a live camera: it never waits for
detection (no worker here), where a file read as fast as workers keep up would."""

from __future__ import annotations

import threading

from common.cameras import CameraConfig
from common.keys import KEYS
from ingest.camera import CameraRunner, read_state
from ingest.settings import IngestSettings


def test_a_realtime_file_never_waits_for_workers(redis_client, redis_url, small_video):
    settings = IngestSettings(redis_url=redis_url, stream_maxlen=10)
    cam = CameraConfig(name="loop", url=str(small_video), realtime=True)
    runner = CameraRunner(redis_client, KEYS, cam, str(small_video), settings,
                          threading.Event(), "file")
    result: list[str] = []
    thread = threading.Thread(target=lambda: result.append(runner.run()), daemon=True)
    thread.start()
    thread.join(60)  # 40 frames at 20 fps: 2 s of video
    assert result == ["finished"], "ingest waited for a worker"
    assert read_state(redis_client, KEYS, "loop").frames_in == 40
