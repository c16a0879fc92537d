"""bikes.mp4 replayed through the real ingest (a small frame cap, so frames are trimmed), the real
worker (ssdlite-person) and the tracker with events on: every event's ``has_snapshot`` says
whether its files are there and ``has_clip`` whether ingest's recording holds its clip range (the
clip then cut from it: the source's H.264), when the tracker is SIGKILLed mid-event and another
takes over, and when nothing disturbs it (then every snapshot and clip named is served, no 404).

The clips need ingest to record a file camera with events (its events-only segments)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import uvicorn
from ffprobe import probe_stream
from running import free_port, run_until
from starlette.applications import Starlette
from tracking_scene import tracked_frame_id, tracker_settings

from api.event_clips import NOT_YET, EventClips
from api.rest import rest_routes
from common.cameras import CameraConfig
from common.counting_rules import LineConfig
from common.keys import KEYS
from ingest.camera import CameraRunner
from ingest.settings import IngestSettings
from runtime.camera_list import store_camera
from runtime.event_store import Query, query_events
from tracking.events import media_name
from tracking.service import Tracker
from workers.service import Worker
from workers.settings import WorkerSettings

EVENT_TIMES = {"event_end_after_s": 0.3, "event_pre_s": 0.1, "event_post_s": 0.1}
FIRST_TRACKER = """
import sys, threading, redis
from tracking.service import Tracker
from tracking.settings import TrackerSettings
settings = TrackerSettings(redis_url=sys.argv[1], media_dir=sys.argv[2], tracker_id="first",
                           recordings_dir=sys.argv[2] + "/recordings",
                           lock_ttl_ms=1000, tracker_poll_s=0.05, reorder_ms=60_000,
                           event_end_after_s=0.3, event_pre_s=0.1, event_post_s=0.1)
Tracker(redis.Redis.from_url(sys.argv[1]), settings).run(threading.Event())
"""


class Pipeline:
    """Ingest (frames capped at ``maxlen``, recordings under ``recordings``) and a worker in
    threads, over ``camera`` ``cam``."""

    def __init__(self, client, redis_url: str, video: Path, recordings: Path, maxlen: int = 25):
        from detector import load_detector

        camera = CameraConfig(name="cam", url=str(video), lines=[
            LineConfig(name="middle", points=[(0.5, 0.0), (0.5, 1.0)])])
        store_camera(client, KEYS, camera)
        self.stop = threading.Event()
        self.runner = CameraRunner(client, KEYS, camera, str(video), IngestSettings(
            redis_url=redis_url, stream_maxlen=maxlen, recordings_dir=recordings), self.stop,
            "file")
        self.result: list[str] = []
        self.worker = Worker(client, WorkerSettings(redis_url=redis_url, batch_size=4),
                             load_detector("ssdlite-person", num_threads=1))
        self.threads = [threading.Thread(target=lambda: self.result.append(self.runner.run())),
                        threading.Thread(target=self.worker.run, args=(self.stop,))]
        for thread in self.threads:
            thread.start()

    def finished(self) -> bool:
        return self.result == ["finished"]

    def close(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(60)


def last_frame_id(client) -> str:
    return client.xrevrange(KEYS.frames("cam"), count=1)[0][0].decode()


def track_to_the_end(client, tracker: Tracker, pipeline: Pipeline) -> None:
    """Run ``tracker`` until the file is in, tracked, and its events ended with their media."""
    run_until(tracker, lambda: pipeline.finished() and tracked_frame_id(client) == last_frame_id(
        client) and not client.smembers(KEYS.open_events("cam")), timeout=300)
    tracker.media.stop()


def current_clip(clips: EventClips, event, timeout: float = 40.0):
    """``event`` with its clip cut from the recording, once its range's segment is closed."""
    deadline = time.monotonic() + timeout
    while (current := clips.cached(event)).media_errors.get("clip") == NOT_YET:
        assert time.monotonic() < deadline, f"{event.id}: the recording never reached its end"
        time.sleep(0.5)
    return current


