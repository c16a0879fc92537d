"""Junk in one camera never stops a service or another camera: ingest, a worker, a tracker and
the webhooks sender run in threads against one Redis; camera ``good`` streams a looping video
while Hypothesis writes junk of camera ``bad`` straight into Redis for a fixed budget (entries of
each of its streams, its config, its tracker snapshot, event records and changes, its keys
holding the wrong type). Every service stays up, every frame of ``good`` is detected and
tracked, each bad entry costs at most a log line or a dead letter, and the API's readers answer
200 or a JSON 4xx throughout."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from contextlib import contextmanager
from typing import Any, Iterator

import cv2
import numpy as np
import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from junk import dumps, fuzz_fields, fuzz_json_fields, json_text, json_values, nested
from starlette.applications import Starlette

from api.rest import rest_routes
from common.cameras import CameraConfig
from common.event_changes import ChangeKind, EventChange
from common.events import Event, event_id
from common.keys import KEYS
from common.messages import DetectedObject, DetectionMessage, FrameMessage
from common.records import DeadLetter
from common.tracks import TrackedObject, TrackMessage
from ingest.service import IngestService
from ingest.settings import IngestSettings
from integrations.settings import WebhookSettings
from integrations.webhooks import WebhookService
from runtime.camera_list import store_camera
from runtime.status import collect_status
from tracking.service import Tracker
from tracking.settings import TrackerSettings
from workers.service import Worker
from workers.settings import WorkerSettings

pytestmark = pytest.mark.slow

BUDGET_S = 20.0
"""How long each phase writes junk (its examples paced over it): first entries and values only,
then also the snapshot and keys of the wrong type (which stop ``bad`` in the tracker for a
while, so its detections entries are read in the first phase)."""
EXAMPLES = 200
API_EVERY = 10
"""The API's readers and ``collect_status`` are called after every tenth junk entry."""
SETTLE_S = 120.0
"""Generous deadline for ``good``'s last frames to be detected and tracked after the budget."""

GOOD, BAD = "good", "bad"
TINY_JPEG = cv2.imencode(".jpg", np.zeros((16, 16, 3), np.uint8))[1].tobytes()
BOX = DetectedObject("person", 1, 0.9, (1.0, 2.0, 3.0, 4.0))
FRAME = FrameMessage(BAD, 1, 1.7e9, 16, 16, TINY_JPEG, "file").to_fields()
DETECTIONS = DetectionMessage(BAD, "1-0", 3, 1.7e9, 1.7e9, "w", 16, 16, [BOX]).to_fields()
TRACKS = TrackMessage(BAD, "5-0", 4, 1.7e9, 16, 16, [TrackedObject(7, "person", 1, 0.9,
                                                                   BOX.box)]).to_fields()
EVENT = Event(event_id(BAD, 7, 1.7e9), BAD, "person", 1.7e9, zones=["z"])
CHANGE = EventChange.of(ChangeKind.NEW, EVENT).to_fields()
CAMERA_KEYS = {KEYS.frames(BAD): "stream", KEYS.detections(BAD): "stream",
               KEYS.tracks(BAD): "stream", KEYS.tracker_state(BAD): "hash",
               KEYS.tracker_lock(BAD): "string", KEYS.state(BAD): "hash",
               KEYS.stats(BAD): "hash", KEYS.track_stats(BAD): "hash", KEYS.zones(BAD): "hash",
               KEYS.in_view(BAD): "hash", KEYS.open_events(BAD): "set",
               KEYS.camera_events(BAD): "zset"}
"""The keys of ``bad`` that services read, with the type they should hold."""
DEEP_CAMERA = '{"name": "bad", "url": "x.mp4", "lines": ' + "[" * 5000 + "]" * 5000 + "}"


class SquareDetector:
    """Finds the orange square of the ``small_video`` fixture (a fast stand-in detector)."""

    def detect(self, frames: list[np.ndarray]) -> list[list[DetectedObject]]:
        found = []
        for frame in frames:
            mask = cv2.inRange(frame, (0, 150, 200), (90, 255, 255))
            x, y, w, h = cv2.boundingRect(mask)
            found.append([DetectedObject("person", 1, 0.9, (x, y, x + w, y + h))] if w else [])
        return found


# -- junk of camera ``bad``, as (kind, payload) --------------------------------------------------
specials = st.sampled_from([
    DETECTIONS | {"seq": "-5"}, DETECTIONS | {"ts": "1e300"}, DETECTIONS | {"ts": "NaN"},
    DETECTIONS | {"detections": json.dumps([BOX.to_dict()] * 5000)},
    DETECTIONS | {"detections": json.dumps([{"box": [1e300, 0, "x", None]}])},
    DETECTIONS | {"camera": GOOD}])
