"""The REST API served by uvicorn against a real Redis: each route's happy path, each bad input
as a JSON 4xx, media files, the OpenAPI document, and the password."""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.parse
import urllib.request

import cv2
import numpy as np
import pytest
import uvicorn
from starlette.applications import Starlette
from test_live_routes import free_port, get

from api.openapi import SCHEMA
from api.rest import rest_routes
from common.events import Event, EventCrossing, event_id
from common.keys import KEYS
from common.urls import mask_url
from runtime.event_store import save_event

PASSWORD = "door-s3cret"


@pytest.fixture
def api(redis_client, tmp_path):
    """The routes on a free port (password set) over two stored events of ``gate``."""
    ok, jpeg = cv2.imencode(".jpg", np.zeros((48, 64, 3), np.uint8))
    (tmp_path / "gate").mkdir()
    (tmp_path / "gate/a.jpg").write_bytes(jpeg.tobytes())
    (tmp_path / "gate/a-crop.jpg").write_bytes(cv2.imencode(".jpg", np.zeros((8, 8, 3),
                                                                       np.uint8))[1].tobytes())
    (tmp_path / "gate/a.mp4").write_bytes(b"\x00\x00\x00\x18ftypisom")
    first = Event(event_id("gate", 1, 100.0), "gate", "person", 100.0, 104.0, 0.91, ["queue"],
                  [EventCrossing("door", "in")], snapshot="gate/a.jpg", clip="gate/a.mp4")
    second = Event(event_id("gate", 2, 200.0), "gate", "car", 200.0, None, 0.7)
    for event in (first, second):
        save_event(redis_client, KEYS, event)
    redis_client.sadd(KEYS.camera_names, "gate")
    server = uvicorn.Server(uvicorn.Config(
        Starlette(routes=rest_routes(redis_client, KEYS, tmp_path, PASSWORD)),
        host="127.0.0.1", port=free_port(), log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    yield f"http://127.0.0.1:{server.config.port}", first, second
    server.should_exit = True
    thread.join(10)


AUTH = {"Authorization": "Basic " + base64.b64encode(f"me:{PASSWORD}".encode()).decode()}


def call(url: str, method: str = "GET", body: bytes | None = None,
         auth: bool = True) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(url, data=body, method=method, headers=AUTH if auth else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, dict(reply.headers), reply.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def test_events_list_one_and_pages(api):
    base, first, second = api
    status, headers, body = call(f"{base}/api/events")
    assert status == 200 and headers["content-type"] == "application/json"
    assert json.loads(body) == {"events": [second.to_dict(), first.to_dict()], "cursor": None}
    page = json.loads(call(f"{base}/api/events?limit=1")[2])
    assert page["events"] == [second.to_dict()] and page["cursor"]
    rest = json.loads(call(f"{base}/api/events?limit=1&cursor={page['cursor']}")[2])
    assert rest["events"] == [first.to_dict()]
    assert json.loads(call(f"{base}/api/events?limit=1&cursor={rest['cursor']}")[2]) == \
        {"events": [], "cursor": None}
    for query, expected in [("camera=gate&label=car", [second]), ("zone=queue", [first]),
                            ("after=150", [second]), ("before=1970-01-01T00:02:30Z", [first]),
                            ("after=0&before=100", [])]:
        assert json.loads(call(f"{base}/api/events?{query}")[2])["events"] == \
            [e.to_dict() for e in expected], query
    assert json.loads(call(f"{base}/api/events/{first.id}")[2]) == first.to_dict()


def test_snapshot_crop_and_clip(api):
    base, first, second = api
    status, headers, body = call(f"{base}/api/events/{first.id}/snapshot.jpg")
    assert status == 200 and headers["content-type"] == "image/jpeg" and body[:2] == b"\xff\xd8"
    crop = call(f"{base}/api/events/{first.id}/snapshot.jpg?crop=1")[2]
    assert crop.endswith(b"\xff\xd9") and crop != body
    status, headers, body = call(f"{base}/api/events/{first.id}/clip.mp4")
    assert status == 200 and headers["content-type"] == "video/mp4" and b"ftyp" in body



def test_an_open_events_snapshot_is_not_cached(api, redis_client):
    base, first, _ = api
    assert call(f"{base}/api/events/{first.id}/snapshot.jpg")[1]["cache-control"] == \
        "max-age=3600"
    first.end_ts = None  # still open: a better snapshot may replace this one
    save_event(redis_client, KEYS, first)
    assert call(f"{base}/api/events/{first.id}/snapshot.jpg")[1]["cache-control"] == "no-cache"

@pytest.mark.parametrize("path, status, reason", [
    ("/api/events?after=yesterday", 400, "after is neither"),
    ("/api/events?before=nan", 400, "before must be finite"),
    ("/api/events?after=5&before=5", 400, "after must be earlier"),
    ("/api/events?limit=0", 400, "limit must be"),
    ("/api/events?limit=501", 400, "limit must be"),
    ("/api/events?limit=x", 400, "limit must be"),
    ("/api/events?cursor=zzz", 400, "bad cursor"),
    ("/api/events?camera=nowhere", 404, "unknown camera: nowhere"),
    ("/api/events/nope", 404, "unknown event: nope"),
    ("/api/events/%3Cscript%3E", 404, "unknown event: <script>"),
    ("/api/events/a%2F..%2F..%2Fb/clip.mp4", 404, "no such route"),
    ("/api/events/gate.200000.2/clip.mp4", 404, "has no clip"),
    ("/api/events/gate.200000.2/snapshot.jpg", 404, "has no snapshot"),
    ("/api/events/gate.100000.1/snapshot.jpg?crop=2", 400, "crop must be 0 or 1"),
    ("/api/nothing", 404, "no such route"),
])
def test_bad_inputs_are_json_errors(api, path, status, reason):
    got, headers, body = call(api[0] + path)
    assert got == status and headers["content-type"] == "application/json"
    assert reason in json.loads(body)["error"]


def test_status_and_cameras(api, redis_client):
    base = api[0]
    status = json.loads(call(f"{base}/api/status")[2])
    assert set(status) >= {"cameras", "workers", "queues"} and "gate" in status["cameras"]
    camera = json.dumps({"name": "lobby", "url": "rtsp://viewer:${LOBBY_PW}@192.0.2.1/s",
                         "fps": 5}).encode()
    assert call(f"{base}/api/cameras", "POST", camera)[:1] == (201,)
    listed = json.loads(call(f"{base}/api/cameras")[2])["cameras"]
    assert listed["lobby"]["fps"] == 5
    assert listed["lobby"]["url"] == mask_url("rtsp://viewer:${LOBBY_PW}@192.0.2.1/s")
    for body, reason in [(b"{", "JSON camera object"), (b"[]", "JSON camera object"),
                         (json.dumps({"name": "x", "url": "rtsp://a:literal@h/s"}).encode(),
                          "credentials"),
                         (json.dumps({"name": "bad name", "url": "0"}).encode(), "name")]:
        got, headers, answer = call(f"{base}/api/cameras", "POST", body)
        assert got == 400 and reason in json.loads(answer)["error"], body
    assert json.loads(call(f"{base}/api/cameras/lobby", "DELETE")[2]) == {"removed": "lobby"}
    got, _, answer = call(f"{base}/api/cameras/lobby", "DELETE")
    assert got == 404 and json.loads(answer) == {"error": "unknown camera: lobby"}
    assert not redis_client.hexists(KEYS.cameras, "lobby")


def test_password_and_openapi(api):
    base, first, _ = api
    for path in ("/api/events", f"/api/events/{first.id}/clip.mp4", "/api/status",
                 "/api/cameras"):
        status, headers, body = call(base + path, auth=False)
        assert status == 401 and "Basic" in headers["www-authenticate"]
        assert "password" in json.loads(body)["error"]
    schema = json.loads(get(f"{base}/api/openapi.json")[2])
    assert schema["openapi"].startswith("3.") and "/api/events/{id}/clip.mp4" in schema["paths"]
    assert schema["components"]["schemas"]["Event"]["required"] == list(first.to_dict())


@pytest.mark.parametrize("path, reason", [
    ("/api/events?label=", "label"),
    ("/api/events?camera=bad%20name", "camera"),
    ("/api/events?limit=%C2%B2", "limit must be"),
    ("/api/events?after=2026-13-01T00:00:00Z", "after is neither"),
    ("/api/events?cursor=1~%3C", "bad cursor"),
])
def test_schema_violations_are_400s_naming_the_parameter(api, path, reason):
    got, headers, body = call(api[0] + path)
    assert got == 400 and reason in json.loads(body)["error"]


def test_methods_and_allow_follow_the_document(api):
    base, first, _ = api
    schema = json.loads(get(f"{base}/api/openapi.json")[2])
    for path, methods in [("/api/events", {"GET", "HEAD"}),
                          ("/api/cameras", {"GET", "HEAD", "POST"}),
                          ("/api/cameras/lobby", {"PATCH", "DELETE"})]:
        for method in {"OPTIONS", "PUT", "PATCH"} - methods:
            got, headers, body = call(base + path, method)
            assert got == 405 and set(headers["allow"].split(", ")) == methods, (path, method)
            assert "not allowed" in json.loads(body)["error"]
        templated = path.replace("lobby", "{name}")
        assert {m.upper() for m in schema["paths"][templated]} | {"HEAD"} >= methods
    assert call(f"{base}/api/events/{first.id}", "HEAD")[0] == 200


def test_a_long_or_foreign_token_is_a_401(api):
    for token in ("9" * 5000, "1" * 20 + ".é", "²." + "0" * 32):
        got, headers, body = call(f"{api[0]}/api/events?token={urllib.parse.quote(token)}",
                                  auth=False)
        assert got == 401 and "password" in json.loads(body)["error"]


def test_the_document_states_bounds_in_json_schema_words():
    """``minimum``/``maximum``, never pydantic's ``ge``/``le`` (which it writes for an annotated
    type in a union): a client or fuzzer would not know those bounds."""
    def pydantic_words(node: object) -> list[str]:
        if isinstance(node, list):
            return [word for item in node for word in pydantic_words(item)]
        if not isinstance(node, dict):
            return []
        own = sorted({"ge", "le", "gt", "lt"} & set(node)) if "type" in node else []
        return own + [word for value in node.values() for word in pydantic_words(value)]
    assert pydantic_words(SCHEMA) == []
