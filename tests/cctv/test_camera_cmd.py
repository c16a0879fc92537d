"""``cctv camera add|set|show``: editing keeps what it does not change."""

from __future__ import annotations

import json

import yaml
from test_cli import cctv

from common.cameras import CameraConfig
from common.counting_rules import LineConfig, ZoneConfig
from common.keys import KEYS
from runtime.camera_list import list_cameras, store_camera

DOOR = CameraConfig(
    name="door", url="rtsp://admin:${DOOR_PW}@10.0.0.9/s", fps=5,
    lines=[LineConfig(name="gate", points=[(0.1, 0.5), (0.9, 0.5)])],
    zones=[ZoneConfig(name="hall", points=[(0.1, 0.1), (0.5, 0.1), (0.5, 0.5)])],
    counting={"min_frames": 4, "masks": [{"name": "tree", "points": [[0, 0], [0.2, 0], [0, 0.2]]}]},
    events={"clips": False},
    webhooks=[{"url": "https://hooks.example/${HOOK_TOKEN}"}])


def test_add_refuses_an_existing_name_unless_replace(redis_url, redis_client):
    store_camera(redis_client, KEYS, DOOR)
    out = cctv(redis_url, "camera", "add", "door", "other.mp4", check=False)
    assert out.returncode == 2 and "cctv camera set" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    assert list_cameras(redis_client, KEYS)["door"] == DOOR
    cctv(redis_url, "camera", "add", "door", "other.mp4", "--replace", "--loop")
    assert list_cameras(redis_client, KEYS)["door"] == CameraConfig(name="door", url="other.mp4",
                                                                    loop=True)


def test_set_changes_only_what_it_names(redis_url, redis_client):
    store_camera(redis_client, KEYS, DOOR)
    cctv(redis_url, "camera", "set", "door", "--fps", "2", "--max-width", "800", "--realtime")
    changed = list_cameras(redis_client, KEYS)["door"]
    assert changed == DOOR.model_copy(update={"fps": 2.0, "max_width": 800, "realtime": True})
    cctv(redis_url, "camera", "set", "door", "--no-realtime", "--patch", '{"fps": null}')
    assert list_cameras(redis_client, KEYS)["door"] == DOOR.model_copy(
        update={"fps": None, "max_width": 800})


def test_set_refuses_what_the_cameras_file_refuses(redis_url, redis_client):
    store_camera(redis_client, KEYS, DOOR)
    short_line = '{"lines": [{"name": "x", "points": [[0, 0]]}]}'
    for args, message in [(["--fps", "500"], "fps"), (["--url", "rtsp://u:pw@h/x"], "${VAR}"),
                          (["--patch", short_line], "lines.0.points"),
                          (["--patch", "[1]"], "JSON object"), ([], "nothing to change")]:
        out = cctv(redis_url, "camera", "set", "door", *args, check=False)
        assert out.returncode == 2 and message in out.stderr, (args, out.stderr)
        assert "Traceback" not in out.stderr
    assert list_cameras(redis_client, KEYS)["door"] == DOOR


def test_show_prints_the_whole_camera_masked(redis_url, redis_client):
    store_camera(redis_client, KEYS, DOOR)
    shown = yaml.safe_load(cctv(redis_url, "camera", "show", "door").stdout)
    as_json = json.loads(cctv(redis_url, "camera", "show", "door", "--json").stdout)
    assert shown == as_json
    assert shown["lines"] == [{"name": "gate", "points": [[0.1, 0.5], [0.9, 0.5]]}]
    assert shown["counting"]["masks"][0]["name"] == "tree" and shown["max_width"] == 640
    assert "${DOOR_PW}" in shown["url"]


def test_unknown_camera_is_one_line(redis_url):
    for args in (["set", "ghost", "--fps", "1"], ["show", "ghost"]):
        out = cctv(redis_url, "camera", *args, check=False)
        assert out.returncode == 2 and "unknown camera 'ghost'" in out.stderr
        assert len(out.stderr.strip().splitlines()) == 1
