"""Event clips of a camera that records: the tracker's media thread starts no encoder and names
the clip range; ``GET /api/events/{id}/clip.mp4`` cuts it from the recording (ffprobe: the
source's codec and size, the range plus at most a keyframe interval), caches it, and answers 404
with the reason once retention deleted the segments, the event staying."""

from __future__ import annotations

import json
import threading
import time

import pytest
import uvicorn
from ffprobe import probe_stream
from recorded import FPS, T0, encode_h264, record
from starlette.applications import Starlette
from test_live_routes import free_port
from test_recordings import duration_s
from test_rest import PASSWORD, call

from api.event_clips import DELETED, NOT_YET
from api.rest import rest_routes
from common.cameras import CameraConfig
from common.events import Event, event_id
from common.keys import KEYS
from common.record_config import RecordConfig
from runtime.camera_list import store_camera
from runtime.event_store import load_event, save_event
from runtime.recordings import delete_segment
from tracking import event_media
from tracking.events import ClipJob, ClipStart, Rules, media_name

RULES = Rules(end_after_s=3.0, pre_s=2.0, post_s=2.0)
KEYFRAME_INTERVAL_S = 1.0
"""The test video's GOP (``g=25`` at 25 fps)."""


@pytest.fixture(scope="module")
def h264_video(sample_video, tmp_path_factory):
    return encode_h264(sample_video, tmp_path_factory.mktemp("h264") / "gop25.mp4")


@pytest.fixture
def encoders(monkeypatch):
    """Counts the tracker's clip encoders: recordings started and clips made from Redis."""
    made: list[str] = []

    class CountedRecording(event_media.Recording):
        def __init__(self, *args, **kwargs):
            made.append("recording")
            super().__init__(*args, **kwargs)

    def counted_clip(self, job):
        made.append("clip")

    monkeypatch.setattr(event_media, "Recording", CountedRecording)
    monkeypatch.setattr(event_media.EventMedia, "clip", counted_clip)
    return made


def track_event(client, media_dir, camera: str, start_ts: float, end_ts: float) -> Event:
    """One event of ``camera`` through the tracker's media thread, as the builder submits it
    (start, then end); returns the stored record once its end is written."""
    ident = event_id(camera, 3, start_ts)
    name = media_name(camera, ident, start_ts, ".mp4")
    event = Event(ident, camera, "person", start_ts, None, 0.9, track_id=3, last_ts=end_ts)
    save_event(client, KEYS, event)
    media = event_media.EventMedia(client, KEYS, media_dir, RULES, max_age_s=86_400,
                                   max_bytes=2**30, prune_every_s=3600)
    media.submit(ClipStart(ident, camera, start_ts - RULES.pre_s, name, 1.0))
    event.end_ts = end_ts
    media.submit(ClipJob(event, camera, start_ts - RULES.pre_s, end_ts + RULES.post_s, name))
    media.stop()
    return load_event(client, KEYS, ident)


def store(client, camera: str, video, enabled: bool | None) -> None:
    store_camera(client, KEYS, CameraConfig(name=camera, url=str(video),
                                            record=RecordConfig(enabled=enabled, segment_s=3)))


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


def test_a_recorded_camera_gets_its_clip_cut_from_the_recording(redis_client, tmp_path,
                                                                h264_video, encoders, serve):
    segments = record(redis_client, h264_video, tmp_path / "recordings")
    store(redis_client, "gate", h264_video, enabled=True)
    redis_client.sadd(KEYS.camera_names, "gate")
    event = track_event(redis_client, tmp_path / "media", "gate", T0 + 3.2, T0 + 6.1)
    assert encoders == []  # no encoder ran for it
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
    stream = probe_stream(cached)
    assert (stream["codec_name"], stream["width"], stream["height"]) == ("h264", 640, 272)
    extra = duration_s(cached) - (to_ts - from_ts)  # from the keyframe at or before from_ts
    assert 0 <= extra <= KEYFRAME_INTERVAL_S + 1 / FPS, extra
    assert call(f"{base}/api/events/{event.id}/clip.mp4")[2] == body

    for segment in segments:  # retention
        delete_segment(redis_client, KEYS, (tmp_path / "recordings").resolve(), segment)
    status, _, body = call(f"{base}/api/events/{event.id}")
    assert status == 200 and json.loads(body)["has_clip"] is False
    assert [e["has_clip"] for e in json.loads(call(f"{base}/api/events")[2])["events"]] == [False]
    status, headers, body = call(f"{base}/api/events/{event.id}/clip.mp4")
    assert status == 404 and headers["content-type"] == "application/json"
    assert json.loads(body) == {"error": f"event {event.id} has no clip: {DELETED}"}
    assert not cached.exists() and load_event(redis_client, KEYS, event.id) is not None


def test_a_clip_waits_for_the_segment_that_holds_its_end(redis_client, tmp_path, h264_video,
                                                         encoders, serve):
    t0 = time.time() - 10.5  # the last segment closed just now
    record(redis_client, h264_video, tmp_path / "recordings", t0=t0)
    event = track_event(redis_client, tmp_path / "media", "gate", t0 + 8.0, t0 + 9.5)
    assert encoders == [] and event.recorded_clip == [t0 + 6.0, t0 + 11.5]
    base = serve()
    assert json.loads(call(f"{base}/api/events/{event.id}")[2])["has_clip"] is False
    status, _, body = call(f"{base}/api/events/{event.id}/clip.mp4")
    assert status == 404 and json.loads(body)["error"].endswith(NOT_YET)


def test_a_camera_with_recording_off_keeps_the_encoded_clip(redis_client, tmp_path, h264_video,
                                                             encoders):
    record(redis_client, h264_video, tmp_path / "recordings")
    store(redis_client, "gate", h264_video, enabled=False)
    event = track_event(redis_client, tmp_path / "media", "gate", T0 + 3.2, T0 + 6.1)
    assert encoders == ["recording"] and event.recorded_clip is None
