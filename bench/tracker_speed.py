"""Tracker speed, printed as JSON: ByteTrack alone, and the whole tracker stage on Redis.

Synthetic detections: ``--objects`` people walking straight lines with jittered boxes and scores
(some below the high threshold, some missed), on a 640x360 camera with 2 lines and 1 zone.
- ``bytetrack_fps``: ``ByteTrack.update`` frames/s;
- ``tracker_fps``: frames/s of ``Tracker`` on a private embedded Redis (unix socket): XREAD,
  reorder, ByteTrack, line and zone counts, one fenced Lua write per frame (one transaction and
  one snapshot per batch), from a detections stream filled beforehand (a backlog);
- ``tracker_fps_live``: the same one frame per pass, as when following a live camera (every
  frame then carries a snapshot);
- ``snapshot_bytes``: size of the JSON snapshot at the end.
Usage: ``.venv/bin/python bench/tracker_speed.py [--frames 1000] [--objects 10 50]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common.cameras import CameraConfig
from common.counting_rules import LineConfig, ZoneConfig
from common.keys import KEYS  # noqa: E402
from common.messages import DetectedObject, DetectionMessage  # noqa: E402
from runtime.camera_list import store_camera
from runtime.redis_conn import EmbeddedRedis
from tracking.bytetrack import ByteTrack  # noqa: E402
from tracking.service import Tracker  # noqa: E402
from tracking.settings import TrackerSettings

WIDTH, HEIGHT = 640, 360


def walkers(frames: int, objects: int, seed: int = 0) -> list[DetectionMessage]:
    """Detections of ``objects`` people crossing the frame in straight lines."""
    rng = np.random.default_rng(seed)
    start = rng.uniform([0, 40], [WIDTH - 40, HEIGHT - 100], (objects, 2))
    velocity = rng.uniform(-3, 3, (objects, 2))
    messages = []
    for f in range(frames):
        found = []
        for k in range(objects):
            x, y = (start[k] + velocity[k] * f) % [WIDTH - 40, HEIGHT - 100]
            if rng.random() < 0.05:
                continue  # missed
            box = (x + rng.normal(0, 1), y + rng.normal(0, 1), x + 40 + rng.normal(0, 1),
                   y + 100 + rng.normal(0, 1))
            found.append(DetectedObject("person", 1, float(rng.uniform(0.2, 0.95)), box))
        messages.append(DetectionMessage("bench", f"{1_700_000_000_000 + 40 * f}-0", f,
                                         1_700_000_000 + 0.04 * f, 0.0, "bench", WIDTH, HEIGHT,
                                         found))
    return messages


def bytetrack_fps(messages: list[DetectionMessage]) -> float:
    tracker = ByteTrack()
    start = time.perf_counter()
    for msg in messages:
        tracker.update(msg.objects)
    return len(messages) / (time.perf_counter() - start)


def tracker_fps(messages: list[DetectionMessage], folder: Path,
                read_count: int) -> tuple[float, int]:
    server = EmbeddedRedis(folder, unix_socket=folder / "redis.sock")
    server.start()
    try:
        client = server.client()
        store_camera(client, KEYS, CameraConfig(
            name="bench", url="bench.mp4",
            lines=[LineConfig(name="a", points=[(0.5, 0), (0.5, 1)]),
                   LineConfig(name="b", points=[(0, 0.5), (1, 0.5)])],
            zones=[ZoneConfig(name="z", points=[(0, 0), (0.5, 0), (0.5, 0.5), (0, 0.5)])]))
        pipe = client.pipeline(transaction=False)
        for msg in messages:
            pipe.xadd(KEYS.detections("bench"), msg.to_fields())
        pipe.sadd(KEYS.camera_names, "bench")
        pipe.execute()
        tracker = Tracker(client, TrackerSettings(redis_url=server.url, tracker_poll_s=0.05), read_count)
        while not tracker.cameras:  # take the camera (and nothing else) before the clock starts
            tracker.upkeep()
        start, done = time.perf_counter(), 0
        while done < len(messages):
            done += tracker.step()
        elapsed = time.perf_counter() - start
        snapshot = client.hget(KEYS.tracker_state("bench"), "snapshot")
        return len(messages) / elapsed, len(snapshot)
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=1000)
    parser.add_argument("--objects", type=int, nargs="+", default=[10, 50])
    args = parser.parse_args()
    results = {}
    for objects in args.objects:
        messages = walkers(args.frames, objects)
        with tempfile.TemporaryDirectory(prefix="cctv-bench-") as folder:
            fps, snapshot_bytes = tracker_fps(messages, Path(folder), 500)
        with tempfile.TemporaryDirectory(prefix="cctv-bench-") as folder:
            live_fps, _ = tracker_fps(messages, Path(folder), 1)
        results[f"{objects}_objects"] = {"bytetrack_fps": round(bytetrack_fps(messages), 1),
                                         "tracker_fps": round(fps, 1),
                                         "tracker_fps_live": round(live_fps, 1),
                                         "snapshot_bytes": snapshot_bytes}
    print(json.dumps({"frames": args.frames, **results}))


if __name__ == "__main__":
    main()
