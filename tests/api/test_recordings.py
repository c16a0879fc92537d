"""The recordings routes served by uvicorn against a real Redis and real segments: listing, a
range as one MP4 (ffprobe: codec, size, duration, faststart), the objects of a range, each bad
request as a JSON 4xx, and the password."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from urllib.parse import urlencode

import pytest
import uvicorn
from ffprobe import faststart, probe_stream
from recorded import FPS, T0, box_at, encode_h264, keyframe_times, log_objects, record
from starlette.applications import Starlette
from test_live_routes import free_port
from test_rest import PASSWORD, call

from api.recordings import recording_routes, segment_dict
from api.rest import rest_routes
from common.keys import KEYS


@pytest.fixture(scope="module")
def h264_video(sample_video, tmp_path_factory):
    return encode_h264(sample_video, tmp_path_factory.mktemp("h264") / "gop25.mp4")


@pytest.fixture
def api(redis_client, tmp_path, h264_video):
    """The recordings routes (and the REST API behind them, as the dashboard mounts them) over
    camera ``gate``: 10 s recorded from :data:`T0` in segments of about 3 s, with its objects."""
    segments = record(redis_client, h264_video, tmp_path)
    frames = log_objects(redis_client, tmp_path)
    redis_client.sadd(KEYS.camera_names, "quiet")
    routes = recording_routes(redis_client, KEYS, tmp_path, PASSWORD) \
        + rest_routes(redis_client, KEYS, tmp_path, PASSWORD)
    server = uvicorn.Server(uvicorn.Config(Starlette(routes=routes), host="127.0.0.1",
                                           port=free_port(), log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    yield f"http://127.0.0.1:{server.config.port}", segments, frames
    server.should_exit = True
    thread.join(10)


def duration_s(path) -> float:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of",
                          "json", str(path)], capture_output=True, text=True, check=True)
    return float(json.loads(out.stdout)["format"]["duration"])


def test_recordings_are_listed_by_range(api):
    base, segments, _ = api
    assert len(segments) >= 3 and segments[0].start_ts == T0
    status, headers, body = call(f"{base}/api/recordings?camera=gate")
    assert status == 200 and headers["content-type"] == "application/json"
    assert json.loads(body) == {"recordings": [segment_dict(s) for s in segments]}
    assert set(json.loads(body)["recordings"][0]) == {"camera", "start_ts", "end_ts", "bytes",
                                                     "codec", "width", "height"}
    middle = segments[1]
    after = "2026-05-28T20:26:44.5Z"  # T0 + 4.5 s, as ISO 8601
    listed = json.loads(call(f"{base}/api/recordings?camera=gate&after={after}"
                             f"&before={middle.end_ts - 0.1}")[2])["recordings"]
    assert listed == [segment_dict(middle)] and middle.start_ts < T0 + 4.5 < middle.end_ts
    assert json.loads(call(f"{base}/api/recordings?camera=quiet")[2]) == {"recordings": []}


def test_a_range_is_one_mp4_from_the_keyframe_before_start(api, tmp_path, h264_video):
    base = api[0]
    start, end = T0 + 2.5, T0 + 7.5  # across three segments
    keyframe = max(t for t in keyframe_times(h264_video) if t <= start)
    status, headers, body = call(f"{base}/api/recordings/gate/video.mp4?"
                                 + urlencode({"start": start, "end": end}))
    assert status == 200 and headers["content-type"] == "video/mp4"
    assert float(headers["x-start-ts"]) == pytest.approx(keyframe, abs=0.001)
    out = tmp_path / "range.mp4"
    out.write_bytes(body)
    stream = probe_stream(out)
    assert (stream["codec_name"], stream["width"], stream["height"]) == ("h264", 640, 272)
    frames = sum(keyframe <= T0 + k / FPS < end for k in range(10 * FPS))
    assert int(stream["nb_read_frames"]) == frames
    assert duration_s(out) == pytest.approx(frames / FPS, abs=0.05)
    assert faststart(out)


def test_the_objects_of_a_range(api):
    base, _, frames = api
    status, _, body = call(f"{base}/api/recordings/gate/objects?start={T0 + 1}&end={T0 + 2}")
    assert status == 200
    objects = json.loads(body)["objects"]
    assert objects == [f.to_dict() for f in frames[FPS:2 * FPS]]
    assert objects[0]["boxes"] == [{"track_id": 7, "label": "person", "score": 0.9,
                                    "box": list(box_at(FPS))}]


@pytest.mark.parametrize("path, status, reason", [
    ("/api/recordings", 400, "camera"),
    ("/api/recordings?camera=nobody", 404, "unknown camera"),
    ("/api/recordings?camera=gate&after=5&before=4", 400, "after must be earlier"),
    ("/api/recordings?camera=gate&after=yesterday", 400, "neither Unix seconds"),
    (f"/api/recordings/gate/video.mp4?start={T0}", 400, "end"),
    (f"/api/recordings/gate/video.mp4?start={T0}&end={T0 - 1}", 400, "later than start"),
    (f"/api/recordings/gate/video.mp4?start={T0}&end={T0 + 3601}", 400, "at most 3600"),
    (f"/api/recordings/gate/video.mp4?start={T0 + 60}&end={T0 + 70}", 404, "no recording"),
    (f"/api/recordings/nobody/video.mp4?start={T0}&end={T0 + 1}", 404, "unknown camera"),
    (f"/api/recordings/quiet/objects?start={T0}&end={T0 + 1}", 404, "no recording"),
    (f"/api/recordings/gate/objects?start=x&end={T0 + 1}", 400, "start is neither"),
])
def test_bad_requests_are_json_4xx(api, path, status, reason):
    got, headers, body = call(api[0] + path)
    assert got == status and headers["content-type"] == "application/json"
    assert reason in json.loads(body)["error"]


def test_the_password_is_needed(api):
    status, headers, _ = call(f"{api[0]}/api/recordings?camera=gate", auth=False)
    assert status == 401 and "www-authenticate" in {k.lower() for k in headers}
