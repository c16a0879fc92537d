"""cctv status carries the tracker's fault of a camera (a key of the wrong type, named), masked,
and empty while the camera is sound."""

from __future__ import annotations

from common.keys import KEYS
from common.records import TRACKER_ERROR_FIELD
from runtime.status import collect_status


def test_status_shows_the_trackers_fault_of_one_camera(redis_client):
    redis_client.sadd(KEYS.camera_names, "bad", "good")
    redis_client.hset(KEYS.tracker_state("bad"), TRACKER_ERROR_FIELD,
                      "key cctv:frames:bad is not a stream (it holds a string)")
    cameras = collect_status(redis_client, KEYS).cameras
    assert cameras["bad"].tracker_error == "key cctv:frames:bad is not a stream (it holds a string)"
    assert cameras["good"].tracker_error == ""
    assert cameras["bad"].to_dict()["tracker_error"].startswith("key cctv:frames:bad")
    redis_client.set(KEYS.tracker_state("good"), "x")  # the state key itself of the wrong type
    assert "not a hash" in collect_status(redis_client, KEYS).cameras["good"].tracker_error


def test_prometheus_has_the_fault_per_camera(redis_client):
    from runtime.metrics import DetectionPaceCollector

    redis_client.sadd(KEYS.camera_names, "bad", "good")
    redis_client.hset(KEYS.tracker_state("bad"), TRACKER_ERROR_FIELD, "key x is not a stream")
    families = {f.name: f for f in DetectionPaceCollector(redis_client, KEYS).collect()}
    faults = {s.labels["camera"]: s.value for s in families["cctv_camera_tracker_fault"].samples}
    assert faults == {"bad": 1.0, "good": 0.0}
