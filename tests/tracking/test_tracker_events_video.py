"""bikes.mp4 through the real ingest, the real worker (ssdlite-person) and the tracker with
events on: one event per counted object, ``new`` ... ``end`` in order, snapshots that are JPEGs
of the frame with the box drawn, clips cut from ingest's recording of the camera (the source's
H.264) that ffprobe reads with at least the frames of their span. The clips need ingest to record
a file camera with events (its events-only segments)."""

import json
import threading

import cv2
import pytest
from ffprobe import probe_stream
from running import run_until
from test_event_media_honest import current_clip
from test_tracker_events import updates
from tracking_scene import tracked_frame_id, tracker_settings

from api.event_clips import EventClips
from common.cameras import CameraConfig
from common.counting_rules import LineConfig
from common.keys import KEYS
from ingest.camera import CameraRunner
from ingest.settings import IngestSettings
from runtime.camera_list import store_camera
from runtime.event_store import Query, query_events
from runtime.status import collect_status
from tracking.service import Tracker
from workers.service import Worker
from workers.settings import WorkerSettings

PRE_S = POST_S = 0.1
KEYFRAME_S = 2.0
"""Longest keyframe interval of the recording, in capture time."""


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_bikes_events(redis_client, redis_url, sample_video, tmp_path):
    from detector import load_detector

    camera = CameraConfig(name="cam", url=str(sample_video),
                          lines=[LineConfig(name="middle", points=[(0.5, 0.0), (0.5, 1.0)])])
    store_camera(redis_client, KEYS, camera)
    recordings = tmp_path / "recordings"
    runner = CameraRunner(redis_client, KEYS, camera, str(sample_video),
                          IngestSettings(redis_url=redis_url, stream_maxlen=1000,
                                         recordings_dir=recordings),
                          threading.Event(), "file")
    assert runner.run() == "finished"
    frames = {i.decode(): f for i, f in redis_client.xrange(KEYS.frames("cam"))}
    times = sorted(float(f[b"ts"]) for f in frames.values())
    stop = threading.Event()
    worker = threading.Thread(target=Worker(redis_client, WorkerSettings(
        redis_url=redis_url, batch_size=4), load_detector("ssdlite-person", num_threads=1)).run,
        args=(stop,))
    worker.start()
    # ingest read the file fast: its frames are ~10 ms apart in capture time
    tracker = Tracker(redis_client, tracker_settings(
        redis_url, media_dir=tmp_path, recordings_dir=recordings, event_end_after_s=0.2,
        event_pre_s=PRE_S, event_post_s=POST_S))
    try:
        last = max(frames)
        run_until(tracker, lambda: tracked_frame_id(redis_client) == last, timeout=240)
    finally:
        stop.set()
        worker.join(60)
    tracker.media.stop()

    events, _ = query_events(redis_client, KEYS, Query(limit=500))
    unique = collect_status(redis_client, KEYS).to_dict()["cameras"]["cam"]["tracking"]["unique"]
    assert len(events) == unique["person"] >= 3
    kinds = updates(redis_client)
    for event in events:
        assert kinds[event.id][0] == "new" and kinds[event.id].count("new") == 1
        assert kinds[event.id].count("end") == (event.end_ts is not None)
        full = cv2.imread(str(tmp_path / event.snapshot))
        crop = cv2.imread(str(tmp_path / event.crop))
        assert full is not None and crop is not None
        assert 0 < crop.shape[0] * crop.shape[1] < full.shape[0] * full.shape[1]
    ended = [e for e in events if e.end_ts is not None]
    assert len(ended) >= 2
    clips = EventClips(redis_client, KEYS, tmp_path, recordings)
    for event in ended:
        assert event.recorded_clip == [event.start_ts - PRE_S, event.end_ts + POST_S]
        cut = current_clip(clips, event)
        assert cut.clip, (event.id, cut.media_errors)
        stream = probe_stream(tmp_path / cut.clip)
        assert (stream["codec_name"], stream["width"], stream["height"]) == ("h264", 640, 272)
        span = [t for t in times if event.start_ts - PRE_S <= t <= event.end_ts + POST_S]
        # cut from the keyframe at or before the range's start: up to KEYFRAME_S earlier
        wider = [t for t in times if event.start_ts - PRE_S - KEYFRAME_S <= t
                 <= event.end_ts + POST_S]
        assert len(span) - 1 <= int(stream["nb_read_frames"]) <= len(wider), event.id
    crossed = sum(len(e.lines) for e in events)
    line = collect_status(redis_client, KEYS).to_dict()["cameras"]["cam"]["tracking"]["lines"]
    assert crossed == sum(sum(v.values()) for v in line["middle"].values())
    assert json.loads(json.dumps([e.to_dict() for e in events]))
