"""Every event clip of a recorded camera covers its whole event plus pre/post at the source's
speed, also under backlog. Two cameras show the same H.264 video (someone walking): a file played
in real time and a live camera (MPEG-TS over HTTP, recorded by stream copy), through ``cctv
ingest`` (recording on), one ``cctv worker`` and ``cctv tracker``. Once an event is open on both,
the worker is stopped (SIGSTOP) for 20 s: frames pile up, and when it goes on those older than
``max_lag_s`` are published with the objects carried, so the events go on. Each clip is fetched
through ``GET /api/events/{id}/clip.mp4`` and found in the recording (indexed segments) as a run
of its packets: where it begins and ends on the recording's clock, how many frames it plays over
how long. Only the REST contract and the recording's index are read, whoever cuts or records."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
import urllib.request
from pathlib import Path
from typing import NamedTuple

import av
import cv2
import pytest
import uvicorn
from http_camera import live_camera
from running import free_port, stop_all
from starlette.applications import Starlette
from test_redis_outage import cctv, wait_until

from api.rest import rest_routes
from common.keys import KEYS
from runtime.recordings import list_segments, segment_files

pytestmark = pytest.mark.slow

FILE, LIVE = "file", "live"
"""The cameras: the file played in real time, and the same served as a live H.264 camera."""
FPS, PUBLISHED_FPS = 25, 5
"""The source's frame rate (one keyframe a second, no B-frames) and the camera's ``fps``."""
INTRO_S, WALK_S, OUTRO_S = 3, 24, 7
"""Nobody in view (the first segments close before anyone comes), someone walking to and fro
through the pause, nobody again (the events end and their post time is recorded)."""
PAUSE_S = 20.0
MAX_LAG_S = 1.0
"""The cameras' ``max_lag_s`` (the default): after the pause, the frames older than this are
published with the objects carried, so an event spans it when its end is within this (and a
second more) of the worker going on."""
PRE_S, POST_S, END_AFTER_S = 2.0, 2.0, 3.0
EMPTY_FRAME = 220
WALKER = range(105, 136)
"""Frames of the sample video without anyone, and with someone walking (ssdlite-person finds
them in each)."""


def walking_camera(sample: Path, out: Path) -> Path:
    """The camera's file: the sample's empty street, then its walker to and fro, then the empty
    street again, each frame stamped with its number (a camera's clock overlay: no two frames
    alike), as H.264 with a keyframe every second and no B-frames."""
    with av.open(str(sample)) as source:
        images = [f.to_ndarray(format="bgr24") for f in source.decode(video=0)]
    swing = [*WALKER, *reversed(WALKER[1:-1])]
    order = ([EMPTY_FRAME] * INTRO_S * FPS
             + [swing[i % len(swing)] for i in range(WALK_S * FPS)]
             + [EMPTY_FRAME] * OUTRO_S * FPS)
    with av.open(str(out), "w") as output:
        stream = output.add_stream("libx264", rate=FPS, options={
            "g": str(FPS), "bf": "0", "preset": "veryfast"})
        stream.width, stream.height, stream.pix_fmt = 640, 272, "yuv420p"
        for k, index in enumerate(order):
            image = images[index].copy()
            cv2.putText(image, f"{k:05d}", (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7,
                        (255, 255, 255), 2)
            frame = av.VideoFrame.from_ndarray(image, format="bgr24").reformat(format="yuv420p")
            output.mux(stream.encode(frame))
        output.mux(stream.encode())
    return out


class Recorded(NamedTuple):
    """One packet of the recording: its bytes, when it was captured (the recording's clock:
    its segment's start in the index plus its time in the segment), for how long it shows, and
    whether it is a keyframe."""

    payload: bytes
    ts: float
    duration_s: float
    keyframe: bool


def recorded_packets(client, root: Path, camera: str) -> list[Recorded]:
    """Every packet of ``camera``'s recording, from its index, in order."""
    packets = []
    for path, zero_ts in segment_files(root.resolve(), list_segments(client, KEYS, camera)):
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            packets += [Recorded(bytes(p), zero_ts + float(p.pts * stream.time_base),
                                 float((p.duration or 0) * stream.time_base), p.is_keyframe)
                        for p in container.demux(stream) if p.size]
    return packets


def payloads(video: Path) -> list[bytes]:
    with av.open(str(video)) as container:
        return [bytes(p) for p in container.demux(video=0) if p.size]


def played(clip: Path) -> tuple[list[bytes], int, float]:
    """The clip's packets (bytes, in order), the frames it decodes to and how long it plays."""
    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        packets = [p for p in container.demux(stream) if p.size]
        first = min(p.pts for p in packets)
        end = max(p.pts + (p.duration or 0) for p in packets)
        duration = float((end - first) * stream.time_base)
        sent = [bytes(p) for p in packets]
    with av.open(str(clip)) as container:
        frames = sum(1 for _ in container.decode(video=0))
    return sent, frames, duration


def get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=60) as response:
        assert response.status == 200, url
        return response.read()


