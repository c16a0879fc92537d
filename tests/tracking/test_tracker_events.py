"""Events from the tracker over the synthetic scene with its frames in Redis: one event per
counted object, ``new`` ... ``end`` in order, JPEG snapshots with the box, each ended event's
clip range of the recording (no video written by the tracker), zones and lines; a takeover
after a crash ends each open event once."""

from __future__ import annotations

import time
from collections import defaultdict

import cv2
import numpy as np
import pytest
from running import run_until
from test_tracker_takeover import step_until
from tracking_scene import (
    BGR,
    EXPECTED,
    FRAMES,
    HEIGHT,
    WIDTH,
    scene_boxes,
    scene_camera,
    scene_detections,
    tracked_frame_id,
    tracker_settings,
)

from common.cameras import ClipRules, EventsConfig, parse_camera
from common.keys import KEYS
from common.messages import DetectionMessage, FrameMessage
from common.records import FRAMES_NEEDED_FIELD
from common.schema import SettingsError
from common.tracks import TrackedObject, TrackMessage
from runtime.camera_list import store_camera
from runtime.event_store import Query, query_events
from tracking.events import MAX_PATH, EventBuilder, Rules, media_name
from tracking.service import Tracker

TAIL = 20
"""Frames without objects after the scene, so that every event ends."""
DT = 0.05
POST_S = 0.2


def frame_jpeg(frame: int) -> bytes:
    image = np.full((HEIGHT, WIDTH, 3), 40, np.uint8)
    for colour, (x1, y1, x2, y2) in (scene_boxes(frame) if frame < FRAMES else []):
        image[y1:y2, x1:x2] = BGR[colour]
    return cv2.imencode(".jpg", image)[1].tobytes()


def publish_scene(client, camera: str = "cam", tail: int = TAIL) -> str:
    """Frames and detections of the scene plus an empty tail, as ingest and a worker write them."""
    messages = scene_detections(camera)
    for frame in range(FRAMES, FRAMES + tail):
        messages.append(DetectionMessage(camera, f"{1_700_000_000_000 + frame * 50}-0", frame,
                                         1_700_000_000.0 + frame * DT, 0.0, "test", WIDTH,
                                         HEIGHT, []))
    for frame, msg in enumerate(messages):
        client.xadd(KEYS.frames(camera), FrameMessage(camera, frame, msg.ts, WIDTH, HEIGHT,
                                                      frame_jpeg(frame)).to_fields(),
                    id=msg.frame_id)
        client.xadd(KEYS.detections(camera), msg.to_fields())
    client.sadd(KEYS.camera_names, camera)
    store_camera(client, KEYS, scene_camera(camera))
    return messages[-1].frame_id


def settings(redis_url, tmp_path, **overrides):
    return tracker_settings(redis_url, media_dir=tmp_path, event_end_after_s=0.5,
                            event_pre_s=0.0, event_post_s=POST_S, **overrides)


def updates(client) -> dict[str, list[str]]:
    kinds = defaultdict(list)
    for _, fields in client.xrange(KEYS.event_updates):
        kinds[fields[b"id"].decode()].append(fields[b"type"].decode())
    return kinds


def check_lifecycles(client) -> list:
    events, _ = query_events(client, KEYS, Query(limit=100))
    assert sorted(e.label for e in events) == sorted(
        label for label, n in EXPECTED["unique"].items() for _ in range(n))
    for ident, kinds in updates(client).items():
        assert kinds[0] == "new" and kinds[-1] == "end" and kinds.count("new") == 1 \
            and kinds.count("end") == 1, (ident, kinds)
    assert set(updates(client)) == {e.id for e in events}
    assert not client.smembers(KEYS.open_events("cam"))
    return events


def check_clip_ranges(events: list, media_dir) -> None:
    """Each ended event names its clip and the range of the recording it is, from ``pre_s``
    (0) before its start to ``POST_S`` after its end; the tracker wrote no video."""
    for event in events:
        assert event.clip == media_name("cam", event.id, event.start_ts, ".mp4")
        assert event.recorded_clip == [event.start_ts, event.end_ts + POST_S], event.id
    assert not list(media_dir.rglob("*.mp4"))


