"""Which frame a camera shows, and with which objects: the tracker's when current, else the
workers', else the raw frame; bad or trimmed entries fall back, never crash."""

from __future__ import annotations

import cv2
import numpy as np

from api.scene import count_labels, newest_scene, visible
from common.keys import KEYS
from common.messages import DetectedObject, DetectionMessage, FrameMessage
from common.tracks import TrackMessage
from common.tracks import TrackedObject


def test_visible_applies_class_filter_and_minimum_score():
    objects = [DetectedObject("person", 1, 0.9, (0, 0, 1, 1)),
               DetectedObject("person", 1, 0.4, (0, 0, 1, 1)),
               DetectedObject("car", 3, 0.7, (0, 0, 1, 1))]
    assert count_labels(visible(objects, None, 0.5)) == {"person": 1, "car": 1}
    assert count_labels(visible(objects, ["car"], 0.0)) == {"car": 1}


def test_scene_falls_back_from_bad_or_trimmed_entries_to_the_newest_frame(redis_client):
    ok, jpeg = cv2.imencode(".jpg", np.zeros((8, 8, 3), np.uint8))
    assert newest_scene(redis_client, KEYS, "cam") is None
    frame_id = redis_client.xadd(KEYS.frames("cam"), FrameMessage(
        "cam", 0, 5.0, 8, 8, jpeg.tobytes()).to_fields()).decode()
    redis_client.xadd(KEYS.detections("cam"), {"v": "1", "detections": "[{"})  # malformed
    scene = newest_scene(redis_client, KEYS, "cam")
    assert (scene.kind, scene.objects, scene.ts, scene.frame_id) == ("raw", [], 5.0, frame_id)
    person = DetectedObject("person", 1, 0.9, (1.0, 1.0, 4.0, 4.0))
    redis_client.xadd(KEYS.detections("cam"), DetectionMessage(
        "cam", frame_id, 0, 5.0, 6.0, "w", 8, 8, [person]).to_fields())
    scene = newest_scene(redis_client, KEYS, "cam")
    assert scene.kind == "detected" and scene.objects == [person]
    tracked = TrackedObject(7, "person", 1, 0.9, (1.0, 1.0, 4.0, 4.0))
    redis_client.xadd(KEYS.tracks("cam"), TrackMessage(
        "cam", frame_id, 0, 5.0, 8, 8, [tracked], zones={"door": {"person": 1}}).to_fields())
    scene = newest_scene(redis_client, KEYS, "cam")
    assert (scene.kind, scene.objects, scene.zones) == ("tracked", [tracked],
                                                        {"door": {"person": 1}})
    redis_client.xadd(KEYS.detections("cam"), DetectionMessage(
        "cam", "1-0", 0, 7.0, 7.5, "w", 8, 8, [person]).to_fields())  # its frame was trimmed
    assert newest_scene(redis_client, KEYS, "cam").kind == "tracked"  # 2 s behind: still current
    redis_client.xadd(KEYS.detections("cam"), DetectionMessage(
        "cam", "1-0", 0, 20.0, 20.5, "w", 8, 8, [person]).to_fields())  # tracker 15 s behind
    assert newest_scene(redis_client, KEYS, "cam").kind == "raw"