def serve(client, media: Path, recordings: Path) -> tuple[str, uvicorn.Server]:
    """The REST API (no password) over the tracker's media and ingest's recordings."""
    routes = rest_routes(client, KEYS, media, None, recordings)
    server = uvicorn.Server(uvicorn.Config(Starlette(routes=routes), host="127.0.0.1",
                                           port=free_port(), log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    assert wait_until(lambda: server.started, 20)
    return f"http://127.0.0.1:{server.config.port}", server


def events(base: str, camera: str) -> list[dict]:
    return json.loads(get(f"{base}/api/events?camera={camera}&limit=100"))["events"]


def check_clip(event: dict, clip: Path, recording: list[Recorded], rate: float) -> dict:
    """Asserts that ``clip`` is a run of the recording from the keyframe at or before the
    event's start less pre time to its end plus post time (or the recording's end), playing at
    the source's speed: ``rate`` frames a second (the camera's own, or those it publishes when
    they are what is recorded), as long as the time it covers. Returns its figures."""
    from_ts, to_ts = event["start_ts"] - PRE_S, event["end_ts"] + POST_S
    sent, frames, duration = played(clip)
    recorded = [r.payload for r in recording]
    at = next((i for i, payload in enumerate(recorded)
               if payload == sent[0] and recorded[i:i + len(sent)] == sent), None)
    assert at is not None, f"{event['id']}: its clip is not a run of the recording's frames"
    keyframes = [r.ts for r in recording if r.keyframe and r.ts <= from_ts]
    start = keyframes[-1] if keyframes else recording[0].ts
    end = min(to_ts, recording[-1].ts + recording[-1].duration_s)
    first, last = recording[at], recording[at + len(sent) - 1]
    covered = last.ts + last.duration_s - first.ts
    figures = {"id": event["id"], "start_ts": event["start_ts"], "end_ts": event["end_ts"],
               "begins_before_from_s": round(from_ts - first.ts, 3),
               "ends_after_to_s": round(first.ts + covered - to_ts, 3),
               "duration_s": round(duration, 3), "expected_s": round(end - start, 3),
               "frames": frames, "fps": round(frames / duration, 2), "expected_fps": rate}
    assert abs(first.ts - start) < 0.5 / rate, ("not cut at the keyframe at or before its start",
                                                figures)
    assert first.ts + covered >= end - 1 / rate, ("its end is missing", figures)
    assert first.ts + covered <= to_ts + 2 / rate, ("it runs on past its end", figures)
    assert abs(frames / duration - rate) <= 0.03 * rate, ("not at the source's speed", figures)
    assert abs(duration - covered) <= 2 / rate, ("not as long as the time it covers", figures)
    assert abs(duration - (end - start)) <= 2 / rate, ("not as long as expected", figures)
    return figures


@pytest.mark.timeout(240)
def test_every_clip_covers_its_event_at_the_source_speed_through_a_backlog(
        redis_client, redis_url, sample_video, tmp_path):
    video = walking_camera(sample_video, tmp_path / "walk.mp4")
    media, recordings = tmp_path / "media", tmp_path / "recordings"
    logs = {name: open(tmp_path / f"{name}.log", "w+") for name in ("worker", "tracker",
                                                                      "ingest")}
    procs: dict[str, subprocess.Popen] = {}
    base, server = serve(redis_client, media, recordings)
    resumed = False
    with live_camera(video, tmp_path) as (url, served):
        cameras = tmp_path / "cameras.yaml"
        record = {"enabled": True, "segment_s": 2}
        cameras.write_text(json.dumps({"cameras": [
            {"name": FILE, "url": str(video), "realtime": True, "fps": PUBLISHED_FPS,
             "max_lag_s": MAX_LAG_S, "record": record},
            {"name": LIVE, "url": url, "fps": PUBLISHED_FPS, "max_lag_s": MAX_LAG_S,
             "record": record}]}))
        env = {"CCTV_MEDIA_DIR": str(media), "CCTV_RECORDINGS_DIR": str(recordings),
               "CCTV_EVENT_PRE_S": str(PRE_S), "CCTV_EVENT_POST_S": str(POST_S),
               "CCTV_EVENT_END_AFTER_S": str(END_AFTER_S), "CCTV_CAMERAS_FILE": str(cameras),
               "CCTV_TRACKER_POLL_S": "0.2"}
        try:
            for name in ("worker", "tracker"):
                procs[name] = cctv(redis_url, name, stderr=logs[name], env_add=env)
            assert wait_until(lambda: redis_client.scard(KEYS.workers) == 1, 120), "no worker"
            procs["ingest"] = cctv(redis_url, "ingest", stderr=logs["ingest"], env_add=env)
            assert wait_until(lambda: redis_client.scard(KEYS.camera_names) == 2, 30)
            assert wait_until(lambda: all(any(e["end_ts"] is None for e in events(base, name))
                                          for name in (FILE, LIVE)), 60), "no event opened"
            procs["worker"].send_signal(signal.SIGSTOP)
            paused = time.time()
            time.sleep(PAUSE_S)
            procs["worker"].send_signal(signal.SIGCONT)
            resumed, went_on = True, time.time()
            assert wait_until(lambda: redis_client.hget(KEYS.state(FILE), "state")
                              == b"finished" and served.is_set(), 60), "the cameras went on"
            assert wait_until(lambda: all(
                not redis_client.scard(KEYS.open_events(name))
                and all(e["end_ts"] is not None for e in events(base, name))
                for name in (FILE, LIVE)), 30), "events still open"
            source = set(payloads(video))
            summary = {"paused": paused, "resumed": went_on}
            for name in (FILE, LIVE):
                recording = recorded_packets(redis_client, recordings, name)
                copied = {r.payload for r in recording} <= source
                summary[name] = {"recorded_by": "stream copy" if copied or name == LIVE
                                 else "encoding its published frames", "events": []}
                for event in events(base, name):
                    assert event["has_clip"], event
                    clip = tmp_path / f"{event['id']}.mp4"
                    clip.write_bytes(get(f"{base}/api/events/{event['id']}/clip.mp4"))
                    rate = FPS if copied or name == LIVE else PUBLISHED_FPS
                    summary[name]["events"].append(check_clip(event, clip, recording, rate) | {
                        "spans_pause": event["start_ts"] < paused
                        and event["end_ts"] > went_on - MAX_LAG_S - 1.0})
            print(json.dumps(summary, indent=1))
            for name in (FILE, LIVE):
                assert any(e["spans_pause"] for e in summary[name]["events"]), \
                    f"{name}: no event went on through the pause"
        finally:
            if not resumed and "worker" in procs:
                procs["worker"].send_signal(signal.SIGCONT)
            server.should_exit = True
            stop_all(procs.values())
            for name, log in logs.items():
                log.seek(0)
                print(f"--- {name} ---\n{log.read()[-3000:]}")
                log.close()
