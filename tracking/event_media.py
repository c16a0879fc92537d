"""Event snapshots and clips, written by one thread so that tracking never waits on encoding.

Snapshots are the tracked frame from ``cctv:frames:{cam}`` with the object's box drawn, and its
crop. A clip is recorded while its event goes on (:mod:`tracking.recording`, up to
``MAX_RECORDINGS`` at once); an event with no recording (continued after a takeover, or over the
limit) gets at its end the camera's frames still in Redis between the clip's start and end.
``clip_complete`` is false when the oldest frame kept was after the start: the clip is shorter.
Every ``prune_every_s`` it applies the retention (age, total size per camera). A full queue drops
the job (logged): memory stays bounded whatever the load.
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

from common.keys import Keys
from media.draw import draw_scene
from media.video import VideoWriter
from runtime.event_store import load_event, prune, save_event
from runtime.files import atomic_write, replacing
from runtime.paths import confined

from .events import ClipJob, ClipStart, SnapshotJob
from .recording import Recording, frame_rate

log = logging.getLogger("cctv.tracker.events")

QUEUE_MAX = 1000
MAX_RECORDINGS = 64
FOLLOW_S = 0.2
"""How often recordings read new frames."""
CLIP_PRESET = "ultrafast"
"""x264 preset of clips: 40% less CPU than veryfast (bench/events.py), larger files. Clips are
encoded on one thread each: a quarter less CPU per frame than libx264's own threading (640x360)."""
CROP_MARGIN = 0.1
"""The crop extends the box by this fraction of its size on every side."""


@dataclass(frozen=True)
class Advance:
    """The camera is tracked up to capture time ``ts``."""

    camera: str
    ts: float


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
    """The writer thread: :meth:`submit` jobs, :meth:`stop` at the end."""

    def __init__(self, client: redis.Redis, keys: Keys, media_dir: Path, *,
                 max_age_s: float, max_bytes: int, prune_every_s: float = 60.0):
        self.client, self.keys, self.media_dir = client, keys, media_dir
        self.max_age_s, self.max_bytes, self.prune_every_s = max_age_s, max_bytes, prune_every_s
        self.jobs: queue.Queue[SnapshotJob | ClipStart | ClipJob | Advance | None] = \
            queue.Queue(QUEUE_MAX)
        self.cameras: set[str] = set()
        self.recordings: dict[str, Recording] = {}
        self.progress: dict[str, float] = {}
        """Camera -> capture time of its last tracked frame, as of the jobs handled so far."""
        self.clip_seconds = self.clip_cpu_s = 0.0
        self.thread = threading.Thread(target=self._run, name="event-media", daemon=True)
        self.thread.start()

    def submit(self, job: SnapshotJob | ClipStart | ClipJob) -> None:
        """Queue a job; dropped (logged) when the queue is full."""
        self.cameras.add(job.camera)
        try:
            self.jobs.put_nowait(job)
        except queue.Full:
            log.warning("camera %s: event media queue full: %s dropped", job.camera, job.name)

    def advance(self, camera: str, ts: float) -> None:
        """The tracker has tracked the camera's frames up to capture time ``ts`` (queued behind
        the jobs of those frames, so a recording never reads past an end it has not seen)."""
        try:
            self.jobs.put_nowait(Advance(camera, ts))
        except queue.Full:
            pass  # a later one comes with the next frames

    def stop(self, timeout: float = 30.0) -> None:
        """Finish the queued jobs and end the thread."""
        self.jobs.put(None)
        self.thread.join(timeout)

    def _run(self) -> None:
        next_prune = time.monotonic() + self.prune_every_s
        while True:
            wait = max(0.0, next_prune - time.monotonic())
            try:
                job = self.jobs.get(timeout=min(wait, FOLLOW_S) if self.recordings else wait)
            except queue.Empty:
                job = False
            if job is None:
                for recording in self.recordings.values():
                    recording.abort()  # open events: a successor clips them from Redis
                return
            try:
                if isinstance(job, SnapshotJob):
                    self.snapshot(job)
                elif isinstance(job, ClipStart):
                    self.start(job)
                elif isinstance(job, ClipJob):
                    self.end(job)
                elif isinstance(job, Advance):
                    self.progress[job.camera] = job.ts
                self.follow()
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
        atomic_write(confined(self.media_dir, job.name), full)
        atomic_write(confined(self.media_dir, job.name[:-len(".jpg")] + "-crop.jpg"), crop)

    def start(self, job: ClipStart) -> None:
        if len(self.recordings) < MAX_RECORDINGS:
            path = confined(self.media_dir, job.name)
            self.recordings[job.event_id] = Recording(self.client, self.keys, job.camera, path,
                                                      job.from_ts, job.hold_s, CLIP_PRESET)

    def end(self, job: ClipJob) -> None:
        recording = self.recordings.get(job.event_id)
        if recording is None:
            if job.name is not None:
                self.clip(job)
        elif job.name is None:
            recording.abort()
            del self.recordings[job.event_id]
        else:
            recording.until = job.end_ts

    def follow(self) -> None:
        """Feed every recording the frames tracked since; finish those whose event ended."""
        for event_id, recording in list(self.recordings.items()):
            started = time.thread_time()
            done = recording.follow(self.progress.get(recording.camera, 0.0))
            if done:
                del self.recordings[event_id]
                seconds = recording.finish()
                event = load_event(self.client, self.keys, event_id)
                if event is not None:
                    event.clip_complete = recording.complete
                    if not seconds:
                        event.clip, event.clip_complete = None, False
                    save_event(self.client, self.keys, event)
                self.clip_seconds += seconds
            self.clip_cpu_s += time.thread_time() - started

    def clip(self, job: ClipJob) -> None:
        """The clip of an event without a recording, from the frames still in Redis."""
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
        rate = frame_rate([ts for ts, _ in chosen])
        with replacing(confined(self.media_dir, job.name)) as partial, \
                VideoWriter(partial, rate, preset=CLIP_PRESET, threads=1) as writer:
            for _, jpeg in chosen:
                image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
                if image is not None:
                    writer.write(image)
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
