"""The camera list in Redis read whatever its field names hold: a name that is not UTF-8 or an
entry that names another camera is one bad entry, left out; the other cameras are read."""

from __future__ import annotations

import logging

from common.cameras import CameraConfig
from common.keys import KEYS
from runtime.camera_list import CameraListReader, published_camera_names, store_camera


def test_bad_field_names_cost_their_entry_alone(redis_client, caplog):
    store_camera(redis_client, KEYS, CameraConfig(name="lobby", url="/x.mp4"))
    redis_client.hset(KEYS.cameras, b"\xff\xfe", '{"name": "gate", "url": "/y.mp4"}')
    redis_client.hset(KEYS.cameras, "door", '{"name": "gate", "url": "/y.mp4"}')
    redis_client.sadd(KEYS.camera_names, b"\xff\xfe", "lobby")
    reader = CameraListReader(logging.getLogger("test"))
    with caplog.at_level(logging.ERROR, logger="test"):
        cameras, refused = reader.read(redis_client, KEYS)
    assert list(cameras) == ["lobby"] and refused == {"\ufffd\ufffd", "door"}
    assert "holds camera 'gate', not 'door'" in caplog.text
    assert published_camera_names(redis_client, KEYS) == ["lobby"]
