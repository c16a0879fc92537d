"""Poison input never stops a worker: an entry that fails alone (a huge JPEG header, an error in
NMS, one delivered too often) is dead-lettered with its reason, the batch goes on; a camera key of
the wrong type is left out."""


import cv2
import numpy as np
import pytest
from running import run_until
from test_worker import detection_ids, ingest_file, processed

from common.keys import GROUP, KEYS
from common.messages import FrameMessage
from common.records import DeadLetter
from workers.jpeg import jpeg_size
from workers.service import Worker
from workers.settings import WorkerSettings

POISON_VALUE = 7


@pytest.fixture(scope="module")
def detector():
    from detector import load_detector

    return load_detector("ssdlite-person", num_threads=1)


def jpeg(image: np.ndarray) -> bytes:
    return cv2.imencode(".jpg", image)[1].tobytes()


def huge_jpeg(width: int = 60000, height: int = 60000) -> bytes:
    """A 16x16 JPEG whose frame header claims ``width`` x ``height``."""
    data = bytearray(jpeg(np.zeros((16, 16, 3), np.uint8)))
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = height.to_bytes(2, "big") + width.to_bytes(2, "big")
    return bytes(data)


def frame(data: bytes, width: int, height: int) -> dict:
    return FrameMessage("cam", 0, 1.0, width, height, data, "file").to_fields()


def test_jpeg_size():
    assert jpeg_size(jpeg(np.zeros((30, 50, 3), np.uint8))) == (50, 30)
    assert jpeg_size(huge_jpeg()) == (60000, 60000)


@pytest.fixture
def nms_fails_on_poison(monkeypatch):
    """NMS raises for any batch holding a frame of uniform value POISON_VALUE."""
    import detector.api as api

    seen = {"poison": False}
    real_pre, real_select = api.preprocess_batch, api.select_per_image

    def preprocess(frames, *args, **kwargs):
        seen["poison"] = any(f.min() == f.max() == POISON_VALUE for f in frames)
        return real_pre(frames, *args, **kwargs)

    def select(*args, **kwargs):
        if seen["poison"]:
            raise RuntimeError("NMS exploded")
        return real_select(*args, **kwargs)

    monkeypatch.setattr(api, "preprocess_batch", preprocess)
    monkeypatch.setattr(api, "select_per_image", select)


def test_poison_entries_are_dead_lettered_and_the_rest_goes_on(
        redis_client, redis_url, small_video, detector, nms_fails_on_poison, caplog):
    ids = ingest_file(redis_client, redis_url, small_video)
    stream = KEYS.frames("cam")
    # a frame that "killed" three workers already: delivered 3 times, never acked
    first = redis_client.xreadgroup(GROUP, "dead", {stream: ">"}, count=1)[0][1][0][0]
    for _ in range(2):
        redis_client.xclaim(stream, GROUP, "dead", 0, [first])
    huge = redis_client.xadd(stream, frame(huge_jpeg(), 60000, 60000)).decode()
    poison = redis_client.xadd(stream, frame(
        jpeg(np.full((120, 160, 3), POISON_VALUE, np.uint8)), 160, 120)).decode()
    redis_client.set(KEYS.frames("x"), "y")  # an operator's mistake: a string, not a stream
    redis_client.sadd(KEYS.camera_names, "x")
    settings = WorkerSettings(redis_url=redis_url, batch_size=4, claim_idle_ms=300)
    worker = Worker(redis_client, settings, detector)
    run_until(worker, lambda: processed(redis_client) == len(ids) - 1
              and redis_client.xlen(KEYS.dead_letter) == 3)
    letters = {DeadLetter.from_fields(f).entry_id: DeadLetter.from_fields(f).reason
               for _, f in redis_client.xrange(KEYS.dead_letter)}
    assert "60000x60000 is over the 40000000 pixel limit" in letters[huge]
    assert letters[poison] == "RuntimeError: NMS exploded"
    assert "delivered 4 times" in letters[first.decode()]
    assert sorted(detection_ids(redis_client)) == sorted(set(ids) - {first.decode()})
    assert redis_client.xpending(stream, GROUP)["pending"] == 0
    assert "key cctv:frames:x is not a stream (it holds a string)" in caplog.text


def test_a_refused_result_leaves_its_frame_pending_and_the_worker_going(
        redis_client, redis_url, small_video, detector, caplog):
    """cam2's counts hash holds a string: its results are refused (left pending, logged); the
    worker goes on with cam."""
    ids = ingest_file(redis_client, redis_url, small_video, fps=5)
    ingest_file(redis_client, redis_url, small_video, camera="cam2", fps=5)
    redis_client.set(KEYS.stats("cam2"), "y")
    worker = Worker(redis_client, WorkerSettings(redis_url=redis_url, batch_size=4), detector)
    run_until(worker, lambda: processed(redis_client) == len(ids))
    assert "its result was refused, left pending:" in caplog.text and "WRONGTYPE" in caplog.text
    assert redis_client.xpending(KEYS.frames("cam2"), GROUP)["pending"] > 0
