"""A tracker that dies mid-stream: another one waits for its lock, continues from the snapshot,
and the result is exactly that of an uninterrupted run (same ids, nothing counted twice)."""

import json
import logging
import time

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
from runtime.camera_list import store_camera
from tracking.service import Tracker

TRACKING_KEYS = ("tracks", "track_stats", "zones", "tracker_lock", "tracker_state")


def publish_shuffled(client, camera="cam"):
    """The scene's detections, neighbours swapped as two workers would finish them."""
    messages = scene_detections(camera)
    for i in range(0, len(messages) - 1, 2):
        messages[i], messages[i + 1] = messages[i + 1], messages[i]
    for msg in messages:
        client.xadd(KEYS.detections(camera), msg.to_fields())
    client.sadd(KEYS.camera_names, camera)
    store_camera(client, KEYS, scene_camera(camera))
    return max(m.frame_id for m in messages)


def results(client, camera="cam"):
    """Everything the tracker wrote for ``camera`` (stream entry ids left out)."""
    minutes = {int(float(f[b"ts"]) // 60) for _, f in client.xrange(KEYS.tracks(camera))}
    return {
        "tracks": [f for _, f in client.xrange(KEYS.tracks(camera))],
        "stats": client.hgetall(KEYS.track_stats(camera)),
        "zones": client.hgetall(KEYS.zones(camera)),
        "minutes": {m: client.hgetall(KEYS.track_minute(camera, m)) for m in minutes},
        "seen": {m: client.smembers(KEYS.track_seen(camera, m)) for m in minutes},
    }


def step_until(tracker, predicate, timeout=60):
    """Call ``tracker.step()`` until ``predicate()`` (bounded); never releases its locks."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline
        if not tracker.step():
            time.sleep(0.01)


def clear_tracking(client, camera="cam"):
    names = [getattr(KEYS, name)(camera) for name in TRACKING_KEYS]
    names += [k for k in client.scan_iter(KEYS.track_minute(camera, 0)[:-1] + "*")]
    names += [k for k in client.scan_iter(KEYS.track_seen(camera, 0)[:-1] + "*")]
    client.delete(*names)


def test_takeover_after_a_crash_continues_exactly(redis_client, redis_url, caplog):
    last = publish_shuffled(redis_client)
    run_until(Tracker(redis_client, tracker_settings(redis_url, tracker_id="straight")),
                      lambda: tracked_frame_id(redis_client) == last)
    expected = results(redis_client)
    assert len(expected["tracks"]) == FRAMES
    clear_tracking(redis_client)

    first = Tracker(redis_client, tracker_settings(redis_url, tracker_id="first",
                                                   lock_ttl_ms=300), read_count=15)
    while int(redis_client.hget(KEYS.track_stats("cam"), "frames_tracked") or 0) < 40:
        first.step()
    crashed_at = tracked_frame_id(redis_client)
    # "crash": the first tracker stops without releasing its lock
    assert redis_client.get(KEYS.tracker_lock("cam")) == b"first"

    caplog.set_level(logging.INFO, logger="cctv.tracker")
    # the second's lock outlives the checks below (at 300 ms, on a loaded machine, it could
    # expire before the first wakes up, and the first take the camera back)
    second = Tracker(redis_client, tracker_settings(redis_url, tracker_id="second",
                                                    lock_ttl_ms=60_000), read_count=15)
    step_until(second, lambda: tracked_frame_id(redis_client) == last)
    assert f"camera cam: tracking from frame {crashed_at}" in caplog.text
    assert results(redis_client) == expected

    # the first one wakes up: what it tracked meanwhile is refused by the frame script...
    stale = first.cameras["cam"]
    for entry_id, fields in redis_client.xrange(KEYS.detections("cam"), f"({stale.read_id}"):
        stale.add(entry_id.decode(), fields)
    frames = stale.ready()
    assert frames and not first.store.write("cam", frames, stale.snapshot(), {})
    first.step()  # ...and its next pass finds the lock taken and lets the camera go
    assert "cam" not in first.cameras
    assert results(redis_client) == expected
    assert redis_client.hget(KEYS.tracker_state("cam"), "owner") == b"second"


def test_clean_stop_hands_over_without_waiting(redis_client, redis_url):
    last = publish_shuffled(redis_client)
    slow = tracker_settings(redis_url, tracker_id="first", lock_ttl_ms=600_000)
    first = Tracker(redis_client, slow, read_count=10)
    while not redis_client.exists(KEYS.tracks("cam")):
        first.step()
    run_until(first, lambda: True)  # run() releases the lock when it stops
    assert not redis_client.exists(KEYS.tracker_lock("cam"))
    second = Tracker(redis_client, tracker_settings(redis_url, tracker_id="second"))
    run_until(second, lambda: tracked_frame_id(redis_client) == last)
    ids = [t["id"] for _, f in redis_client.xrange(KEYS.tracks("cam"))
           for t in json.loads(f[b"tracks"])]
    assert set(ids) == {1, 2, 3, 4, 5}
    stats = redis_client.hgetall(KEYS.track_stats("cam"))
    assert int(stats[b"frames_tracked"]) == FRAMES
    assert {k.decode()[7:]: int(v) for k, v in stats.items()
            if k.startswith(b"unique:")} == EXPECTED["unique"]
