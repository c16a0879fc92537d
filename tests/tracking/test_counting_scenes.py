"""Flicker, jitter and false positives through ByteTrack and the counting rules (in process, as
the tracker runs them): scenes as tables of boxes per frame, expected counts exact."""

from __future__ import annotations

import pytest

from common.cameras import CameraConfig
from common.counting_rules import CountingConfig, LineConfig, ZoneConfig
from common.messages import DetectedObject, DetectionMessage
from tracking.camera import CameraTracker
from tracking.settings import TrackerSettings

W, H, FRAMES = 320, 240, 60
DOOR = LineConfig(name="door", points=[(0.5, 0.0), (0.5, 1.0)])  # left -> right is "in"
POSTER = ZoneConfig(name="poster", points=[(0.8, 0.0), (1.0, 0.0), (1.0, 0.6), (0.8, 0.6)])


def person(x: float, y: float, score: float = 0.9) -> DetectedObject:
    """A 30x60 px person whose feet (anchor) are at pixel (x, y)."""
    return DetectedObject("person", 1, score, (x - 15, y - 60, x + 15, y))


def walker(frame: int) -> float:
    """x of someone walking left to right across the door over the scene."""
    return 40 + 240 * frame / (FRAMES - 1)


def run(scene, config: CameraConfig) -> dict:
    """Track ``scene`` (frame -> detections) and sum what the tracker would write."""
    tracker = CameraTracker("cam", TrackerSettings())
    for frame in range(FRAMES):
        msg = DetectionMessage("cam", f"{1_000 + frame}-0", frame, 1_700_000_000 + frame / 10,
                               0.0, "w", W, H, scene(frame))
        tracker.add(msg.frame_id, msg.to_fields())
    frames = tracker.ready(config.lines, config.zones, config.counting)
    assert len(frames) == FRAMES
    totals: dict = {"ids": set(), "unique": 0, "crossings": [], "detections": 0}
    for f in frames:
        totals["ids"] |= {t.track_id for t in f.message.tracks}
        totals["unique"] += len(f.counted.new)
        totals["crossings"] += [(c.direction, c.track_id) for c in f.message.crossings]
        totals["detections"] += sum(f.message.counts.values())
    return totals


CAMERA = CameraConfig(name="cam", url="x.mp4", lines=[DOOR],
                      counting={"masks": [POSTER.model_dump()]})


def missed(frame: int) -> list[DetectedObject]:
    """The walker, missed in 3 of every 10 frames and weak (0.2) in another."""
    if frame % 10 in (3, 4, 5):
        return []
    return [person(walker(frame), 200, 0.2 if frame % 10 == 7 else 0.9)]


def jitter(frame: int) -> list[DetectedObject]:
    """Someone standing on the door, their box jumping 10 px (past the margin) to either side
    for one frame in three (20 times), while the walker crosses once lower down."""
    x = 160 + (10 if frame % 6 == 0 else -10 if frame % 6 == 3 else 0)
    return [person(x, 120), person(walker(frame), 220)]


def poster(frame: int) -> list[DetectedObject]:
    """A poster in the masked corner, detected as a person in every frame."""
    return [person(290, 100, 0.95)]


@pytest.mark.parametrize("scene, ids, unique, crossings, detections", [
    (missed, 1, 1, [("in", 1)], 36),       # 42 frames with a box, 6 of them weak
    (jitter, 2, 2, [("in", 2)], 2 * FRAMES),
    (poster, 0, 0, [], 0),
])
def test_counts_survive_flicker_jitter_and_posters(scene, ids, unique, crossings, detections):
    totals = run(scene, CAMERA)
    assert len(totals["ids"]) == ids and totals["unique"] == unique
    assert totals["crossings"] == crossings and totals["detections"] == detections


def test_without_hysteresis_the_jitter_would_count():
    naive = CAMERA.model_copy(update={"counting": CountingConfig(min_frames=1, line_margin=0.0)})
    assert len(run(jitter, naive)["crossings"]) > 10
