"""One bad camera harms nothing else: a key of the wrong type stops that camera alone (in error,
the key named, rechecked with backoff), and frames of thousands of boxes never cost a lock."""

import logging
import time

from tracking_scene import scene_camera, scene_detections, tracked_frame_id, tracker_settings

from common.keys import KEYS
from common.messages import DetectedObject, DetectionMessage
from runtime.camera_list import store_camera
from common.records import TRACKER_ERROR_FIELD as ERROR_FIELD
from tracking.bytetrack import ByteTrack
from tracking.camera import MAX_TRACKED_BOXES
from tracking.faults import RECHECK_S
from tracking.service import Tracker
from tracking.settings import TrackerSettings


class Clock:
    """Monotonic time that a test can move forward (to reach a recheck without waiting)."""

    def __init__(self):
        self.offset = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.offset


def publish(client, camera: str, messages=None) -> str:
    messages = messages if messages is not None else scene_detections(camera)
    for msg in messages:
        client.xadd(KEYS.detections(camera), msg.to_fields())
    client.sadd(KEYS.camera_names, camera)
    store_camera(client, KEYS, scene_camera(camera))
    return messages[-1].frame_id


def step_until(tracker, predicate, timeout=60):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline
        if not tracker.step():
            time.sleep(0.01)


def error_of(client, camera: str) -> str | None:
    raw = client.hget(KEYS.tracker_state(camera), ERROR_FIELD)
    return raw.decode() if raw else None


def test_a_wrong_type_frames_key_stops_that_camera_alone(redis_client, redis_url, caplog):
    last = publish(redis_client, "good")
    publish(redis_client, "bad")
    redis_client.set(KEYS.frames("bad"), "x")
    clock = Clock()
    tracker = Tracker(redis_client, tracker_settings(redis_url, tracker_id="t", events=False),
                      clock=clock)
    caplog.set_level(logging.INFO, logger="cctv.tracker")

    step_until(tracker, lambda: tracked_frame_id(redis_client, "good") == last)

    assert list(tracker.cameras) == ["good"]
    assert redis_client.get(KEYS.tracker_lock("good")) == b"t"
    assert redis_client.get(KEYS.tracker_lock("bad")) is None
    named = f"key {KEYS.frames('bad')} is not a stream (it holds a string)"
    assert error_of(redis_client, "bad") == named
    faults = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert [r.getMessage() for r in faults] == [
        f"camera bad: {named}: camera stopped, rechecked in {RECHECK_S:.0f} s"]
    assert "Redis" not in caplog.text and "good: no longer tracked" not in caplog.text

    redis_client.delete(KEYS.frames("bad"))
    clock.offset += RECHECK_S + 1
    step_until(tracker, lambda: "bad" in tracker.cameras)
    step_until(tracker, lambda: tracked_frame_id(redis_client, "bad") == last)
    assert error_of(redis_client, "bad") is None
    assert "good" in tracker.cameras


def test_rechecks_back_off_while_the_key_stays_wrong(redis_client, redis_url, caplog):
    publish(redis_client, "bad")
    redis_client.set(KEYS.tracks("bad"), "x")
    clock = Clock()
    tracker = Tracker(redis_client, tracker_settings(redis_url, events=False), clock=clock)
    caplog.set_level(logging.ERROR, logger="cctv.tracker")
    waits = []
    for _ in range(6):
        tracker.step()
        waits.append(caplog.records[-1].getMessage().rsplit("in ", 1)[1])
        tracker.step()  # not due yet: no new line
        clock.offset += 61
    assert waits == ["5 s", "10 s", "20 s", "40 s", "60 s", "60 s"]
    assert len(caplog.records) == 6
    assert not tracker.cameras


def test_a_detections_key_replaced_while_tracked_stops_that_camera_alone(redis_client,
                                                                         redis_url):
    last = publish(redis_client, "good")
    publish(redis_client, "bad")
    tracker = Tracker(redis_client, tracker_settings(redis_url, tracker_id="t", events=False),
                      read_count=5)
    step_until(tracker, lambda: set(tracker.cameras) == {"good", "bad"})
    redis_client.delete(KEYS.detections("bad"))
    redis_client.set(KEYS.detections("bad"), "x")

    step_until(tracker, lambda: tracked_frame_id(redis_client, "good") == last)

    assert list(tracker.cameras) == ["good"]
    assert KEYS.detections("bad") in error_of(redis_client, "bad")


def heavy(camera: str, frame: int, boxes: int) -> DetectionMessage:
    """A frame of ``boxes`` small overlapping boxes in a row."""
    objects = [DetectedObject("person", 1, 0.5 + (i % 50) / 100,
                              (i * 3.0, 10.0, i * 3.0 + 20, 60.0)) for i in range(boxes)]
    return DetectionMessage(camera, f"{1_700_000_000_000 + frame * 50}-0", frame,
                            1_700_000_000.0 + frame * 0.05, 0.0, "test", 320, 240, objects)


def test_frames_of_thousands_of_boxes_never_cost_a_lock(redis_client, redis_url, caplog,
                                                        monkeypatch):
    """4 frames of 2000 boxes (refused by the codec's cap) and 20 of 1000 (each cut to the
    highest-scoring MAX_TRACKED_BOXES): every frame is tracked, neither camera is ever dropped,
    and no frame costs its untrimmed ByteTrack time (counted, not timed: a loaded machine)."""
    messages = [heavy("heavy", i, 2000 if i < 4 else 1000) for i in range(24)]
    messages.append(heavy("heavy", 24, 3))
    last = publish(redis_client, "heavy", messages)
    other = publish(redis_client, "other")
    caplog.set_level(logging.INFO, logger="cctv.tracker")
    tracked_sizes = []
    update = ByteTrack.update
    monkeypatch.setattr(ByteTrack, "update", lambda self, boxes, *a, **k: (
        tracked_sizes.append(len(boxes)), update(self, boxes, *a, **k))[1])
    tracker = Tracker(redis_client, TrackerSettings(
        redis_url=redis_url, tracker_id="t", tracker_poll_s=0.05, reorder_ms=0, lock_ttl_ms=10_000,
        events=False))

    step_until(tracker, lambda: tracked_frame_id(redis_client, "heavy") == last
               and tracked_frame_id(redis_client, "other") == other)

    assert set(tracker.cameras) == {"heavy", "other"}
    assert "no longer tracked here" not in caplog.text
    assert tracked_sizes and max(tracked_sizes) <= MAX_TRACKED_BOXES
    assert caplog.text.count("highest-scoring") == 1
