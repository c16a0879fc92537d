"""Entries the tracker cannot use: malformed ones and frames that come too late are skipped,
logged and counted once (also across a takeover); tracking goes on."""

import json
import logging

from running import run_until
from tracking_scene import (
    EXPECTED,
    FRAMES,
    scene_camera,
    scene_detections,
    tracked_frame_id,
    tracker_settings,
)

from common.keys import KEYS
from common.records import DeadLetter
from runtime.camera_list import store_camera
from tracking.camera import CameraTracker
from tracking.reorder import before
from tracking.service import Tracker
from tracking.settings import TrackerSettings

BAD = [
    ({"v": "1", "camera": "cam", "frame_id": "1-0", "detections": "{nope"}, "not JSON"),
    ({"v": "9", "camera": "cam"}, "unsupported protocol version"),
    ({**scene_detections()[0].to_fields(), "camera": "other"}, "field 'camera' is 'other'"),
]


def publish_with_garbage(client):
    """The scene's detections (neighbours swapped, as two workers would finish them) with three
    bad entries among them; returns the last frame id."""
    messages = scene_detections()
    for i in range(0, FRAMES, 2):
        messages[i], messages[i + 1] = messages[i + 1], messages[i]
    for i, msg in enumerate(messages):
        client.xadd(KEYS.detections("cam"), msg.to_fields())
        if i in (10, 50, 90):
            client.xadd(KEYS.detections("cam"), BAD[(i // 40)][0])
    client.sadd(KEYS.camera_names, "cam")
    store_camera(client, KEYS, scene_camera())
    return max(m.frame_id for m in messages)


def stats(client):
    return {k.decode(): int(v) for k, v in client.hgetall(KEYS.track_stats("cam")).items()}


def test_malformed_entries_are_skipped_logged_and_counted(redis_client, redis_url, caplog):
    last = publish_with_garbage(redis_client)
    caplog.set_level(logging.WARNING, logger="cctv.tracker")
    run_until(Tracker(redis_client, tracker_settings(redis_url)),
                      lambda: tracked_frame_id(redis_client) == last)
    got = stats(redis_client)
    assert got["bad_entries"] == 3 and got["frames_tracked"] == FRAMES
    assert {k[7:]: v for k, v in got.items() if k.startswith("unique:")} == EXPECTED["unique"]
    assert got["in:door:car"] == 2
    for _, reason in BAD:
        assert reason in caplog.text


def test_malformed_entry_is_counted_once_across_a_takeover(redis_client, redis_url):
    messages = scene_detections()
    order = [messages[0], messages[2], None, messages[1], *messages[3:]]
    ids = [redis_client.xadd(KEYS.detections("cam"), m.to_fields() if m else BAD[0][0]).decode()
           for m in order]
    redis_client.sadd(KEYS.camera_names, "cam")
    first = Tracker(redis_client, tracker_settings(redis_url, tracker_id="first",
                                                   lock_ttl_ms=200), read_count=3)
    while not stats(redis_client).get("frames_tracked"):
        first.step()
    # frame 0 written, frame 2 still held, the bad entry read and counted: a successor must
    # read frame 2 again, and the bad entry with it, without counting it twice
    snapshot = json.loads(redis_client.hget(KEYS.tracker_state("cam"), "snapshot"))
    assert (snapshot["resume_id"], snapshot["read_id"]) == (before(ids[1]), ids[2])
    assert stats(redis_client)["bad_entries"] == 1
    second = Tracker(redis_client, tracker_settings(redis_url, tracker_id="second"))
    run_until(second, lambda: tracked_frame_id(redis_client) == messages[-1].frame_id)
    got = stats(redis_client)
    assert got["bad_entries"] == 1 and got["frames_tracked"] == FRAMES


class Clock:
    now = 0.0

    def __call__(self):
        return self.now


def test_a_frame_later_than_the_wait_is_skipped_and_counted():
    clock = Clock()
    messages = scene_detections()
    tracker = CameraTracker("cam", TrackerSettings(reorder_ms=500), clock=clock)
    for msg in (messages[0], messages[1], messages[3]):
        tracker.add(msg.frame_id, msg.to_fields())
    assert [f.message.seq for f in tracker.ready()] == [0, 1]
    clock.now = 0.5
    assert [f.message.seq for f in tracker.ready()] == [3]  # frame 2 given up
    tracker.add(messages[2].frame_id, messages[2].to_fields())
    assert tracker.ready() == [] and tracker.take_skipped() == {"bad_entries": 0,
                                                                "late_frames": 1}


POISON = [
    ({"height": "0"}, "bad frame size 320x0"),
    ({"frame_id": "abc"}, "not a stream id"),
    ({"detections": '[{"label": "person", "class_id": 1, "score": NaN, "box": [1, 2, 3, 4]}]'},
     "finite"),
]


def test_poison_entries_and_a_wrong_type_key_never_stop_tracking(redis_client, redis_url,
                                                                  monkeypatch, caplog):
    """Entries that would divide by zero, fail to order or carry NaN, a frame whose tracking
    raises, and another camera's key of the wrong type: tracking goes on, dead letters say why."""
    from tracking.bytetrack import ByteTrack

    messages = scene_detections()
    poisoned = []
    for i, msg in enumerate(messages):
        redis_client.xadd(KEYS.detections("cam"), msg.to_fields())
        if i in (10, 50, 90):
            change, _ = POISON[i // 40]
            poisoned.append(redis_client.xadd(KEYS.detections("cam"),
                                              msg.to_fields() | change).decode())
    store_camera(redis_client, KEYS, scene_camera())
    redis_client.sadd(KEYS.camera_names, "cam", "x")
    redis_client.set(KEYS.detections("x"), "y")
    real_update = ByteTrack.update

    def update(self, objects):
        if len(objects) == 5 and objects[0].box[0] == 126:  # frame 42 of the scene
            raise TypeError("tracking exploded")
        return real_update(self, objects)

    monkeypatch.setattr(ByteTrack, "update", update)
    caplog.set_level(logging.ERROR, logger="cctv.tracker")
    run_until(Tracker(redis_client, tracker_settings(redis_url)),
              lambda: tracked_frame_id(redis_client) == messages[-1].frame_id)
    letters = [DeadLetter.from_fields(f) for _, f in redis_client.xrange(KEYS.dead_letter)]
    reasons = {letter.entry_id: letter.reason for letter in letters}
    assert all(letter.stream == "detections" for letter in letters)
    for entry_id, (_, reason) in zip(poisoned, POISON):
        assert reason in reasons[entry_id]
    exploded = [r for r in reasons.values() if r == "TypeError: tracking exploded"]
    assert len(exploded) == 1
    got = stats(redis_client)
    assert got["bad_entries"] == 3 + len(exploded)
    assert got["frames_tracked"] == FRAMES - len(exploded)
    assert "key cctv:detections:x is not a stream" in caplog.text