def test_scene_events_with_snapshots_and_clips(redis_client, redis_url, tmp_path):
    last = publish_scene(redis_client)
    tracker = Tracker(redis_client, settings(redis_url, tmp_path))
    run_until(tracker, lambda: tracked_frame_id(redis_client) == last)
    tracker.media.stop()
    # a file's ingest keeps the frames after this one: the next batch's snapshots read them
    assert redis_client.hget(KEYS.tracker_state("cam"), FRAMES_NEEDED_FIELD).decode() == last
    events = check_lifecycles(redis_client)
    crossings = sorted((c.name, c.direction, e.label) for e in events for c in e.lines)
    assert crossings == sorted([("door", "in", "car")] * 2 + [("door", "out", "car"),
                                                               ("door", "in", "person"),
                                                               ("door", "out", "person")])
    assert sorted(z for e in events for z in e.zones) == ["bench", "bench"]
    events = query_events(redis_client, KEYS, Query(limit=100))[0]  # as the media left them
    for event in events:
        full = cv2.imread(str(tmp_path / event.snapshot))
        crop = cv2.imread(str(tmp_path / event.crop))
        assert full.shape == (HEIGHT, WIDTH, 3) and 0 < crop.shape[0] < HEIGHT
        assert event.end_ts is not None and len(event.path) >= 2
    check_clip_ranges(events, tmp_path)


def test_builder_throttles_updates_and_ends_on_capture_time():
    builder = EventBuilder("cam", Rules(end_after_s=1.0, clips=False))
    changes = []
    for msg in scene_detections()[:20]:
        tracks = [TrackedObject(1, o.label, o.class_id, o.score, o.box) for o in msg.objects[:1]]
        tm = TrackMessage("cam", msg.frame_id, msg.seq, msg.ts, msg.width, msg.height, tracks)
        changes.append(builder.frame(tm, lambda i: []))
    kinds = [c.kind for ch in changes for c in ch.events]
    assert kinds == ["new"]  # one second of a steady box: nothing worth telling
    later = TrackMessage("cam", "1700000009000-0", 99, 1_700_000_009.0, WIDTH, HEIGHT, [])
    ended = builder.frame(later, lambda i: [])
    assert [c.kind for c in ended.events] == ["end"]
    assert ended.events[0].event.end_ts == pytest.approx(1_700_000_000.0 + 19 * DT)
    assert ended.events[0].event.recorded_clip is None  # clips=False


def test_takeover_ends_each_open_event_once(redis_client, redis_url, tmp_path):
    last = publish_scene(redis_client)
    first = Tracker(redis_client, settings(redis_url, tmp_path, tracker_id="first",
                                           lock_ttl_ms=300), read_count=15)
    while int(redis_client.hget(KEYS.track_stats("cam"), "frames_tracked") or 0) < 40:
        first.step()
    assert len(redis_client.smembers(KEYS.open_events("cam"))) == 5
    second = Tracker(redis_client, settings(redis_url, tmp_path, tracker_id="second",
                                            lock_ttl_ms=300), read_count=15)
    step_until(second, lambda: tracked_frame_id(redis_client) == last)
    first.media.stop()
    second.media.stop()
    check_lifecycles(redis_client)


@pytest.mark.parametrize("config, label, zones, expected", [
    ({}, "car", [], True),
    ({"clips": False}, "car", [], False),
    ({"required_zones": ["gate"]}, "car", ["street"], False),
    ({"required_zones": ["gate"]}, "car", ["street", "gate"], True),
    ({"clips": False, "classes": {"person": {"clips": True}}}, "person", [], True),
    ({"classes": {"car": {"required_zones": ["gate"]}}}, "car", [], False),
    ({"classes": {"car": {"required_zones": ["gate"]}}}, "person", [], True),
])
def test_which_events_get_clips(config, label, zones, expected):
    assert EventsConfig(**config).wants_clip(label, zones) is expected


def test_builder_leaves_out_the_clips_the_camera_does_not_want():
    builder = EventBuilder("cam", Rules(end_after_s=0.1))
    car = TrackedObject(1, "car", 3, 0.9, (10, 10, 50, 50))
    builder.frame(TrackMessage("cam", "1-0", 0, 1.0, WIDTH, HEIGHT, [car]), lambda i: [])
    ended = builder.frame(TrackMessage("cam", "2-0", 1, 2.0, WIDTH, HEIGHT, []), lambda i: [],
                          EventsConfig(classes={"car": ClipRules(clips=False)}))
    assert [c.kind for c in ended.events] == ["end"]
    assert ended.events[0].event.clip is None and ended.events[0].event.recorded_clip is None


