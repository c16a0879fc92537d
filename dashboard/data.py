"""What the dashboard shows, read from Redis through :mod:`common` (no Streamlit here).

Every function takes the client and the key layout explicitly, so it is testable against a real
Redis without a page.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Sequence

import pandas as pd
import redis

from common.keys import Keys
from media.files import PendingFiles

VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".m4v", ".webm", ".ts", ".mpg", ".mpeg")
"""Files the replay form offers (anything OpenCV's FFmpeg opens also works from the CLI)."""


def known_labels(status: dict) -> list[str]:
    """Every label any camera has detected, sorted."""
    return sorted({label for cam in status["cameras"].values()
                   for label in cam["detections_total"]})


PLACE_KINDS = {"in": "crossed in", "out": "crossed out", "peak": "most in zone"}
"""Tracker per-minute fields ``<kind>:<line or zone>:<label>`` and how the page names them."""


def minute_tables(client: redis.Redis, keys: Keys, cameras: Sequence[str], minutes: int = 60,
                  now: float | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The last ``minutes`` minutes of the workers' and the tracker's per-minute buckets.

    ``classes``: one row per camera, minute (UTC) and label with ``detections`` (boxes),
    ``frames`` (frames processed), ``per_frame`` (detections / frames: the average number in
    view) and ``unique`` (distinct tracked objects; 0 without the tracker).
    ``places``: one row per camera, minute, ``kind`` (see :data:`PLACE_KINDS`), line or zone
    ``name`` and label, with ``count`` (crossings, or the most objects in the zone at once).
    """
    last = int((time.time() if now is None else now) // 60)
    span = range(last - minutes + 1, last + 1)
    pipe = client.pipeline(transaction=False)
    for camera in cameras:
        for minute in span:
            pipe.hgetall(keys.minute(camera, minute))
            pipe.hgetall(keys.track_minute(camera, minute))
    replies = iter(pipe.execute())
    classes, places = [], []
    for camera in cameras:
        for minute in span:
            at = pd.Timestamp(minute * 60, unit="s")
            counts = {k.decode(): int(v) for k, v in next(replies).items()}
            frames = counts.pop("_frames", 0)
            unique = {}
            for key, n in next(replies).items():
                kind, _, rest = key.decode().partition(":")
                if kind == "unique":
                    unique[rest] = int(n)
                elif kind in PLACE_KINDS:
                    name, _, label = rest.partition(":")
                    places.append({"camera": camera, "minute": at, "kind": PLACE_KINDS[kind],
                                   "name": name, "label": label, "count": int(n)})
            for label in sorted(set(counts) | set(unique)):
                n = counts.get(label, 0)
                classes.append({"camera": camera, "minute": at, "label": label, "detections": n,
                                "frames": frames,
                                "per_frame": round(n / frames, 3) if frames else 0.0,
                                "unique": unique.get(label, 0)})
    return (pd.DataFrame(classes, columns=["camera", "minute", "label", "detections", "frames",
                                           "per_frame", "unique"]),
            pd.DataFrame(places, columns=["camera", "minute", "kind", "name", "label", "count"]))


def camera_health(status: dict, stale_s: float, now: float | None = None) -> pd.DataFrame:
    """One row per camera: state (``stalled`` when online without a frame for ``stale_s``),
    ingest fps, frames in/processed/dropped, with motion and skipped by the detector (still),
    last frame age, stream depth and pending."""
    now = time.time() if now is None else now
    rows = []
    for name, cam in status["cameras"].items():
        age = now - cam["last_frame_ts"] if cam["last_frame_ts"] else None
        state = cam["state"]
        if state == "online" and (age is None or age > stale_s):
            state = "stalled"
        rows.append({"camera": name, "state": state, "fps": round(cam["fps"], 1),
                     "frames in": cam["frames_in"], "processed": cam["frames_processed"],
                     "dropped": cam["frames_dropped"],
                     "with motion": cam.get("frames_motion", 0),
                     "skipped (still)": cam.get("frames_still", 0),
                     "last frame (s ago)": None if age is None else round(age, 1),
                     "stream depth": cam["stream_length"], "pending": cam["pending"],
                     "reconnects": cam["reconnects"], "error": cam["error"] or ""})
    return pd.DataFrame(rows)


def worker_health(status: dict, stale_s: float, now: float | None = None) -> pd.DataFrame:
    """One row per worker with a heartbeat: ``alive``, or ``stalled`` when its last beat is older
    than ``stale_s`` (a killed worker; its heartbeat expires soon after and the row goes)."""
    now = time.time() if now is None else now
    rows = [{"worker": w["worker"], "state": "alive" if now - w["ts"] <= stale_s else "stalled",
             "host": w["host"], "device": w["device"],
             "seen (s ago)": round(now - w["ts"], 1), "frames": w["frames"], "fps": w["fps"],
             "batch size": w["batch_size"], "latency (ms/batch)": w["latency_ms"],
             "dead letters": w["dead_letters"]} for w in status["workers"]]
    return pd.DataFrame(rows)


def media_files(folder: Path) -> list[Path]:
    """Replayable video files directly in ``folder``, by name."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)


def save_upload(folder: Path, name: str, data: bytes) -> Path:
    """Store an uploaded file in ``folder`` under its base name, never over another file."""
    base = Path(name).name
    if not base or base.startswith(".") or Path(base).suffix.lower() not in VIDEO_SUFFIXES:
        raise ValueError(f"{name!r} is not a video file name "
                         f"({', '.join(VIDEO_SUFFIXES)})")
    with PendingFiles(folder) as files:
        files.reserve(base).write_bytes(data)
        return files.commit()[0]
