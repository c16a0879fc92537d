"""The camera list in Redis: a hash only, so fakeredis is enough (no stream semantics)."""

from __future__ import annotations

import fakeredis
import pytest

from common.cameras import CameraConfig
from common.keys import Keys
from common.schema import SettingsError
from runtime.camera_list import list_cameras, remove_camera, store_camera

KEYS = Keys(prefix="t")


@pytest.fixture
def client():
    return fakeredis.FakeRedis()


def test_store_list_replace_and_remove(client):
    store_camera(client, KEYS, CameraConfig(name="door", url="rtsp://cam/1", fps=5))
    store_camera(client, KEYS, CameraConfig(name="door", url="rtsp://cam/2"))
    store_camera(client, KEYS, CameraConfig(
        name="gate", url="rtsp://admin:${GATE_PASSWORD}@cam/1",
        lines=[{"name": "entry", "points": [[0.5, 0], [0.5, 1]]}]))
    cameras = list_cameras(client, KEYS)
    assert sorted(cameras) == ["door", "gate"]
    assert cameras["door"].url == "rtsp://cam/2" and cameras["door"].fps is None
    assert cameras["gate"].lines[0].name == "entry"
    remove_camera(client, KEYS, "door")
    assert list(list_cameras(client, KEYS)) == ["gate"]
    with pytest.raises(SettingsError, match=r"unknown camera 'door' \(configured: gate\)"):
        remove_camera(client, KEYS, "door")


def test_literal_credentials_are_refused_and_nothing_is_stored(client):
    with pytest.raises(SettingsError, match=r"\$\{VAR\}") as err:
        store_camera(client, KEYS, CameraConfig(name="x", url="rtsp://admin:hunter2@cam/1"))
    assert "hunter2" not in str(err.value)
    assert client.hlen(KEYS.cameras) == 0


def test_a_broken_stored_camera_is_named_in_the_error(client):
    client.hset(KEYS.cameras, "bad", "{not json")
    with pytest.raises(SettingsError, match=r"t:cameras\[bad\]: not JSON"):
        list_cameras(client, KEYS)
    client.hset(KEYS.cameras, "bad", '{"name": "bad", "url": "x", "fpz": 3}')
    with pytest.raises(SettingsError, match="fpz: unknown key"):
        list_cameras(client, KEYS)
