"""Event snapshots and clips, written by one thread so that tracking never waits on encoding.

Snapshots are the tracked frame from ``cctv:frames:{cam}`` with the object's box drawn, and its
crop; clips are H.264 MP4 of the camera's frames still in Redis between the clip's start and end
(``clip_complete`` false when the oldest frame kept is after the start: the clip is shorter).
Every ``prune_every_s`` it applies the retention (age, total size per camera). A full queue drops
the job (logged): memory stays bounded whatever the load.
"""

from __future__ import annotations

import logging
import os
import queue
import tempfile
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import redis

from common.events import load_event, prune, save_event
from common.keys import Keys
from media.draw import draw_scene
from media.video import VideoWriter

from .events import ClipJob, SnapshotJob

log = logging.getLogger("cctv.tracker.events")

QUEUE_MAX = 1000
CLIP_PRESET = "ultrafast"
"""x264 preset of clips: 40% less CPU than veryfast (bench/events.py), larger files."""
CROP_MARGIN = 0.1
"""The crop extends the box by this fraction of its size on every side."""


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``path`` whole or not at all (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, partial = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.replace(partial, path)


def snapshot_jpegs(jpeg: bytes, job: SnapshotJob) -> tuple[bytes, bytes]:
    """The full frame with the box drawn, and the crop around the box (undrawn)."""
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError("frame JPEG does not decode")
    height, width = image.shape[:2]
    sx, sy = width / job.size[0], height / job.size[1]
    x1, y1, x2, y2 = job.obj.box
    mx, my = (x2 - x1) * CROP_MARGIN, (y2 - y1) * CROP_MARGIN
    left, top = max(0, int((x1 - mx) * sx)), max(0, int((y1 - my) * sy))
    right, bottom = min(width, int((x2 + mx) * sx) + 1), min(height, int((y2 + my) * sy) + 1)
    crop = image[top:max(bottom, top + 1), left:max(right, left + 1)]
    full = draw_scene(image, [job.obj], job.size)
    return (cv2.imencode(".jpg", full, [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes(),
            cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes())


def frame_rate(times: list[float]) -> float:
    """Frames per second of capture times (10 for fewer than two frames)."""
    span = times[-1] - times[0] if len(times) > 1 else 0.0
    return (len(times) - 1) / span if span > 0 else 10.0


class EventMedia:
    """The writer thread: :meth:`submit` jobs, :meth:`stop` at the end."""

    def __init__(self, client: redis.Redis, keys: Keys, media_dir: Path, *,
                 max_age_s: float, max_bytes: int, prune_every_s: float = 60.0):
        self.client, self.keys, self.media_dir = client, keys, media_dir
        self.max_age_s, self.max_bytes, self.prune_every_s = max_age_s, max_bytes, prune_every_s
        self.jobs: queue.Queue[SnapshotJob | ClipJob | None] = queue.Queue(QUEUE_MAX)
        self.cameras: set[str] = set()
        self.clip_seconds = self.clip_cpu_s = 0.0
        self.thread = threading.Thread(target=self._run, name="event-media", daemon=True)
        self.thread.start()

    def submit(self, job: SnapshotJob | ClipJob) -> None:
        """Queue a job; dropped (logged) when the queue is full."""
        self.cameras.add(job.camera)
        try:
            self.jobs.put_nowait(job)
        except queue.Full:
            log.warning("camera %s: event media queue full: %s dropped", job.camera, job.name)

    def stop(self, timeout: float = 30.0) -> None:
        """Finish the queued jobs and end the thread."""
        self.jobs.put(None)
        self.thread.join(timeout)

    def _run(self) -> None:
        next_prune = time.monotonic() + self.prune_every_s
        while True:
            try:
                job = self.jobs.get(timeout=max(0.0, next_prune - time.monotonic()))
            except queue.Empty:
                job = False
            if job is None:
                return
            try:
                if isinstance(job, SnapshotJob):
                    self.snapshot(job)
                elif isinstance(job, ClipJob):
                    self.clip(job)
                if time.monotonic() >= next_prune:
                    next_prune = time.monotonic() + self.prune_every_s
                    self.prune()
            except Exception:  # a bad frame or a Redis outage costs that job, not the thread
                log.exception("event media job failed: %s", job)

    def snapshot(self, job: SnapshotJob) -> None:
        entries = self.client.xrange(self.keys.frames(job.camera), job.frame_id, job.frame_id)
        if not entries:
            log.info("camera %s: frame %s already trimmed: snapshot %s not updated",
                     job.camera, job.frame_id, job.name)
            return
        full, crop = snapshot_jpegs(entries[0][1][b"jpeg"], job)
        write_atomic(self.media_dir / job.name, full)
        write_atomic(self.media_dir / (job.name[:-len(".jpg")] + "-crop.jpg"), crop)

    def clip(self, job: ClipJob) -> None:
        started = time.thread_time()
        frames = [(float(f[b"ts"]), f[b"jpeg"]) for _, f in
                  self.client.xrange(self.keys.frames(job.camera))]
        chosen = [(ts, jpeg) for ts, jpeg in frames if job.start_ts <= ts <= job.end_ts]
        event = load_event(self.client, self.keys, job.event_id)
        if event is None:
            return
        if not chosen:
            log.info("camera %s: no frames left for clip %s", job.camera, job.name)
            event.clip, event.clip_complete = None, False
            save_event(self.client, self.keys, event)
            return
        path = self.media_dir / job.name
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, partial = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".mp4", dir=path.parent)
        os.close(fd)
        rate = frame_rate([ts for ts, _ in chosen])
        with VideoWriter(partial, rate, preset=CLIP_PRESET) as writer:
            for _, jpeg in chosen:
                image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
                if image is not None:
                    writer.write(image)
        os.replace(partial, path)
        event.clip_complete = frames[0][0] <= job.start_ts and frames[-1][0] >= job.end_ts
        save_event(self.client, self.keys, event)
        self.clip_seconds += chosen[-1][0] - chosen[0][0]
        self.clip_cpu_s += time.thread_time() - started

    def prune(self) -> None:
        for camera in sorted(self.cameras):
            removed = prune(self.client, self.keys, camera, self.media_dir, now=time.time(),
                            max_age_s=self.max_age_s, max_bytes=self.max_bytes)
            if removed:
                log.info("camera %s: retention removed %d events", camera, len(removed))
