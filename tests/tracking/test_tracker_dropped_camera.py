"""A camera dropped while tracking (its fenced write refused: another tracker took its lock)
with bad entries not yet dead-lettered: the tracker goes on, and the entries are dead-lettered
once, by whoever continues the camera."""

from tracking_scene import scene_camera, scene_detections, tracked_frame_id

from common.keys import KEYS
from common.records import DeadLetter
from runtime.camera_list import store_camera
from tracking.service import Tracker
from tracking.settings import TrackerSettings


def settings(redis_url: str, tracker_id: str) -> TrackerSettings:
    """Frames released as soon as they are read (in order here), no events."""
    return TrackerSettings(redis_url=redis_url, tracker_id=tracker_id, reorder_ms=0,
                           events=False)


def test_a_camera_dropped_by_its_write_keeps_the_tracker_going(redis_client, redis_url):
    messages = scene_detections()
    for msg in messages[:10]:
        redis_client.xadd(KEYS.detections("cam"), msg.to_fields())
    bad = redis_client.xadd(KEYS.detections("cam"), {"v": "1", "camera": "cam"}).decode()
    redis_client.xadd(KEYS.detections("cam"), messages[10].to_fields())
    redis_client.sadd(KEYS.camera_names, "cam")
    store_camera(redis_client, KEYS, scene_camera())
    tracker = Tracker(redis_client, settings(redis_url, "t"))
    tracker.upkeep()
    assert "cam" in tracker.cameras
    redis_client.set(KEYS.tracker_lock("cam"), "other")  # taken while this one was reading

    tracker.step()  # its write is refused: the camera is dropped, the tracker goes on
    assert "cam" not in tracker.cameras and not redis_client.exists(KEYS.tracks("cam"))
    assert not redis_client.exists(KEYS.dead_letter)

    redis_client.delete(KEYS.tracker_lock("cam"))
    successor = Tracker(redis_client, settings(redis_url, "s"))
    while tracked_frame_id(redis_client) != messages[10].frame_id:
        successor.step()
    letters = [DeadLetter.from_fields(f) for _, f in redis_client.xrange(KEYS.dead_letter)]
    assert [(letter.entry_id, letter.stream) for letter in letters] == [(bad, "detections")]