def test_an_ended_event_names_its_clip_range_with_its_end():
    builder = EventBuilder("cam", Rules(end_after_s=0.5, pre_s=2.0, post_s=3.0))
    car = TrackedObject(1, "car", 3, 0.9, (10, 10, 50, 50))
    started = builder.frame(TrackMessage("cam", "1-0", 0, 10.0, WIDTH, HEIGHT, [car]),
                            lambda i: [])
    builder.frame(TrackMessage("cam", "2-0", 1, 11.0, WIDTH, HEIGHT, [car]), lambda i: [])
    assert started.events[0].event.recorded_clip is None  # open: no range yet
    ended = builder.frame(TrackMessage("cam", "3-0", 2, 12.0, WIDTH, HEIGHT, []), lambda i: [])
    event = ended.events[0].event
    assert [c.kind for c in ended.events] == ["end"] and event.end_ts == 11.0
    assert event.recorded_clip == [8.0, 14.0] and event.clip == media_name("cam", event.id,
                                                                           10.0, ".mp4")


def test_required_zones_must_be_the_cameras():
    with pytest.raises(SettingsError, match="unknown zones: gaet"):
        parse_camera({"name": "c", "url": "0", "events": {"required_zones": ["gaet"]}})


def test_clip_ranges_are_whole_whatever_the_frame_cap(redis_client, redis_url, tmp_path):
    """Frames capped at 30 (1.5 s) while events last ~5 s: each clip range still spans its
    whole event (the frames in Redis bound nothing but the snapshots)."""
    messages = scene_detections("cam") + [
        DetectionMessage("cam", f"{1_700_000_000_000 + f * 50}-0", f, 1_700_000_000.0 + f * DT,
                         0.0, "test", WIDTH, HEIGHT, []) for f in range(FRAMES, FRAMES + TAIL)]
    redis_client.sadd(KEYS.camera_names, "cam")
    store_camera(redis_client, KEYS, scene_camera("cam"))
    tracker = Tracker(redis_client, settings(redis_url, tmp_path))
    for start in range(0, len(messages), 10):
        for frame, msg in enumerate(messages[start:start + 10], start):
            redis_client.xadd(KEYS.frames("cam"), FrameMessage(
                "cam", frame, msg.ts, WIDTH, HEIGHT, frame_jpeg(frame)).to_fields(),
                id=msg.frame_id, maxlen=30, approximate=False)
            redis_client.xadd(KEYS.detections("cam"), msg.to_fields())
        step_until(tracker, lambda: tracked_frame_id(redis_client) == msg.frame_id)
        while not tracker.media.jobs.empty():
            time.sleep(0.01)
        time.sleep(0.05)
    tracker.media.stop()
    events = check_lifecycles(redis_client)
    check_clip_ranges(events, tmp_path)
    for event in events:
        assert event.end_ts - event.start_ts > 30 * DT  # longer than the frames kept
        assert event.snapshot is not None, event.id


def test_a_camera_that_stops_ends_its_events_by_the_clock(redis_client, redis_url, tmp_path):
    """The scene without its empty tail (the file ends with everyone in view): the events end
    ``event_end_after_s`` after the last frame, by the tracker's clock, with clip ranges."""
    last = publish_scene(redis_client, tail=0)
    tracker = Tracker(redis_client, settings(redis_url, tmp_path))
    step_until(tracker, lambda: tracked_frame_id(redis_client) == last)
    assert len(redis_client.smembers(KEYS.open_events("cam"))) == 5
    step_until(tracker, lambda: not redis_client.smembers(KEYS.open_events("cam")), timeout=10)
    tracker.media.stop()
    events = check_lifecycles(redis_client)
    for event in events:
        assert event.end_ts == pytest.approx(1_700_000_000.0 + (FRAMES - 1) * DT)
    check_clip_ranges(events, tmp_path)


def test_event_files_are_readable_by_others(redis_client, redis_url, tmp_path):
    last = publish_scene(redis_client)
    tracker = Tracker(redis_client, settings(redis_url, tmp_path))
    step_until(tracker, lambda: tracked_frame_id(redis_client) == last)
    tracker.media.stop()
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert files and all(p.stat().st_mode & 0o777 == 0o644 for p in files)


def test_a_long_path_is_thinned():
    builder = EventBuilder("cam", Rules(path_hz=2.0))
    car = TrackedObject(1, "car", 3, 0.9, (10, 10, 50, 50))
    for n in range(2000):
        builder.frame(TrackMessage("cam", f"{n + 1}-0", n, n * 0.5, WIDTH, HEIGHT, [car]),
                      lambda i: [])
    path = builder.open[1].event.path
    assert len(path) <= MAX_PATH and path[0][0] == 0 and path[-1][0] >= 990