camera_json = st.one_of(json_text, nested, st.dictionaries(
    st.sampled_from(["name", "url", "fps", "zones", "lines", "counting", "motion", "events"]),
    json_values).map(lambda d: dumps({"name": BAD, "url": "x.mp4"} | d)))
snapshot_json = st.one_of(json_text, st.dictionaries(
    st.sampled_from(["v", "frame_id", "seq", "resume_id", "read_id", "bytetrack", "objects"]),
    json_values).map(dumps))
event_json = st.one_of(json_text, st.dictionaries(
    st.sampled_from(sorted(EVENT.to_dict())), json_values).map(
        lambda d: dumps(EVENT.to_dict() | d)))
wrong_types = st.sampled_from(["string", "list", "set", "zset", "hash", "stream"])

entry_junk = st.one_of(
    st.tuples(st.just("frames"), st.one_of(fuzz_fields(FRAME), fuzz_json_fields(FRAME,
                                                                                ["motion"]))),
    st.tuples(st.just("detections"), st.one_of(
        fuzz_fields(DETECTIONS), fuzz_json_fields(DETECTIONS, ["detections"]), specials)),
    st.tuples(st.just("tracks"), st.one_of(fuzz_fields(TRACKS), fuzz_json_fields(
        TRACKS, ["tracks", "crossings", "zones", "counts", "stays"]))),
    st.tuples(st.just("config"), camera_json),
    st.tuples(st.just("event"), st.tuples(
        st.one_of(st.just(EVENT.id), st.text(min_size=1, max_size=30)), event_json,
        st.floats(allow_nan=False))),
    st.tuples(st.just("change"), fuzz_fields(CHANGE)))
any_junk = st.one_of(
    entry_junk, st.tuples(st.just("snapshot"), snapshot_json),
    st.tuples(st.just("wrong_type"), st.tuples(st.sampled_from(sorted(CAMERA_KEYS)),
                                               wrong_types)))


def make_type(client: redis.Redis, key: str, kind: str) -> None:
    """``key`` holding a ``kind`` (anything else there is deleted first)."""
    if client.type(key).decode() == kind:
        return
    client.delete(key)
    {"string": lambda: client.set(key, "junk"), "list": lambda: client.rpush(key, "junk"),
     "set": lambda: client.sadd(key, "junk"), "zset": lambda: client.zadd(key, {"junk": 1}),
     "hash": lambda: client.hset(key, "junk", "1"),
     "stream": lambda: client.xadd(key, {"junk": "1"})}[kind]()


def write_junk(client: redis.Redis, kind: str, payload: Any) -> None:
    """One junk entry of ``bad``, its key first made of the right type where it needs one."""
    if kind in ("frames", "detections", "tracks"):
        key = getattr(KEYS, kind)(BAD)
        if client.type(key).decode() not in ("stream", "none"):
            client.delete(key)
        client.xadd(key, payload, maxlen=10_000)
    elif kind == "config":
        client.hset(KEYS.cameras, BAD, payload)
    elif kind == "snapshot":
        make_type(client, KEYS.tracker_state(BAD), "hash")
        client.hset(KEYS.tracker_state(BAD), "snapshot", payload)
        client.delete(KEYS.tracker_lock(BAD))  # the tracker takes the camera again from it
    elif kind == "event":
        member, record, score = payload
        make_type(client, KEYS.camera_events(BAD), "zset")
        client.hset(KEYS.events, member, record)
        client.zadd(KEYS.events_time, {member: score})
        client.zadd(KEYS.camera_events(BAD), {member: score})
    elif kind == "change":
        client.xadd(KEYS.event_updates, payload, maxlen=10_000)
    else:
        key, wrong = payload
        if wrong != CAMERA_KEYS[key]:
            client.delete(key)
            make_type(client, key, wrong)


# -- running the services and calling the API ----------------------------------------------------
@contextmanager
def services(named: dict[str, Any]) -> Iterator[dict[str, threading.Thread]]:
    """Each service's ``run(stop)`` in its own thread; all stopped (and joined) afterwards."""
    stops = {name: threading.Event() for name in named}
    threads = {name: threading.Thread(target=service.run, args=(stops[name],), name=name)
               for name, service in named.items()}
    for thread in threads.values():
        thread.start()
    try:
        yield threads
    finally:
        for stop in stops.values():
            stop.set()
        for thread in threads.values():
            thread.join(60)
    assert not any(t.is_alive() for t in threads.values()), "a service did not stop"


def write_paced(client: redis.Redis, app: Starlette, junk: st.SearchStrategy,
                written: list[str]) -> None:
    """Hypothesis's first :data:`EXAMPLES` of ``junk`` (the same every run) written over
    :data:`BUDGET_S`, their kinds appended to ``written``; the readers checked now and then."""
    start, first = time.monotonic(), len(written)

    @settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(junk)
    def write(entry: tuple[str, Any]) -> None:
        slot = start + (len(written) - first) * BUDGET_S / EXAMPLES
        if slot > start + BUDGET_S:
            return
        time.sleep(max(0.0, slot - time.monotonic()))
        write_junk(client, *entry)
        written.append(entry[0])
        if len(written) % API_EVERY == 0:
            check_readers(client, app)

    write()


