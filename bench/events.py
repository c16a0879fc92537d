"""Events cost, printed as JSON: the tracker stage with events on and off.

The tracker encodes no clip (an event's clip is cut from the camera's recording on request), so
what events cost it is their records, messages and snapshots. A synthetic camera (640x360,
``--fps`` 10): a person enters every ``--every`` seconds and walks across in ``--walk`` seconds;
its frames (JPEG) and detections are put in a private embedded Redis beforehand. Printed:
- ``tracker_fps_events_off`` / ``tracker_fps_events_on``: frames/s of ``Tracker`` working off the
  backlog; ``events_per_s``: events (``new`` .. ``end``) made per second of that tracking;
- ``cpu_ms_per_event``: the tracker process's CPU time with events on minus off (both threads,
  until every snapshot and end is written), per event;
- ``events_core_share_per_camera``: that CPU per second of camera time, i.e. the share of one
  core the events of one such camera cost;
- ``clips_named`` / ``video_files_written``: ended events whose record names their clip range,
  and MP4 files the tracker wrote (none);
- ``snapshot_ms``: mean time of one snapshot job (full frame with the box, and the crop).
Usage: ``.venv/bin/python bench/events.py [--seconds 30] [--fps 10] [--every 1] [--walk 3]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common.cameras import CameraConfig
from common.counting_rules import LineConfig
from common.keys import KEYS  # noqa: E402
from common.messages import DetectedObject, DetectionMessage, FrameMessage  # noqa: E402
from runtime.camera_list import store_camera
from runtime.event_store import Query, query_events
from runtime.redis_conn import EmbeddedRedis
from tracking.service import Tracker  # noqa: E402
from tracking.settings import TrackerSettings

WIDTH, HEIGHT, BOX = 640, 360, (40, 100)


def scene(seconds: float, fps: float, every: float,
          walk: float) -> list[tuple[bytes, DetectionMessage]]:
    """(frame JPEG, detections) of people crossing left to right, one per ``every`` seconds."""
    out = []
    for f in range(int(seconds * fps)):
        t = f / fps
        image = np.full((HEIGHT, WIDTH, 3), 60, np.uint8)
        found = []
        for k in range(int(t // every) + 1):
            age = t - k * every
            if 0 <= age <= walk:
                x = age / walk * (WIDTH - BOX[0])
                y = 40 + (k * 37) % (HEIGHT - BOX[1] - 50)
                box = (x, y, x + BOX[0], y + BOX[1])
                cv2.rectangle(image, (int(x), int(y)), (int(x) + BOX[0], int(y) + BOX[1]),
                              (40, 40 + 20 * (k % 10), 200), -1)
                found.append(DetectedObject("person", 1, 0.9, box))
        jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 80])[1].tobytes()
        out.append((jpeg, DetectionMessage("bench", f"{1_700_000_000_000 + int(t * 1000)}-0", f,
                                           1_700_000_000 + t, 0.0, "bench", WIDTH, HEIGHT,
                                           found)))
    return out


def run(frames: list[tuple[bytes, DetectionMessage]], folder: Path, events: bool) -> dict:
    server = EmbeddedRedis(folder, unix_socket=folder / "redis.sock")
    server.start()
    try:
        client = server.client()
        store_camera(client, KEYS, CameraConfig(
            name="bench", url="bench.mp4",
            lines=[LineConfig(name="mid", points=[(0.5, 0), (0.5, 1)])]))
        for jpeg, msg in frames:
            client.xadd(KEYS.frames("bench"), FrameMessage("bench", msg.seq, msg.ts, WIDTH,
                                                           HEIGHT, jpeg).to_fields(),
                        id=msg.frame_id)
            client.xadd(KEYS.detections("bench"), msg.to_fields())
        client.sadd(KEYS.camera_names, "bench")
        settings = TrackerSettings(redis_url=server.url, tracker_poll_s=0.05, reorder_ms=60_000,
                                   events=events, media_dir=folder / "media",
                                   event_end_after_s=1.0)
        tracker = Tracker(client, settings)
        last = frames[-1][1].frame_id
        start, cpu = time.perf_counter(), time.process_time()
        while (client.hget(KEYS.tracker_state("bench"), "frame_id") or b"").decode() != last:
            tracker.step()
        tracking_s = time.perf_counter() - start
        if events:
            tracker.media.stop(timeout=3600)
        result = {"fps": len(frames) / tracking_s, "tracking_s": tracking_s,
                  "cpu_s": time.process_time() - cpu}
        if events:
            kinds = [f[b"type"] for _, f in client.xrange(KEYS.event_updates)]
            stored, _ = query_events(client, KEYS, Query(camera="bench", limit=1000))
            result |= {"events": kinds.count(b"new"), "ended": kinds.count(b"end"),
                       "clips_named": sum(e.recorded_clip is not None for e in stored),
                       "video_files": len(list((folder / "media").rglob("*.mp4")))}
        return result
    finally:
        server.stop()


def snapshot_ms(frames: list[tuple[bytes, DetectionMessage]], repeat: int = 50) -> float:
    from common.events import Event
    from common.tracks import TrackedObject
    from tracking.event_media import snapshot_jpegs
    from tracking.events import SnapshotJob

    jpeg, msg = next((j, m) for j, m in frames if m.objects)
    obj = msg.objects[0]
    job = SnapshotJob("bench", msg.frame_id, TrackedObject(1, obj.label, obj.class_id,
                                                           obj.score, obj.box),
                      (WIDTH, HEIGHT), "x.jpg", Event("bench.1.1", "bench", obj.label, 0.0))
    start = time.perf_counter()
    for _ in range(repeat):
        snapshot_jpegs(jpeg, job)
    return (time.perf_counter() - start) / repeat * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--fps", type=float, default=10.0)
    parser.add_argument("--every", type=float, default=1.0)
    parser.add_argument("--walk", type=float, default=3.0)
    args = parser.parse_args()
    frames = scene(args.seconds, args.fps, args.every, args.walk)
    with tempfile.TemporaryDirectory() as off, tempfile.TemporaryDirectory() as on:
        without = run(frames, Path(off), events=False)
        with_events = run(frames, Path(on), events=True)
    extra_cpu_s = with_events["cpu_s"] - without["cpu_s"]
    print(json.dumps({
        "frames": len(frames), "camera_seconds": args.seconds, "fps": args.fps,
        "tracker_fps_events_off": round(without["fps"], 1),
        "tracker_fps_events_on": round(with_events["fps"], 1),
        "events": with_events["events"], "events_ended": with_events["ended"],
        "events_per_s": round(with_events["events"] / with_events["tracking_s"], 1),
        "cpu_ms_per_event": round(extra_cpu_s / max(with_events["events"], 1) * 1000, 2),
        "events_core_share_per_camera": round(extra_cpu_s / args.seconds, 4),
        "clips_named": with_events["clips_named"],
        "video_files_written": with_events["video_files"],
        "snapshot_ms": round(snapshot_ms(frames), 2),
    }, indent=2))


if __name__ == "__main__":
    main()
