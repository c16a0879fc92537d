"""Event clips cut from the camera's recording: the tracker's ended event names its clip range
(no encoder); ``GET /api/events/{id}/clip.mp4`` cuts it from the recording (the source's codec
and size, the range plus at most a keyframe interval), caches it; answers 503 with
``Retry-After`` while the segment holding the range's end is not closed yet, and 404 with the
reason once no segment covers the range (not recorded, or deleted by retention), the event
staying."""

from __future__ import annotations

import json
import threading
import time

import pytest
import uvicorn
from recorded import FPS, T0, encode_h264, record
from starlette.applications import Starlette
from test_live_routes import free_port
from test_rest import PASSWORD, call

from api.event_clips import CLOSE_MARGIN_S, DELETED, NONE_KEPT, NOT_RECORDED, NOT_YET
from api.rest import rest_routes
from common.cameras import CameraConfig
from common.events import Event
from common.keys import KEYS
from common.record_config import RecordConfig
from common.tracks import TrackedObject, TrackMessage
from media.video import probe
from runtime.camera_list import store_camera
from runtime.event_store import load_event
from runtime.recordings import delete_segment
from tracking.events import EventBuilder, Rules, write_changes

RULES = Rules(end_after_s=3.0, pre_s=2.0, post_s=2.0)
SEGMENT_S = 3.0
"""The stored camera's ``record.segment_s``."""
KEYFRAME_INTERVAL_S = 1.0
"""The test video's GOP (``g=25`` at 25 fps)."""


@pytest.fixture(scope="module")
def h264_video(sample_video, tmp_path_factory):
    return encode_h264(sample_video, tmp_path_factory.mktemp("h264") / "gop25.mp4")


def track_event(client, camera: str, start_ts: float, end_ts: float) -> Event:
    """One object of ``camera`` seen from ``start_ts`` to ``end_ts``, through the tracker's
    event builder and writer; returns the stored record once its end is written."""
    builder = EventBuilder(camera, RULES)
    car = TrackedObject(3, "car", 3, 0.9, (10, 10, 50, 50))
    frames = [(start_ts, [car]), (end_ts, [car]), (end_ts + RULES.end_after_s, [])]
    for seq, (ts, tracks) in enumerate(frames):
        msg = TrackMessage(camera, f"{int(ts * 1000)}-0", seq, ts, 640, 272, tracks)
        changes = builder.frame(msg, lambda i: [])
        write_changes(client, KEYS, camera, changes)
    return load_event(client, KEYS, changes.events[0].event.id)


def store(client, camera: str, video) -> None:
    store_camera(client, KEYS, CameraConfig(name=camera, url=str(video), record=RecordConfig(
        enabled=True, segment_s=SEGMENT_S)))
    client.sadd(KEYS.camera_names, camera)


@pytest.fixture
def serve(redis_client, tmp_path):
    """The REST API over ``tmp_path/media`` and the recordings under ``tmp_path/recordings``."""
    servers = []

    def start() -> str:
        routes = rest_routes(redis_client, KEYS, tmp_path / "media", PASSWORD,
                             tmp_path / "recordings")
        server = uvicorn.Server(uvicorn.Config(Starlette(routes=routes), host="127.0.0.1",
                                               port=free_port(), log_level="warning"))
        threading.Thread(target=server.run, daemon=True).start()
        while not server.started:
            time.sleep(0.02)
        servers.append(server)
        return f"http://127.0.0.1:{server.config.port}"

    yield start
    for server in servers:
        server.should_exit = True


def no_clip(base: str, event: Event, why: str) -> None:
    """The event is listed without a clip and its clip route says ``why`` (404)."""
    status, _, body = call(f"{base}/api/events/{event.id}")
    assert status == 200 and json.loads(body)["has_clip"] is False
    status, headers, body = call(f"{base}/api/events/{event.id}/clip.mp4")
    assert status == 404 and headers["content-type"] == "application/json"
    assert json.loads(body) == {"error": f"event {event.id} has no clip: {why}"}


