"""Event snapshots and clips, written by one thread so that tracking never waits on encoding.

Snapshots are the tracked frame from ``cctv:frames:{cam}`` with the object's box drawn, and its
crop; the frame is read when the job is submitted (right after the tracker wrote the frame), so a
live camera's capped stream cannot trim it while the queue is busy. A clip is recorded while its
event goes on (:mod:`tracking.recording`, up to ``MAX_RECORDINGS`` at once); an event with no
recording (continued after a takeover, or over the limit) gets at its end the camera's frames
still in Redis between the clip's start and end. A camera whose own stream ingest records gets no
encoder: its events' records name the clip range (``recorded_clip``), which the API cuts from the
recording on request (:mod:`api.event_clips`). ``clip_complete`` is false when the oldest frame
kept was after the start: the clip is shorter. A record names each file once it is written; one
that cannot be made is left unnamed with the reason in ``media_errors`` (one log line). An
event's end is written once its clip is done (:func:`tracking.events.write_end`).

What each camera's clips still have to read is held back from a file's trim: with every tracked
batch the tracker writes the oldest such frame id to its state
(:data:`common.records.FRAMES_NEEDED_FIELD`), never more than ``KEEP_S`` of capture time back.
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

from common.events import Event
from common.keys import Keys
from common.record_config import RecordConfig
from common.records import FRAMES_NEEDED_FIELD
from common.stream_ids import StreamId
from media.draw import draw_scene
from media.video import VideoWriter
from runtime.camera_list import stored_camera
from runtime.event_store import prune
from runtime.files import atomic_write, replacing
from runtime.paths import confined
from runtime.recordings import list_segments

from .events import (
    ClipJob,
    ClipStart,
    Rules,
    SnapshotJob,
    media_missing,
    media_written,
    update_record,
    write_end,
)
from .recording import Recording, frame_id_at, frame_rate

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
KEEP_S = 60.0
"""Most capture time behind the tracker that its clips hold back from a file's trim (or the
event rules' ``end_after_s + pre_s``, if longer): a longer event taken over after a crash gets
a clip of its last part."""
RECORDING_SLACK_S = 5.0
"""A camera records when a segment of it ended within two segment lengths and this long before
an event: the segment being written is indexed only once it closes."""
FRAME_TRIMMED = "frame trimmed before the snapshot was taken"
QUEUE_FULL = "event media queue full"


@dataclass(frozen=True)
class Advance:
    """The camera is tracked up to capture time ``ts``."""

    camera: str
    ts: float


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
    """The writer thread: :meth:`submit` jobs, :meth:`stop` at the end."""

    def __init__(self, client: redis.Redis, keys: Keys, media_dir: Path, rules: Rules, *,
                 max_age_s: float, max_bytes: int, prune_every_s: float = 60.0):
        self.client, self.keys, self.media_dir, self.rules = client, keys, media_dir, rules
        self.max_age_s, self.max_bytes, self.prune_every_s = max_age_s, max_bytes, prune_every_s
        self.jobs: queue.Queue[Snapshot | ClipStart | ClipJob | Advance | None] = \
            queue.Queue(QUEUE_MAX)
        self.cameras: set[str] = set()
        self.recordings: dict[str, Recording] = {}
        self.from_recording: set[str] = set()
        """Ids of open events whose clip is cut from the camera's recording (no encoder)."""
        self.ending: dict[str, ClipJob] = {}
        """Event id -> the end of an event whose recording takes its last frames."""
        self.progress: dict[str, float] = {}
        """Camera -> capture time of its last tracked frame, as of the jobs handled so far."""
        self.holds: dict[str, dict[str, StreamId]] = {}
        """Camera -> event id -> the oldest frame its clip still reads."""
        self.holds_lock = threading.Lock()
        self.needed_written: dict[str, StreamId] = {}
        self.clip_seconds = self.clip_cpu_s = 0.0
        self.thread = threading.Thread(target=self._run, name="event-media", daemon=True)
        self.thread.start()

    def submit(self, job: SnapshotJob | ClipStart | ClipJob) -> None:
        """Queue a job (a snapshot's frame read now); dropped (logged) when the queue is full."""
        self.cameras.add(job.camera)
        item: Snapshot | ClipStart | ClipJob = job
        if isinstance(job, SnapshotJob):
            entries = self.client.xrange(self.keys.frames(job.camera), job.frame_id,
                                         job.frame_id)
            if not entries:
                self._missing(job.event.id, "snapshot", FRAME_TRIMMED, job.event)
                return
            item = Snapshot(job, entries[0][1][b"jpeg"])
        elif isinstance(job, ClipStart):
            self._hold(job.camera, job.event_id, frame_id_at(job.from_ts))
        elif job.name is not None:
            self._hold(job.camera, job.event_id, frame_id_at(job.start_ts), keep=True)
        try:
            self.jobs.put_nowait(item)
        except queue.Full:
            self._dropped(job)

    def _dropped(self, job: SnapshotJob | ClipStart | ClipJob) -> None:
        """A job the full queue refused (a ClipStart's event is clipped from Redis at its end,
        its frames still held)."""
        if isinstance(job, SnapshotJob):
            self._missing(job.event.id, "snapshot", QUEUE_FULL, job.event)
        elif isinstance(job, ClipJob):
            if job.name is not None:
                self._clip_missing(job, QUEUE_FULL)
            self._ended(job)

    def hold_open(self, camera: str, events: list[Event]) -> None:
        """Open events taken over: their clips will be made from the frames in Redis."""
        for event in events:
            self._hold(camera, event.id, frame_id_at(event.start_ts - self.rules.pre_s))

    def advance(self, camera: str, ts: float) -> None:
        """The tracker has tracked the camera's frames up to capture time ``ts`` (queued behind
        the jobs of those frames, so a recording never reads past an end it has not seen); the
        oldest frame still needed is written to the tracker's state (we hold the lock)."""
        try:
            self.jobs.put_nowait(Advance(camera, ts))
        except queue.Full:
            pass  # a later one comes with the next frames
        with self.holds_lock:
            held = list(self.holds.get(camera, {}).values())
        floor = frame_id_at(ts - max(KEEP_S, self.rules.end_after_s + self.rules.pre_s))
        needed = max(floor, min([frame_id_at(ts - self.rules.pre_s), *held]))
        if self.needed_written.get(camera) != needed:
            self.client.hset(self.keys.tracker_state(camera), FRAMES_NEEDED_FIELD, str(needed))
            self.needed_written[camera] = needed

    def stop(self, timeout: float = 30.0) -> None:
        """Finish the queued jobs and end the thread."""
        self.jobs.put(None)
        self.thread.join(timeout)

    def _hold(self, camera: str, event_id: str, frame: StreamId, keep: bool = False) -> None:
        """Hold back the frames from ``frame`` on for the event's clip (``keep``: a hold already
        there stays as it is)."""
        with self.holds_lock:
            held = self.holds.setdefault(camera, {})
            if not (keep and event_id in held):
                held[event_id] = frame

    def _release(self, camera: str, event_id: str) -> None:
        with self.holds_lock:
            self.holds.get(camera, {}).pop(event_id, None)

    def _missing(self, event_id: str, kind: str, reason: str, held: Event | None = None) -> None:
        """The event's ``kind`` file cannot be made: its record says why (one log line); a
        better snapshot that cannot be made leaves the one there is."""
        if held is not None and getattr(held, kind) is not None:
            log.info("event %s: %s not replaced: %s", event_id, kind, reason)
            return
        log.warning("event %s: no %s: %s", event_id, kind, reason)
        update_record(self.client, self.keys, event_id, media_missing(kind, reason), held)

    @staticmethod
    def _clip_missing(job: ClipJob, reason: str) -> None:
        log.warning("event %s: no clip: %s", job.event_id, reason)
        media_missing("clip", reason)(job.event)

    def _ended(self, job: ClipJob) -> None:
        """The event's clip is done (or not to be): write its end."""
        self._release(job.camera, job.event_id)
        self.from_recording.discard(job.event_id)
        write_end(self.client, self.keys, job.event)

    def _run(self) -> None:
        next_prune = time.monotonic() + self.prune_every_s
        while True:
            wait = max(0.0, next_prune - time.monotonic())
            try:
                job = self.jobs.get(timeout=min(wait, FOLLOW_S) if self.recordings else wait)
            except queue.Empty:
                job = False
            if job is None:
                self._finish_ended()
                return
            try:
                if isinstance(job, Snapshot):
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

    def snapshot(self, item: Snapshot) -> None:
        job = item.job
        try:
            full, crop = snapshot_jpegs(item.jpeg, job)
        except ValueError as exc:
            self._missing(job.event.id, "snapshot", str(exc), job.event)
            return
        atomic_write(confined(self.media_dir, job.name), full)
        atomic_write(confined(self.media_dir, job.name[:-len(".jpg")] + "-crop.jpg"), crop)
        if job.event.snapshot != job.name:
            update_record(self.client, self.keys, job.event.id,
                          media_written("snapshot", job.name), job.event, announce=True)

    def recording_now(self, camera: str, ts: float) -> bool:
        """Whether ingest records the camera's own stream around capture time ``ts``: its
        ``record`` is not turned off and a segment of it is indexed that ended at most two
        segment lengths (and :data:`RECORDING_SLACK_S`) before ``ts``."""
        config = stored_camera(self.client, self.keys, camera)
        record = config.record if config is not None else RecordConfig()
        if record.enabled is False:
            return False
        since = ts - 2 * record.segment_s - RECORDING_SLACK_S
        return bool(list_segments(self.client, self.keys, camera, after=since))

    def start(self, job: ClipStart) -> None:
        if self.recording_now(job.camera, job.from_ts):
            self.from_recording.add(job.event_id)
            self._release(job.camera, job.event_id)  # no frame of Redis is read for its clip
        elif len(self.recordings) < MAX_RECORDINGS:
            path = confined(self.media_dir, job.name)
            self.recordings[job.event_id] = Recording(self.client, self.keys, job.camera, path,
                                                      job.from_ts, job.hold_s, CLIP_PRESET)

    def end(self, job: ClipJob) -> None:
        recording = self.recordings.get(job.event_id)
        if recording is None:
            if job.name is not None and (job.event_id in self.from_recording
                                         or self.recording_now(job.camera, job.end_ts)):
                self._recorded(job)
            elif job.name is not None:
                try:
                    self.clip(job)
                except Exception:  # a clip that cannot be made costs the clip, not the end
                    log.exception("event %s: clip failed", job.event_id)
                    self._clip_missing(job, "the clip could not be encoded (logged)")
            self._ended(job)
        elif job.name is None:
            recording.abort()
            del self.recordings[job.event_id]
            self._ended(job)
        else:
            recording.until = job.end_ts
            self.ending[job.event_id] = job

    def follow(self) -> None:
        """Feed every recording the frames tracked since; finish those whose event ended."""
        for event_id, recording in list(self.recordings.items()):
            started = time.thread_time()
            done = recording.follow(self.progress.get(recording.camera, 0.0))
            self._hold(recording.camera, event_id, StreamId.parse(recording.cursor))
            if done:
                self._finish(event_id, recording)
            self.clip_cpu_s += time.thread_time() - started

    def _finish(self, event_id: str, recording: Recording) -> None:
        """Write a recording's file, then its event's end naming it."""
        del self.recordings[event_id]
        job = self.ending.pop(event_id)
        why = "no frame of the event could be read from Redis"
        try:
            seconds = recording.finish()
        except Exception:  # a clip that cannot be made costs the clip, not the end
            log.exception("event %s: clip failed", event_id)
            seconds, why = 0.0, "the clip could not be encoded (logged)"
        if seconds:
            self._clip_written(job, recording.complete)
        else:
            self._clip_missing(job, why)
        self._ended(job)
        self.clip_seconds += seconds

    def _finish_ended(self) -> None:
        """Stopping: recordings of ended events take the frames still in Redis and are written;
        those of open events are dropped (the camera's next tracker clips them from Redis)."""
        for event_id, recording in list(self.recordings.items()):
            try:
                if recording.until is None:
                    recording.abort()
                    continue
                recording.follow(recording.until)
                self._finish(event_id, recording)
            except Exception:  # one clip that cannot be finished costs that clip
                log.exception("event %s: clip not finished on stop", event_id)

    @staticmethod
    def _recorded(job: ClipJob) -> None:
        """The event's clip is its range of the camera's recording, cut when it is asked for."""
        media_written("clip", job.name)(job.event)
        job.event.recorded_clip = [job.start_ts, job.end_ts]

    @staticmethod
    def _clip_written(job: ClipJob, complete: bool) -> None:
        media_written("clip", job.name)(job.event)
        job.event.clip_complete = complete

    def clip(self, job: ClipJob) -> None:
        """The clip of an event without a recording, from the frames still in Redis."""
        started = time.thread_time()
        frames = [(float(f[b"ts"]), f[b"jpeg"]) for _, f in
                  self.client.xrange(self.keys.frames(job.camera))]
        chosen = [(ts, jpeg) for ts, jpeg in frames if job.start_ts <= ts <= job.end_ts]
        if not chosen:
            self._clip_missing(job, "no frames of the event left in Redis")
            return
        rate = frame_rate([ts for ts, _ in chosen])
        with replacing(confined(self.media_dir, job.name)) as partial, \
                VideoWriter(partial, rate, preset=CLIP_PRESET, threads=1) as writer:
            for _, jpeg in chosen:
                image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
                if image is not None:
                    writer.write(image)
        self._clip_written(job, frames[0][0] <= job.start_ts and frames[-1][0] >= job.end_ts)
        self.clip_seconds += chosen[-1][0] - chosen[0][0]
        self.clip_cpu_s += time.thread_time() - started

    def prune(self) -> None:
        for camera in sorted(self.cameras):
            removed = prune(self.client, self.keys, camera, self.media_dir, now=time.time(),
                            max_age_s=self.max_age_s, max_bytes=self.max_bytes)
            if removed:
                log.info("camera %s: retention removed %d events", camera, len(removed))
