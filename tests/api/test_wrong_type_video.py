"""A camera whose frames key holds another type: latest.jpg and live.mjpg answer a JSON 503
naming the key, never a traceback."""

import asyncio
import json

from starlette.applications import Starlette

from api.live import LiveHub
from api.routes import live_routes
from common.keys import KEYS


def get(app: Starlette, path: str) -> tuple[int, bytes]:
    """One GET through the ASGI app: (status, body)."""
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": path, "query_string": b"", "headers": [],
             "http_version": "1.1", "scheme": "http", "server": ("test", 80), "root_path": ""}
    asyncio.run(app(scope, receive, send))
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


def test_a_wrong_type_frames_key_is_a_json_503_naming_it(redis_client):
    redis_client.sadd(KEYS.camera_names, "lobby")
    redis_client.set(KEYS.frames("lobby"), "x")
    hub = LiveHub(redis_client, KEYS)
    try:
        app = Starlette(routes=live_routes(redis_client, KEYS, hub, None))
        for path in ("/cameras/lobby/latest.jpg", "/cameras/lobby/live.mjpg"):
            status, body = get(app, path)
            assert status == 503
            assert json.loads(body) == {
                "error": f"key {KEYS.frames('lobby')} is not a stream (it holds a string)"}
    finally:
        hub.stop()