def asgi_get(app: Starlette, path: str) -> tuple[int, dict[str, str], bytes]:
    """GET ``path`` through the ASGI app itself: (status, headers, body)."""
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
             "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
             "root_path": "", "headers": [], "server": ("test", 80), "client": ("test", 1)}
    asyncio.run(app(scope, receive, send))
    headers = {k.decode(): v.decode() for k, v in sent[0].get("headers", [])}
    return sent[0]["status"], headers, b"".join(m.get("body", b"") for m in sent[1:])


def check_readers(client: redis.Redis, app: Starlette) -> None:
    """The API's readers answer 200 or a JSON 4xx, and ``collect_status`` does not raise."""
    for path in ("/api/events", f"/api/events?camera={BAD}", "/api/status", "/api/cameras",
                 f"/api/events/{EVENT.id}"):
        status, headers, body = asgi_get(app, path)
        assert status == 200 or 400 <= status < 500, (path, status, body[:300])
        assert headers["content-type"] == "application/json" and json.loads(body), path
    collect_status(client, KEYS)


def tracked_to(client: redis.Redis, frame_id: str) -> bool:
    last = client.xrevrange(KEYS.tracks(GOOD), count=1)
    return bool(last) and TrackMessage.from_fields(last[0][1]).frame_id == frame_id


def processed(client: redis.Redis, camera: str) -> int:
    return int(client.hget(KEYS.stats(camera), "frames_processed") or 0)


@pytest.mark.timeout(400)
def test_junk_in_one_camera_stops_no_service_and_no_other_camera(
        redis_client, redis_url, small_video, tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    store_camera(redis_client, KEYS, CameraConfig(name=GOOD, url=str(small_video), loop=True,
                                                  realtime=True, fps=5))
    redis_client.hset(KEYS.cameras, BAD, DEEP_CAMERA)  # there before any service starts
    redis_client.sadd(KEYS.camera_names, BAD)
    ingest = IngestService(redis_client, IngestSettings(redis_url=redis_url, stream_maxlen=10_000,
                                                        camera_poll_s=0.2))
    named = {
        "worker": Worker(redis_client, WorkerSettings(
            redis_url=redis_url, worker_id="w", batch_size=4, lanes=1, heartbeat_s=0.5,
            claim_idle_ms=1000), SquareDetector()),
        "tracker": Tracker(redis_client, TrackerSettings(
            redis_url=redis_url, tracker_id="t", tracker_poll_s=0.2, media_dir=tmp_path,
            event_clips=False)),
        "webhooks": WebhookService(redis_client, WebhookSettings(redis_url=redis_url)),
    }
    app = Starlette(routes=rest_routes(redis_client, KEYS, tmp_path, None))
    written = []
    ingest_stop = threading.Event()
    ingest_thread = threading.Thread(target=ingest.run, args=(ingest_stop,), name="ingest")

    with services(named) as threads:
        ingest_thread.start()
        write_paced(redis_client, app, entry_junk, written)
        write_paced(redis_client, app, any_junk, written)
        alive = {name: t.is_alive() for name, t in threads.items()} | {
            "ingest": ingest_thread.is_alive()}
        ingest_stop.set()
        ingest_thread.join(60)
        assert not ingest_thread.is_alive(), "ingest did not stop"
        frames = [e[0].decode() for e in redis_client.xrange(KEYS.frames(GOOD))]
        deadline = time.monotonic() + SETTLE_S
        while not (processed(redis_client, GOOD) == len(frames)
                   and tracked_to(redis_client, frames[-1])) and time.monotonic() < deadline:
            time.sleep(0.2)
        check_readers(redis_client, app)
        alive |= {name: t.is_alive() for name, t in threads.items()}

    assert all(alive.values()), f"a service stopped: {alive}"
    assert len(frames) > 50, f"ingest published {len(frames)} frames of {GOOD}"
    assert processed(redis_client, GOOD) == len(frames)
    assert tracked_to(redis_client, frames[-1])
    letters = [DeadLetter.from_fields(f) for _, f in redis_client.xrange(KEYS.dead_letter)]
    assert {letter.camera for letter in letters} <= {BAD}
    assert {letter.stream for letter in letters} >= {"frames", "detections"}
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert "Traceback" not in caplog.text
    assert len(warnings) < 2 * len(written), f"{len(warnings)} lines for {len(written)} entries"
    config_lines = [m for m in warnings if m.startswith("camera list:")]
    assert len(config_lines) <= 2 * written.count("config") + 2  # ingest's and the tracker's
    assert not [m for m in warnings if f"camera {GOOD}" in m or f"[{GOOD}]" in m]
