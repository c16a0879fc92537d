"""``PATCH /api/cameras/{name}``: a JSON merge patch that keeps what it does not name."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from test_rest import AUTH, api  # noqa: F401 (the fixture)

from common.cameras import CameraConfig
from common.keys import KEYS
from common.urls import mask_url
from runtime.camera_list import list_cameras, store_camera

LOBBY = CameraConfig.model_validate({
    "name": "lobby", "url": "rtsp://viewer:${LOBBY_PW}@192.0.2.1/s", "fps": 5,
    "lines": [{"name": "door", "points": [[0.1, 0.5], [0.9, 0.5]]}],
    "zones": [{"name": "desk", "points": [[0.1, 0.1], [0.5, 0.1], [0.5, 0.5]]}],
    "counting": {"min_frames": 4, "classes": {"car": {"min_frames": 2}},
                 "masks": [{"name": "tree", "points": [[0, 0], [0.2, 0], [0, 0.2]]}]},
    "events": {"required_zones": ["desk"]},
    "webhooks": [{"url": "https://hooks.example/${HOOK_TOKEN}", "zones": ["desk"]}]})


def patch(base: str, name: str, body: object,
          media_type: str = "application/merge-patch+json") -> tuple[int, dict]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(f"{base}/api/cameras/{name}", data=data, method="PATCH",
                                     headers=AUTH | {"Content-Type": media_type})
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_a_patch_changes_only_what_it_names(api, redis_client):  # noqa: F811
    base = api[0]
    store_camera(redis_client, KEYS, LOBBY)
    got, answer = patch(base, "lobby", {"fps": None, "max_width": 800,
                                        "counting": {"line_margin": 0.05},
                                        "lines": [{"name": "exit", "points": [[0, 0], [1, 1]]}]})
    expected = LOBBY.model_dump(mode="json", exclude_defaults=True)
    del expected["fps"]
    expected["counting"]["line_margin"] = 0.05
    expected |= {"max_width": 800, "lines": [{"name": "exit", "points": [[0, 0], [1, 1]]}]}
    stored = list_cameras(redis_client, KEYS)["lobby"]
    assert stored == CameraConfig.model_validate(expected)
    assert got == 200 and answer["url"] == mask_url(LOBBY.url)
    assert answer == stored.model_dump(mode="json") | {"url": mask_url(LOBBY.url)}
    assert stored.counting.masks == LOBBY.counting.masks and stored.webhooks == LOBBY.webhooks
    assert stored.counting.rules("car").min_frames == 2
    assert patch(base, "lobby", {"loop": True}, "application/json")[0] == 200


@pytest.mark.parametrize("body, media_type, status, reason", [
    ({"fps": 1}, "text/plain", 415, "merge-patch+json"),
    (b"{", "application/json", 400, "JSON object"),
    ([1], "application/json", 400, "JSON object"),
    ({"fps": 500}, "application/json", 400, "fps"),
    ({"zones": None}, "application/json", 400, "unknown zones"),
    ({"lines": [{"name": "x", "points": [[0, 0]]}]}, "application/json", 400, "lines.0.points"),
    ({"url": "rtsp://a:literal@h/s"}, "application/json", 400, "credentials"),
    ({"name": "other"}, "application/json", 400, "name"),
    ({"nope": 1}, "application/json", 400, "nope: unknown key"),
    ({"nope": None}, "application/json", 400, "nope: unknown key"),
    ({"events": {"clipz": None}}, "application/json", 400, "events.clipz: unknown key"),
    ({"counting": {"classes": {"car": {"min_framez": None}}}}, "application/json", 400,
     "counting.classes.car.min_framez: unknown key"),
])
def test_bad_patches_change_nothing(api, redis_client, body, media_type, status,  # noqa: F811
                                    reason):
    store_camera(redis_client, KEYS, LOBBY)
    got, answer = patch(api[0], "lobby", body, media_type)
    assert got == status and reason in answer["error"], answer
    assert list_cameras(redis_client, KEYS)["lobby"] == LOBBY


def test_a_null_inside_an_object_resets_that_key_alone(api, redis_client):  # noqa: F811
    store_camera(redis_client, KEYS, LOBBY)
    got, _ = patch(api[0], "lobby", {"counting": {"min_frames": None, "classes": {"car": None}}})
    stored = list_cameras(redis_client, KEYS)["lobby"]
    assert got == 200 and LOBBY.counting.min_frames == 4 and stored.counting.min_frames == 3
    assert stored.counting.masks == LOBBY.counting.masks and "car" not in stored.counting.classes


def test_an_unknown_camera_is_a_404(api):  # noqa: F811
    assert patch(api[0], "ghost", {"fps": 1}) == (404, {"error": "unknown camera: ghost"})
