"""The dashboard's parts without a page: drawing, health rows, uploads, binding rules."""

from __future__ import annotations

import subprocess
import sys
import time

import cv2
import numpy as np
import pytest

from api.scene import newest_scene
from common.keys import KEYS
from common.messages import DetectedObject, DetectionMessage, FrameMessage
from common.records import WorkerHeartbeat
from common.schema import SettingsError
from common.tracks import TrackedObject, TrackMessage
from dashboard import auth, data
from dashboard.settings import DashboardSettings
from media.draw import LINE_COLOR, Overlay, annotate_jpeg, draw_scene
from runtime.status import CameraStatus, Status


def test_scene_scales_boxes_and_draws_lines_and_zones_where_they_are():
    image = np.zeros((100, 200, 3), np.uint8)
    box = DetectedObject("person", 1, 0.9, (40.0, 40.0, 80.0, 160.0))  # in a 400x200 frame
    out = draw_scene(image, [box], source_size=(400, 200),
                     lines=[Overlay([(0.5, 0.0), (0.5, 1.0)], "door in 1 / out 0")],
                     zones=[Overlay([(0.8, 0.5), (0.95, 0.5), (0.95, 0.9)], "bench: 0")])
    assert image.max() == 0, "the input is not drawn on"
    assert out[60, 20].any() and out[60, 40].any(), "box edges at x 40/2=20 and 80/2=40"
    assert not out[60, 30].any(), "inside the box stays untouched"
    assert tuple(out[90, 100]) == LINE_COLOR, "the line runs down the middle"
    assert out[80, 185].any(), "the zone is tinted"


def test_tracked_objects_carry_their_id_in_the_caption():
    image = np.full((120, 160, 3), 255, np.uint8)
    ok, jpeg = cv2.imencode(".jpg", image)
    plain = annotate_jpeg(jpeg.tobytes(), [DetectedObject("car", 3, 0.8, (50, 50, 100, 100))])
    tracked = annotate_jpeg(jpeg.tobytes(), [TrackedObject(17, "car", 3, 0.8, (50, 50, 100, 100))])
    assert plain != tracked
    with pytest.raises(ValueError, match="not a decodable JPEG"):
        annotate_jpeg(b"\xff\xd8garbage", [])


def camera(state="online", last_frame_ts=0.0):
    return CameraStatus(state, fps=12.34, frames_in=10, frames_processed=9, frames_dropped=1,
                        last_frame_ts=last_frame_ts, stream_length=5, pending=1)


def test_an_online_camera_without_recent_frames_shows_as_stalled():
    status = Status({"fresh": camera(last_frame_ts=999.0), "quiet": camera(last_frame_ts=900.0),
                     "never": camera(), "done": camera("finished", 900.0)})
    rows = data.camera_health(status, stale_s=5, now=1000.0).set_index("camera")
    assert rows["state"].to_dict() == {"fresh": "online", "quiet": "stalled", "never": "stalled",
                                       "done": "finished"}
    assert rows.loc["fresh", "last frame (s ago)"] == 1.0 and rows.loc["fresh", "fps"] == 12.3


def test_a_worker_without_a_recent_heartbeat_shows_as_stalled():
    beat = {"host": "h", "pid": 1, "device": "cpu", "started": 900.0, "frames": 5, "fps": 2.0,
            "batch_size": 4.0, "latency_ms": 30.0}
    status = Status(workers=[WorkerHeartbeat("a", ts=998.0, **beat),
                             WorkerHeartbeat("b", ts=990.0, **beat)])
    rows = data.worker_health(status, stale_s=5, now=1000.0).set_index("worker")
    assert rows["state"].to_dict() == {"a": "alive", "b": "stalled"}
    assert rows.loc["b", "seen (s ago)"] == 10.0


def test_uploads_keep_their_name_never_overwrite_and_only_videos(tmp_path):
    first = data.save_upload(tmp_path, "../../etc/lobby.mp4", b"one")
    second = data.save_upload(tmp_path, "lobby.mp4", b"two")
    assert (first.name, second.name) == ("lobby.mp4", "lobby-1.mp4")
    assert first.read_bytes() == b"one" and first.parent == tmp_path
    for bad in ("notes.txt", ".hidden.mp4", ""):
        with pytest.raises(ValueError):
            data.save_upload(tmp_path, bad, b"x")
    assert data.media_files(tmp_path) == sorted([first, second])
    assert data.media_files(tmp_path / "missing") == []


@pytest.mark.parametrize("host,password,refused", [
    ("127.0.0.1", None, False), ("localhost", None, False), ("::1", None, False),
    ("0.0.0.0", None, True), ("10.1.2.3", None, True), ("0.0.0.0", "long-enough", False)])
