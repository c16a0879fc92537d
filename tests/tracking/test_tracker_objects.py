"""The tracker keeps every tracked frame's objects beside the recordings, boxes as fractions."""

import pytest
from running import run_until
from tracking_scene import (
    HEIGHT,
    WIDTH,
    scene_camera,
    scene_detections,
    tracked_frame_id,
    tracker_settings,
)

from common.keys import KEYS
from common.tracks import TrackMessage
from runtime.camera_list import store_camera
from runtime.object_log import read_objects
from runtime.recordings import Segment, add_segment
from tracking.service import Tracker


def test_each_tracked_frame_has_its_objects_kept(redis_client, redis_url, tmp_path):
    messages = scene_detections()
    for message in messages:
        redis_client.xadd(KEYS.detections("cam"), message.to_fields())
    redis_client.sadd(KEYS.camera_names, "cam")
    store_camera(redis_client, KEYS, scene_camera())
    add_segment(redis_client, KEYS, Segment("cam", messages[0].ts, messages[-1].ts, "cam/a.mp4",
                                            1, "h264", WIDTH, HEIGHT))
    run_until(Tracker(redis_client, tracker_settings(redis_url, recordings_dir=tmp_path)),
              lambda: tracked_frame_id(redis_client) == messages[-1].frame_id)

    tracked = [TrackMessage.from_fields(f) for _, f in redis_client.xrange(KEYS.tracks("cam"))]
    kept = read_objects(tmp_path, "cam", messages[0].ts, messages[-1].ts + 1)
    assert [(f.ts, f.frame_id) for f in kept] == [(m.ts, m.frame_id) for m in tracked]
    for frame, message in zip(kept, tracked):
        assert [(b.track_id, b.label) for b in frame.boxes] == \
            [(t.track_id, t.label) for t in message.tracks]
        for box, track in zip(frame.boxes, message.tracks):
            x1, y1, x2, y2 = track.box
            assert box.box == pytest.approx((x1 / WIDTH, y1 / HEIGHT, x2 / WIDTH, y2 / HEIGHT), abs=1e-4)
