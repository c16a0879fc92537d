"""Every expected failure of the ``cctv`` command is one line, ``cctv: <what>: <why>``, with
exit 2 for usage and 1 for runtime errors; no traceback unless ``-v``."""

import json

from test_cli import cctv


def test_status_survives_keys_of_the_wrong_type(redis_url, redis_client):
    redis_client.set("cctv:frames:x", "y")
    redis_client.sadd("cctv:camera-names", "x")
    out = cctv(redis_url, "status")
    assert "Traceback" not in out.stderr and "unreadable keys" in out.stdout
    camera = json.loads(cctv(redis_url, "status", "--json").stdout)["cameras"]["x"]
    assert camera["state"] == "error" and "WRONGTYPE" in camera["error"]
