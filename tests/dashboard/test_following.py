"""What the views follow without a reload: which cameras Live plays, what counts as in view now,
uploads stored once."""

from __future__ import annotations

import time

from common.cameras import parse_camera
from common.keys import KEYS
from common.records import CameraState
from dashboard import data
from runtime.camera_list import store_camera


def set_state(client, camera: str, state: str) -> None:
    client.hset(KEYS.state(camera), mapping=CameraState(state).to_fields())
    client.sadd(KEYS.camera_names, camera)


def test_live_plays_configured_cameras_and_replays_only_while_they_run(redis_client):
    store_camera(redis_client, KEYS, parse_camera({"name": "gate", "url": "/v/gate.mp4"}, "t"))
    set_state(redis_client, "gate", "finished")  # a configured file at its end keeps its tile
    set_state(redis_client, "replay", "online")
    set_state(redis_client, "done", "finished")  # a finished replay: its recording is in Replay
    set_state(redis_client, "removed", "stopped")
    states = data.camera_states(redis_client, KEYS)
    assert states == {"done": (False, "finished"), "gate": (True, "finished"),
                      "removed": (False, "stopped"), "replay": (False, "online")}
    assert data.live_cameras(states) == ["gate", "replay"]


def test_only_a_running_camera_with_a_fresh_frame_has_objects_in_view_now():
    now = 1000.0
    assert data.in_view_now("online", now - 4, 5, now)
    assert not data.in_view_now("online", now - 6, 5, now), "stale"
    assert not data.in_view_now("online", None, 5, now)
    for ended in ("finished", "stopped"):
        assert not data.in_view_now(ended, now, 5, now)


def test_the_same_upload_again_is_the_file_already_stored(tmp_path):
    first = data.save_upload(tmp_path, "lobby.mp4", b"one")
    assert data.save_upload(tmp_path, "lobby.mp4", b"one") == first  # a rerun hands it over again
    assert data.save_upload(tmp_path, "copy.mp4", b"one") == first  # same bytes, same file
    assert data.save_upload(tmp_path, "lobby.mp4", b"two").name == "lobby-1.mp4"
    assert len(data.media_files(tmp_path)) == 2


def test_an_event_lasts_from_first_to_last_sight_and_names_the_time_zone():
    from common.events import Event
    from dashboard.events import describe

    ended = Event("gate.1.1", "gate", "person", 1_800_000_000.0, 1_800_000_001.2, 0.91,
                  last_ts=1_800_000_001.2)
    start = time.localtime(ended.start_ts)
    assert describe(ended) == (f"{time.strftime('%Y-%m-%d %H:%M:%S', start)} {start.tm_zone} "
                               "· gate · person 0.91 · 1.2s")
    ended.end_ts = None
    assert describe(ended).endswith("in progress, 1.2s so far")
