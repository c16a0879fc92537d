"""A camera's frames key replaced by another type while ingest runs: that camera says so once
(the key named, its state ``error``) and retries with backoff; another camera goes on."""

import logging
import threading
import time

import numpy as np

from common.cameras import CameraConfig
from common.keys import KEYS
from ingest.camera import read_state
from ingest.capture import EncodedFrame
from ingest.settings import IngestSettings
from ingest.sink import CameraSink

FRAME = EncodedFrame(np.zeros((48, 64, 3), np.uint8), b"\xff\xd8" + bytes(100), 64, 48, None,
                     True)


def sink(redis_client, redis_url, name: str) -> CameraSink:
    settings = IngestSettings(redis_url=redis_url, stream_maxlen=1000)
    out = CameraSink(redis_client, KEYS, CameraConfig(name=name, url="rtsp://cam/x"), settings,
                     threading.Event(), "live")
    out.set_state("online")
    return out


def test_a_wrong_type_frames_key_is_said_once_and_rechecked(redis_client, redis_url, caplog):
    bad, good = sink(redis_client, redis_url, "bad"), sink(redis_client, redis_url, "good")
    bad.publish(FRAME, live=True, ts=time.time())
    redis_client.delete(KEYS.frames("bad"))
    redis_client.set(KEYS.frames("bad"), "x")
    caplog.set_level(logging.INFO, logger="cctv.ingest")

    for _ in range(50):
        bad.publish(FRAME, live=True, ts=time.time())
        good.publish(FRAME, live=True, ts=time.time())

    named = f"key {KEYS.frames('bad')} is not a stream (it holds a string)"
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(errors) == 1 and errors[0].startswith(f"camera bad: {named}: frames not published")
    assert "Redis" not in caplog.text
    state = read_state(redis_client, KEYS, "bad")
    assert state.state == "error" and state.error == named
    assert good.frames_published == 50 and redis_client.xlen(KEYS.frames("good")) == 50

    redis_client.delete(KEYS.frames("bad"))
    bad._retry_at = 0.0  # the recheck is due
    bad.publish(FRAME, live=True, ts=time.time())
    assert bad.frames_published == 2 and bad.key_fault is None
    assert read_state(redis_client, KEYS, "bad").state == "online"
    assert "camera bad: its keys are sound again" in caplog.text