def check_media(client, media: Path, recordings: Path,
                taken_over: set[str] = frozenset()) -> list:
    """Every event's flags say whether its files are there: a snapshot on disk, a clip cut from
    the recording (the source's own H.264, 640x272) whenever ``has_clip``; an ended event names
    its clip range; an event ``taken_over`` open has each file or the reason why not."""
    events, _ = query_events(client, KEYS, Query(limit=500))
    assert events
    clips = EventClips(client, KEYS, media, recordings)
    for event in events:
        flags = event.to_dict()
        jpeg = media / media_name("cam", event.id, event.start_ts, ".jpg")
        crop = jpeg.with_name(jpeg.stem + "-crop.jpg")
        assert flags["has_snapshot"] == jpeg.is_file() == crop.is_file(), event
        if event.end_ts is not None:
            assert event.recorded_clip == [event.start_ts - EVENT_TIMES["event_pre_s"],
                                           event.end_ts + EVENT_TIMES["event_post_s"]], event
        current = current_clip(clips, event)
        listed = clips.checked(event).to_dict()["has_clip"]
        assert listed == current.to_dict()["has_clip"], current.media_errors
        if listed:
            stream = probe_stream(media / current.clip)
            assert (stream["codec_name"], stream["width"], stream["height"]) == \
                ("h264", 640, 272), event.id
        if event.id in taken_over:
            assert event.snapshot or event.media_errors.get("snapshot"), event
            assert current.clip or current.media_errors.get("clip"), event
    return events


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_tracker_killed_mid_event_leaves_no_promise_of_media(
        redis_client, redis_url, sample_video, tmp_path):
    redis_client.sadd(KEYS.camera_names, "cam")  # taken by the first tracker before ingest starts
    first = subprocess.Popen([sys.executable, "-c", FIRST_TRACKER, redis_url, str(tmp_path)],
                             cwd=Path(__file__).parents[2])
    deadline = time.monotonic() + 60
    while not redis_client.exists(KEYS.tracker_lock("cam")) and time.monotonic() < deadline:
        assert first.poll() is None, "the first tracker ended"
        time.sleep(0.05)
    pipeline = Pipeline(redis_client, redis_url, sample_video, tmp_path / "recordings")
    try:
        deadline = time.monotonic() + 240
        while not (redis_client.smembers(KEYS.open_events("cam"))
                   and redis_client.hlen(KEYS.events) >= 2) and time.monotonic() < deadline:
            assert first.poll() is None, "the first tracker ended"
            time.sleep(0.05)
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)
        taken_over = {i.decode() for i in redis_client.smembers(KEYS.open_events("cam"))}
        assert taken_over, "no event open at the kill"
        second = Tracker(redis_client, tracker_settings(
            redis_url, media_dir=tmp_path, recordings_dir=tmp_path / "recordings",
            tracker_id="second", lock_ttl_ms=1000, **EVENT_TIMES))
        track_to_the_end(redis_client, second, pipeline)
    finally:
        if first.poll() is None:
            first.kill()
        pipeline.close()
    check_media(redis_client, tmp_path, tmp_path / "recordings", taken_over)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_an_undisturbed_replay_serves_every_snapshot_it_names(
        redis_client, redis_url, sample_video, tmp_path):
    pipeline = Pipeline(redis_client, redis_url, sample_video, tmp_path / "recordings")
    try:
        tracker = Tracker(redis_client, tracker_settings(
            redis_url, media_dir=tmp_path, recordings_dir=tmp_path / "recordings", **EVENT_TIMES))
        track_to_the_end(redis_client, tracker, pipeline)
    finally:
        pipeline.close()
    events = check_media(redis_client, tmp_path, tmp_path / "recordings")
    assert all(e.snapshot and e.clip for e in events), [e.media_errors for e in events]
    server = uvicorn.Server(uvicorn.Config(
        Starlette(routes=rest_routes(redis_client, KEYS, tmp_path, None,
                                     tmp_path / "recordings")),
        host="127.0.0.1", port=free_port(), log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.02)
        base = f"http://127.0.0.1:{server.config.port}/api/events"
        for event in events:
            for path in ("snapshot.jpg", "snapshot.jpg?crop=1", "clip.mp4"):
                with urllib.request.urlopen(f"{base}/{event.id}/{path}", timeout=10) as reply:
                    assert reply.status == 200 and reply.read(), (event.id, path)
    finally:
        server.should_exit = True
        thread.join(10)