def test_a_clip_is_cut_from_the_recording_until_retention_deletes_it(redis_client, tmp_path,
                                                                     h264_video, serve):
    root = (tmp_path / "recordings").resolve()
    segments = record(redis_client, h264_video, root)
    store(redis_client, "gate", h264_video)
    event = track_event(redis_client, "gate", T0 + 3.2, T0 + 6.1)
    from_ts, to_ts = T0 + 1.2, T0 + 8.1
    assert event.end_ts == T0 + 6.1 and event.recorded_clip == [from_ts, to_ts]
    assert event.clip and not (tmp_path / "media" / event.clip).exists()  # cut on request

    base = serve()
    listed = json.loads(call(f"{base}/api/events")[2])["events"]
    assert [e["has_clip"] for e in listed] == [True]
    status, headers, body = call(f"{base}/api/events/{event.id}/clip.mp4")
    assert status == 200 and headers["content-type"] == "video/mp4"
    cached = tmp_path / "media" / event.clip
    assert cached.read_bytes() == body
    info = probe(cached)
    assert (info.codec, info.width, info.height) == ("h264", 640, 272)
    extra = info.packets - round((to_ts - from_ts) * FPS)  # from the keyframe at or before
    assert 0 <= extra <= KEYFRAME_INTERVAL_S * FPS + 1, extra
    assert call(f"{base}/api/events/{event.id}/clip.mp4")[2] == body

    kept = [s for s in segments if s.start_ts >= to_ts]
    assert kept and len(kept) < len(segments)
    for segment in segments:  # retention: the oldest first
        if segment not in kept:
            delete_segment(redis_client, KEYS, root, segment)
    no_clip(base, event, DELETED)
    assert [e["has_clip"] for e in json.loads(call(f"{base}/api/events")[2])["events"]] == [False]
    assert not cached.exists() and load_event(redis_client, KEYS, event.id) is not None
    for segment in kept:
        delete_segment(redis_client, KEYS, root, segment)
    no_clip(base, event, NONE_KEPT)


def test_a_range_between_kept_segments_was_not_recorded(redis_client, tmp_path, h264_video,
                                                        serve):
    root = (tmp_path / "recordings").resolve()
    segments = record(redis_client, h264_video, root)
    store(redis_client, "gate", h264_video)
    event = track_event(redis_client, "gate", T0 + 5.5, T0 + 6.5)
    from_ts, to_ts = event.recorded_clip
    gap = [s for s in segments if s.end_ts > from_ts and s.start_ts < to_ts]
    assert gap and segments[0] not in gap  # an older segment stays
    for segment in gap:
        delete_segment(redis_client, KEYS, root, segment)
    no_clip(serve(), event, NOT_RECORDED)


def test_a_clip_waits_for_the_segment_that_holds_its_end(redis_client, tmp_path, h264_video,
                                                         serve):
    t0 = time.time() - 10.5  # the last segment closed just now
    record(redis_client, h264_video, tmp_path / "recordings", t0=t0)
    store(redis_client, "gate", h264_video)
    event = track_event(redis_client, "gate", t0 + 8.0, t0 + 9.5)
    assert event.recorded_clip == [t0 + 6.0, t0 + 11.5]
    base = serve()
    assert json.loads(call(f"{base}/api/events/{event.id}")[2])["has_clip"] is False
    status, headers, body = call(f"{base}/api/events/{event.id}/clip.mp4")
    assert status == 503 and headers["content-type"] == "application/json"
    closes_in = t0 + 11.5 + SEGMENT_S + CLOSE_MARGIN_S - time.time()
    assert closes_in - 1 <= int(headers["retry-after"]) <= closes_in + 1
    assert NOT_YET in json.loads(body)["error"]


def test_a_recording_that_stopped_early_gives_a_shorter_clip_once_due(redis_client, tmp_path,
                                                                      h264_video, serve):
    """The range runs past the recording's end, which was due long ago: the clip is what was
    recorded (no 503 for ever)."""
    t0 = time.time() - 40.0
    record(redis_client, h264_video, tmp_path / "recordings", t0=t0)
    store(redis_client, "gate", h264_video)
    event = track_event(redis_client, "gate", t0 + 8.0, t0 + 9.5)
    status, headers, body = call(f"{serve()}/api/events/{event.id}/clip.mp4")
    assert status == 200 and headers["content-type"] == "video/mp4"
    assert probe(tmp_path / "media" / event.clip).packets <= (10.0 - 6.0 + 1) * FPS
