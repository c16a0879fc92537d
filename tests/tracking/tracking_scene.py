"""A synthetic scene with known trajectories, and helpers to drive the tracker in-process
(imported by the tests of this folder as ``tracking_scene``).

The scene (320x240, 100 frames): coloured squares on grey. A vertical line ``door`` splits the
frame (drawn top to bottom, so left -> right is ``in``); the zone ``bench`` is the bottom-right
corner. Red and green squares are persons, blue ones cars:

- A (red) walks left -> right across the door: in 1
- B (red) walks right -> left: out 1
- C (blue car) goes right, back left, right again: in 2, out 1
- D (green) sits on the bench the whole time
- E (green) walks down into the bench zone and back up (peak 2 persons there, 1 at the end)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from common.cameras import CameraConfig
from common.counting_rules import LineConfig, ZoneConfig
from common.keys import KEYS
from common.messages import DetectedObject, DetectionMessage
from tracking.settings import TrackerSettings

WIDTH, HEIGHT, FRAMES, SIZE = 320, 240, 100, 28
LABELS = {"red": ("person", 1), "green": ("person", 1), "blue": ("car", 3)}
BGR = {"red": (0, 0, 255), "green": (0, 255, 0), "blue": (255, 0, 0)}
DOOR = LineConfig(name="door", points=[(0.5, 0.0), (0.5, 1.0)])
BENCH = ZoneConfig(name="bench", points=[(0.7, 0.65), (0.98, 0.65), (0.98, 0.98), (0.7, 0.98)])
EXPECTED = {
    "unique": {"car": 1, "person": 4},
    "lines": {"door": {"in": {"car": 2, "person": 1}, "out": {"car": 1, "person": 1}}},
    "zones": {"bench": {"person": 1}},
}
EXPECTED_PEAK = {"bench:person": 2}


def _path(t: float, *stops: float) -> float:
    """Piecewise-linear position at ``t`` in [0, 1] through evenly spaced ``stops``."""
    return float(np.interp(t, np.linspace(0, 1, len(stops)), stops))


def scene_boxes(frame: int) -> list[tuple[str, tuple[float, float, float, float]]]:
    """(colour, box in pixels) of every square in ``frame``."""
    t = frame / (FRAMES - 1)
    corners = [("red", _path(t, 20, 270), 10), ("red", _path(t, 270, 20), 50),
               ("blue", _path(t, 20, 190, 40, 190), 90), ("green", 260, 180),
               ("green", 228, _path(t, 120, 170, 120))]
    return [(colour, (round(x), round(y), round(x) + SIZE, round(y) + SIZE))
            for colour, x, y in corners]


def scene_camera(name: str = "cam", url: str = "unused.mp4") -> CameraConfig:
    return CameraConfig(name=name, url=url, lines=[DOOR], zones=[BENCH])


def write_scene_video(path: Path) -> Path:
    import cv2

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 20.0, (WIDTH, HEIGHT))
    for frame in range(FRAMES):
        image = np.full((HEIGHT, WIDTH, 3), 40, np.uint8)
        for colour, (x1, y1, x2, y2) in scene_boxes(frame):
            image[y1:y2, x1:x2] = BGR[colour]
        writer.write(image)
    writer.release()
    return path


def scene_detections(camera: str = "cam") -> list[DetectionMessage]:
    """The ideal detections of every frame (what a perfect detector would publish)."""
    messages = []
    for frame in range(FRAMES):
        objects = [DetectedObject(*LABELS[colour], 0.9, box) for colour, box in scene_boxes(frame)]
        messages.append(DetectionMessage(camera, f"{1_700_000_000_000 + frame * 50}-0", frame,
                                         1_700_000_000.0 + frame * 0.05, 0.0, "test", WIDTH,
                                         HEIGHT, objects))
    return messages


def tracker_settings(redis_url: str, **overrides) -> TrackerSettings:
    """Test settings: no frame is ever given up on by time, so runs are deterministic."""
    return TrackerSettings(redis_url=redis_url, tracker_poll_s=0.05, reorder_ms=60_000, **overrides)


def tracked_frame_id(client, camera: str = "cam") -> str | None:
    raw = client.hget(KEYS.tracker_state(camera), "frame_id")
    return raw.decode() if raw else None
