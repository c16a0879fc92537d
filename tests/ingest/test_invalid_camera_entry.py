"""An invalid entry in the camera list costs its own camera alone: ingest starts every other
camera, a running camera whose entry turns invalid goes on as it was, and each invalid entry is
logged once (not once per poll)."""

import logging
import threading
import time

from common.cameras import CameraConfig
from common.keys import KEYS
from ingest.service import IngestService
from ingest.settings import IngestSettings
from runtime.camera_list import store_camera


def wait_for(predicate, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.05)
    return predicate()


def test_an_invalid_entry_costs_its_camera_alone(redis_client, redis_url, small_video, caplog):
    caplog.set_level(logging.ERROR, logger="cctv.ingest")
    redis_client.hset(KEYS.cameras, "bad", '{"name": "bad", "url": "x.mp4", "fps": "fast"}')
    store_camera(redis_client, KEYS, CameraConfig(name="good", url=str(small_video), loop=True,
                                                  realtime=True))
    service = IngestService(redis_client, IngestSettings(redis_url=redis_url, camera_poll_s=0.05))
    stop = threading.Event()
    thread = threading.Thread(target=service.run, args=(stop,))
    thread.start()
    try:
        assert wait_for(lambda: redis_client.xlen(KEYS.frames("good")) > 0)
        running = service.running["good"]
        redis_client.hset(KEYS.cameras, "good", "[" * 100)
        assert wait_for(lambda: len(caplog.records) == 2)
        time.sleep(0.5)  # ten polls more
        assert service.running.get("good") is running and running.thread.is_alive()
    finally:
        stop.set()
        thread.join(30)
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2, messages
    assert "cctv:cameras[bad]: fps" in messages[0] and "cctv:cameras[good]" in messages[1]
