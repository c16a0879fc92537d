"""Event snapshots, written by one thread so that tracking never waits on drawing or disk.

A snapshot is the tracked frame from ``cctv:frames:{cam}`` with the object's box drawn, and its
crop; the frame is read when the job is submitted (right after the tracker wrote the frame), so a
live camera's capped stream cannot trim it while the queue is busy. A record names the snapshot
once both files are written; one that cannot be made is left unnamed with the reason in
``media_errors`` (one log line). An event's ``end`` is written by the same thread behind the
snapshots queued before it, so it is the event's last message and says whether it has one. The
tracker writes no video: an event's clip is cut from the camera's recording by the API
(:mod:`api.event_clips`).

A file's ingest trims its frame stream below the frame the tracker last tracked, which a batch
of frames moves past its earlier frames before their snapshots are read: after each batch the
tracker writes its last frame id to its state (:data:`common.records.FRAMES_NEEDED_FIELD`), so
the next batch's frames stay until it has written them and read their snapshots. Every
``prune_every_s`` the thread applies the event retention (age, total size per camera). A full
queue drops the job (logged): memory stays bounded whatever the load.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import redis

from common.event_changes import ChangeKind
from common.events import Event
from common.keys import Keys
from common.records import FRAMES_NEEDED_FIELD
from media.draw import draw_scene
from runtime.event_store import prune
from runtime.files import atomic_write
from runtime.paths import confined

from .events import (
    Change,
    Changes,
    SnapshotJob,
    media_missing,
    media_written,
    update_record,
    write_changes,
)

log = logging.getLogger("cctv.tracker.events")

QUEUE_MAX = 1000
CROP_MARGIN = 0.1
"""The crop extends the box by this fraction of its size on every side."""
FRAME_TRIMMED = "frame trimmed before the snapshot was taken"
QUEUE_FULL = "event media queue full"


@dataclass(frozen=True)
class End:
    """An ended event, its ``end`` to write."""

    camera: str
    event: Event


@dataclass(frozen=True)
class Snapshot:
    """A snapshot job with its frame's JPEG, read when it was submitted."""

    job: SnapshotJob
    jpeg: bytes


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


class EventMedia:
    """The writer thread: :meth:`write` each frame's changes, :meth:`stop` at the end."""

    def __init__(self, client: redis.Redis, keys: Keys, media_dir: Path, *,
                 max_age_s: float, max_bytes: int, prune_every_s: float = 60.0):
        self.client, self.keys, self.media_dir = client, keys, media_dir
        self.max_age_s, self.max_bytes, self.prune_every_s = max_age_s, max_bytes, prune_every_s
        self.jobs: queue.Queue[Snapshot | End | None] = queue.Queue(QUEUE_MAX)
        self.cameras: set[str] = set()
        self.thread = threading.Thread(target=self._run, name="event-media", daemon=True)
        self.thread.start()

    def write(self, camera: str, changes: Changes) -> None:
        """One frame's changes: ``new`` and ``update`` written now, snapshots queued (their
        frames read now), ends queued behind them (written now if the queue is full)."""
        write_changes(self.client, self.keys, camera, Changes(
            [c for c in changes.events if c.kind != ChangeKind.END]))
        for job in changes.snapshots:
            self.submit(job)
        for change in changes.events:
            if change.kind == ChangeKind.END:
                try:
                    self.jobs.put_nowait(End(camera, change.event))
                except queue.Full:
                    self.end(End(camera, change.event))

    def submit(self, job: SnapshotJob) -> None:
        """Queue a snapshot, its frame read now; dropped (logged) when the queue is full."""
        self.cameras.add(job.camera)
        entries = self.client.xrange(self.keys.frames(job.camera), job.frame_id, job.frame_id)
        if not entries:
            self._missing(job, FRAME_TRIMMED)
            return
        try:
            self.jobs.put_nowait(Snapshot(job, entries[0][1][b"jpeg"]))
        except queue.Full:
            self._missing(job, QUEUE_FULL)

    def tracked(self, camera: str, frame_id: str) -> None:
        """The tracker has tracked the camera up to ``frame_id`` and read the snapshots of those
        frames (we hold the lock): the frames after it are the next batch's."""
        self.client.hset(self.keys.tracker_state(camera), FRAMES_NEEDED_FIELD, frame_id)

    def stop(self, timeout: float = 30.0) -> None:
        """Finish the queued jobs and end the thread."""
        self.jobs.put(None)
        self.thread.join(timeout)

    def _missing(self, job: SnapshotJob, reason: str) -> None:
        """The snapshot cannot be made: its record says why (one log line); a better snapshot
        that cannot be made leaves the one there is."""
        if job.event.snapshot is not None:
            log.info("event %s: snapshot not replaced: %s", job.event.id, reason)
            return
        log.warning("event %s: no snapshot: %s", job.event.id, reason)
        update_record(self.client, self.keys, job.event.id, media_missing("snapshot", reason),
                      job.event)

    def _run(self) -> None:
        next_prune = time.monotonic() + self.prune_every_s
        while True:
            try:
                item = self.jobs.get(timeout=max(0.0, next_prune - time.monotonic()))
            except queue.Empty:
                pass
            else:
                if item is None:
                    return
                try:
                    if isinstance(item, End):
                        self.end(item)
                    else:
                        self.snapshot(item)
                except Exception:  # a bad frame or a Redis outage costs that job
                    log.exception("event media job failed: %s", item)
            if time.monotonic() >= next_prune:
                next_prune = time.monotonic() + self.prune_every_s
                try:
                    self.prune()
                except Exception:  # a Redis outage costs this pass, not the thread
                    log.exception("event retention failed")

    def snapshot(self, item: Snapshot) -> None:
        job = item.job
        try:
            full, crop = snapshot_jpegs(item.jpeg, job)
        except ValueError as exc:
            self._missing(job, str(exc))
            return
        atomic_write(confined(self.media_dir, job.name), full)
        atomic_write(confined(self.media_dir, job.name[:-len(".jpg")] + "-crop.jpg"), crop)
        if job.event.snapshot != job.name:
            update_record(self.client, self.keys, job.event.id,
                          media_written("snapshot", job.name), job.event, announce=True)

    def end(self, item: End) -> None:
        write_changes(self.client, self.keys, item.camera,
                      Changes([Change(ChangeKind.END, item.event)]))

    def prune(self) -> None:
        for camera in sorted(self.cameras):
            removed = prune(self.client, self.keys, camera, self.media_dir, now=time.time(),
                            max_age_s=self.max_age_s, max_bytes=self.max_bytes)
            if removed:
                log.info("camera %s: retention removed %d events", camera, len(removed))
