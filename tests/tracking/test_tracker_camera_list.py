"""The tracker reads every valid camera's lines and zones whatever another entry of the camera
list holds; a camera whose entry turns invalid keeps its previous ones."""

import logging

from tracking_scene import scene_camera, tracker_settings

from common.keys import KEYS
from runtime.camera_list import store_camera
from tracking.service import Tracker


def test_an_invalid_entry_costs_its_camera_alone(redis_client, redis_url, caplog):
    caplog.set_level(logging.ERROR, logger="cctv.tracker")
    redis_client.hset(KEYS.cameras, "bad", '{"name": "bad", "url": "x.mp4", "lines": 5}')
    store_camera(redis_client, KEYS, scene_camera("cam"))
    tracker = Tracker(redis_client, tracker_settings(redis_url, tracker_id="t", events=False))
    tracker.upkeep()
    assert set(tracker.configs) == {"cam"} and tracker.configs["cam"] == scene_camera("cam")

    redis_client.hset(KEYS.cameras, "cam", '{"name": "cam"')
    store_camera(redis_client, KEYS, scene_camera("other"))
    for _ in range(3):
        tracker._next_poll = 0.0  # every pass a poll
        tracker.upkeep()
    assert tracker.configs == {"cam": scene_camera("cam"), "other": scene_camera("other")}
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2, messages
    assert "cctv:cameras[bad]: lines" in messages[0] and "cctv:cameras[cam]" in messages[1]
