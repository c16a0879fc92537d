"""What the dashboard shows, read from Redis through :mod:`common` (no Streamlit here).

Every function takes the client and the key layout explicitly, so it is testable against a real
Redis without a page.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Sequence

import pandas as pd
import redis

from common.cameras import is_camera_name
from common.counts import MinuteCounts
from common.fields import text
from common.keys import Keys
from media.files import PendingFiles
from runtime.camera_list import published_camera_names
from runtime.status import Status

VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".m4v", ".webm", ".ts", ".mpg", ".mpeg")
"""Files the replay form offers (anything OpenCV's FFmpeg opens also works from the CLI)."""


ENDED_STATES = frozenset({"finished", "stopped"})
"""Ingest states after which a camera publishes nothing more: a file or replay at its end, a
camera removed or its ingest shut down. Nothing of theirs is "in view now"."""


def camera_states(client: redis.Redis, keys: Keys) -> dict[str, tuple[bool, str]]:
    """Every camera, configured or published, by name -> (configured, ingest state): the cheap
    part of the status that decides which tiles and rows a view shows."""
    configured = {text(name) for name in client.hkeys(keys.cameras)}
    names = sorted({n for n in configured if is_camera_name(n)}
                   | set(published_camera_names(client, keys)))
    return {name: (name in configured, ingest_state(client, keys, name)) for name in names}


def ingest_state(client: redis.Redis, keys: Keys, camera: str) -> str:
    """The camera's ingest state (:data:`common.records.CAMERA_STATES`), ``starting`` before
    ingest wrote one."""
    return text(client.hget(keys.state(camera), "state") or b"starting")


def live_cameras(states: dict[str, tuple[bool, str]]) -> list[str]:
    """The cameras the Live view plays: configured ones, and others (replays) while they run. A
    finished replay or a removed camera leaves (a replay's recording stays in Replay)."""
    return [name for name, (configured, state) in states.items()
            if configured or state not in ENDED_STATES]


def in_view_now(state: str, frame_ts: float | None, stale_s: float,
                now: float | None = None) -> bool:
    """Whether a camera's newest objects are in view now: it still runs and its newest frame is
    at most ``stale_s`` old."""
    now = time.time() if now is None else now
    return state not in ENDED_STATES and frame_ts is not None and now - frame_ts <= stale_s


CLASS_COLUMNS = ["camera", "minute", "label", "unique", "per_frame", "detections", "frames"]
PLACE_COLUMNS = ["camera", "minute", "kind", "name", "label", "count"]


def minute_rows(camera: str, minute: MinuteCounts) -> tuple[list[dict], list[dict]]:
    """One minute's ``classes`` and ``places`` rows (see :func:`minute_tables`)."""
    at, counts = pd.Timestamp(minute.minute * 60, unit="s"), minute.counts
    frames = minute.frames_tracked or minute.frames
    classes = [{"camera": camera, "minute": at, "label": label,
                "unique": counts.unique.get(label, 0),
                "per_frame": round(counts.detections.get(label, 0) / frames, 3) if frames else 0.0,
                "detections": counts.detections.get(label, 0), "frames": frames}
               for label in sorted(set(counts.detections) | set(counts.unique))]
    places = [{"camera": camera, "minute": at, "kind": f"crossed {way}", "name": name,
               "label": label, "count": n}
              for name, line in counts.lines.items()
              for way, labels in (("in", line.into), ("out", line.out))
              for label, n in labels.items()]
    places += [{"camera": camera, "minute": at, "kind": "most in zone", "name": zone,
                "label": label, "count": n}
               for zone, labels in counts.peaks.items() for label, n in labels.items()]
    for zone, labels in counts.dwell.items():
        for label, dwell in labels.items():
            places += [{"camera": camera, "minute": at, "kind": kind, "name": zone,
                        "label": label, "count": round(value, 1)}
                       for kind, value in (("mean dwell (s)", dwell.mean_s),
                                           ("max dwell (s)", dwell.max_s))]
    return classes, places


def minute_tables(client: redis.Redis, keys: Keys, cameras: Sequence[str], minutes: int = 60,
                  now: float | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The last ``minutes`` minutes of per-minute counts.

    ``classes``: one row per camera, minute (UTC) and label with ``unique`` (distinct objects
    the tracker counted), ``per_frame`` (detections / frames tracked: the average number in
    view), ``detections`` (summed over frames) and ``frames``.
    ``places``: one row per camera, minute, ``kind`` (crossed in, crossed out, most in zone,
    mean dwell (s), max dwell (s)), line or zone ``name`` and label, with ``count``.
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
            rows = minute_rows(camera, MinuteCounts.parse(minute, next(replies), next(replies)))
            classes += rows[0]
            places += rows[1]
    return pd.DataFrame(classes, columns=CLASS_COLUMNS), pd.DataFrame(places, columns=PLACE_COLUMNS)


def camera_health(status: Status, stale_s: float, now: float | None = None) -> pd.DataFrame:
    """One row per camera: state (``stalled`` when online without a frame for ``stale_s``),
    ingest fps, frames in/processed/dropped, with motion and skipped by the detector (still),
    last frame age, stream depth and pending."""
    now = time.time() if now is None else now
    rows = []
    for name, cam in status.cameras.items():
        age = now - cam.last_frame_ts if cam.last_frame_ts else None
        state = cam.state
        if state == "online" and (age is None or age > stale_s):
            state = "stalled"
        rows.append({"camera": name, "state": state, "fps": round(cam.fps, 1),
                     "frames in": cam.frames_in, "processed": cam.frames_processed,
                     "dropped": cam.frames_dropped, "with motion": cam.frames_motion,
                     "skipped (still)": cam.frames_still,
                     "last frame (s ago)": None if age is None else round(age, 1),
                     "stream depth": cam.stream_length, "pending": cam.pending,
                     "reconnects": cam.reconnects, "error": cam.error or ""})
    return pd.DataFrame(rows)


def worker_health(status: Status, stale_s: float, now: float | None = None) -> pd.DataFrame:
    """One row per worker with a heartbeat: ``alive``, or ``stalled`` when its last beat is older
    than ``stale_s`` (a killed worker; its heartbeat expires soon after and the row goes)."""
    now = time.time() if now is None else now
    rows = [{"worker": w.worker, "state": "alive" if now - w.ts <= stale_s else "stalled",
             "host": w.host, "device": w.device, "seen (s ago)": round(now - w.ts, 1),
             "frames": w.frames, "fps": w.fps, "batch size": w.batch_size,
             "latency (ms/batch)": w.latency_ms, "dead letters": w.dead_letters}
            for w in status.workers]
    return pd.DataFrame(rows)


def redis_losses(status: Status, now: float | None = None) -> pd.DataFrame:
    """One row per service that lost Redis: when (seconds ago) and for how long, newest first."""
    now = time.time() if now is None else now
    rows = [{"service": service, "lost (s ago)": round(now - loss.lost, 1),
             "outage (s)": round(loss.back - loss.lost, 1)}
            for service, loss in sorted(status.redis_losses.items(),
                                        key=lambda item: -item[1].lost)]
    return pd.DataFrame(rows, columns=["service", "lost (s ago)", "outage (s)"])


def media_files(folder: Path) -> list[Path]:
    """Replayable video files directly in ``folder``, by name."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)


def stored_copy(folder: Path, data: bytes) -> Path | None:
    """The video file in ``folder`` whose bytes are ``data``, if any."""
    digest = hashlib.sha256(data).digest()
    return next((path for path in media_files(folder) if path.stat().st_size == len(data)
                 and hashlib.sha256(path.read_bytes()).digest() == digest), None)


def save_upload(folder: Path, name: str, data: bytes) -> Path:
    """Store an uploaded file in ``folder`` under its base name, never over another file. The
    same content again (Streamlit hands an upload over on every rerun) is the file it stored."""
    base = Path(name).name
    if not base or base.startswith(".") or Path(base).suffix.lower() not in VIDEO_SUFFIXES:
        raise ValueError(f"{name!r} is not a video file name "
                         f"({', '.join(VIDEO_SUFFIXES)})")
    stored = stored_copy(folder, data)
    if stored is not None:
        return stored
    with PendingFiles(folder) as files:
        files.reserve(base).write_bytes(data)
        return files.commit()[0]