def test_only_loopback_is_served_without_a_password(host, password, refused):
    settings = DashboardSettings(dashboard_password=password)
    if refused:
        with pytest.raises(SettingsError, match="CCTV_DASHBOARD_PASSWORD"):
            auth.check_bind(settings, host)
    else:
        auth.check_bind(settings, host)
    assert auth.password_required(settings, host) == (password is not None or
                                                      host not in ("127.0.0.1", "localhost", "::1"))
    assert auth.password_ok(settings, "long-enough") == (password == "long-enough")


def test_cctv_dashboard_refuses_to_bind_everywhere_without_a_password():
    run = subprocess.run([sys.executable, "-m", "cctv", "dashboard", "--host", "0.0.0.0"],
                         capture_output=True, text=True, timeout=60,
                         env={"PATH": "/usr/bin:/bin", "CCTV_DASHBOARD_PASSWORD": ""})
    assert run.returncode == 2
    assert "set CCTV_DASHBOARD_PASSWORD" in run.stderr


def test_minute_tables_read_the_trackers_buckets_through_the_codec():
    import fakeredis

    from common.keys import KEYS

    client = fakeredis.FakeRedis()  # hashes only: no stream semantics needed
    now = 1_700_000_000.0
    minute = int(now // 60)
    client.hset(KEYS.minute("door", minute), mapping={"_frames": 10})
    client.hset(KEYS.track_minute("door", minute - 59), mapping={"_frames": 4, "det:person": 2})
    client.hset(KEYS.track_minute("door", minute - 60), mapping={"_frames": 1, "det:person": 9})
    client.hset(KEYS.track_minute("door", minute), mapping={
        "_frames": 10, "det:person": 25, "det:car": 5, "unique:person": 3, "in:entry:person": 2,
        "out:entry:person": 1, "peak:bench:person": 4, "dwell_n:bench:person": 2,
        "dwell_ms:bench:person": 9000, "dwell_max_ms:bench:person": 6000})
    classes, places = data.minute_tables(client, KEYS, ["door", "gate"], minutes=60, now=now)
    rows = {(r.minute.timestamp() // 60, r.label): r for r in classes.itertuples()}
    assert set(rows) == {(minute, "person"), (minute, "car"), (minute - 59, "person")}
    person = rows[(minute, "person")]
    assert (person.detections, person.frames, person.per_frame, person.unique) == (25, 10, 2.5, 3)
    assert rows[(minute, "car")].unique == 0 and set(classes["camera"]) == {"door"}
    assert sorted(places[["kind", "name", "label", "count"]].itertuples(index=False)) == [
        ("crossed in", "entry", "person", 2), ("crossed out", "entry", "person", 1),
        ("max dwell (s)", "bench", "person", 6.0), ("mean dwell (s)", "bench", "person", 4.5),
        ("most in zone", "bench", "person", 4)]


def test_the_live_view_streams_all_its_cameras_in_one_url_with_a_token_not_the_password():
    from urllib.parse import parse_qs, urlsplit

    from api.auth import token_ok
    from dashboard.live import stream_url

    open_url = stream_url(DashboardSettings(), ["gate", "yard"], None, 0.5)
    assert open_url == "/cameras.mjpg?names=gate,yard&min_score=0.5"
    url = stream_url(DashboardSettings(dashboard_password="door-s3cret"), ["gate"], ["car"], 0.3)
    query = parse_qs(urlsplit(url).query)
    assert query["classes"] == ["car"] and query["min_score"] == ["0.3"]
    assert "door-s3cret" not in url and token_ok("door-s3cret", query["token"][0])


def test_the_live_metric_counts_the_objects_of_the_frame_the_picture_shows(redis_client):
    from dashboard.live import in_view

    ok, jpeg = cv2.imencode(".jpg", np.zeros((8, 8, 3), np.uint8))
    now = time.time()
    shown = redis_client.xadd(KEYS.frames("cam"), FrameMessage(
        "cam", 1, now, 8, 8, jpeg.tobytes()).to_fields()).decode()
    person = DetectedObject("person", 1, 0.9, (1.0, 1.0, 4.0, 4.0))
    redis_client.xadd(KEYS.detections("cam"), DetectionMessage(
        "cam", shown, 1, now, now, "w", 8, 8, [person]).to_fields())
    # The tracker's newest message is current but its frame was trimmed: the picture falls back
    # to the detected frame, and so does the count.
    redis_client.xadd(KEYS.tracks("cam"), TrackMessage("cam", "1-0", 0, now, 8, 8, []).to_fields())
    counts, ts, detected = in_view(redis_client, DashboardSettings(), "cam", None, 0.5)
    assert (counts, ts, detected) == ({"person": 1}, now, True)
    assert newest_scene(redis_client, KEYS, "cam").frame_id == shown
