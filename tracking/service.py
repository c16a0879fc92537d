"""The tracker loop: hold camera locks, read detections, track, write; hand cameras over cleanly.

Each pass: renew the locks held (every third of their TTL) and, every ``tracker_poll_s``, re-read the
cameras' lines and zones and take free cameras (continuing from their snapshots); read every
owned camera's new detections in one XREAD; track what the reorder buffers release; write each
camera's frames in one fenced transaction. A camera whose lock or write is refused is dropped at
once, its in-memory state discarded: whoever holds the lock continues from the stored snapshot.
A key of one camera holding the wrong type stops that camera alone (:mod:`.faults`), and the
locks are renewed between cameras, so one camera's backlog never costs another its lock.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from typing import Callable

import redis

from common.cameras import CameraConfig, EventsConfig
from common.frame_objects import FrameObjects
from common.record_config import RecordConfig
from common.records import DeadLetter
from runtime import metrics
from runtime.camera_list import CameraListReader, published_camera_names
from runtime.logging_setup import bind
from runtime.object_log import ObjectLog
from runtime.outage import REDIS_FAILED, Outage, is_wrong_type
from runtime.redis_conn import read_streams

from .camera import CameraTracker, SnapshotError, TrackedFrame
from .event_media import EventMedia
from .events import EventBuilder, Rules, open_events
from .faults import CameraFaults
from .reorder import OrderKey
from .settings import TrackerSettings
from .store import TrackStore

log = logging.getLogger("cctv.tracker")

BLOCK_MS = 100
DEAD_LETTER_MAXLEN = 10_000


class Tracker:
    """One tracker process: owns some cameras (one lock each) and tracks them.

    ``read_count`` caps the detections read per camera in one pass, which keeps a pass (and so
    the time between lock renewals) short while a backlog is worked off.
    """

    def __init__(self, client: redis.Redis, settings: TrackerSettings, read_count: int = 100,
                 clock: Callable[[], float] = time.monotonic):
        self.client, self.settings, self.keys = client, settings, settings.keys
        self.id = settings.tracker_id or f"{socket.gethostname()}-{os.getpid()}"
        self.read_count, self.clock = read_count, clock
        self.store = TrackStore(client, self.keys, self.id, settings.lock_ttl_ms,
                                settings.tracks_maxlen, settings.minute_ttl_s)
        self.cameras: dict[str, CameraTracker] = {}
        self.objects = ObjectLog(client, self.keys, settings.recordings_dir,
                                 keep_s=RecordConfig().retain_days * 86_400)
        """Each tracked frame's objects, kept beside the recordings for playback."""
        self.configs: dict[str, CameraConfig] = {}
        self.faults = CameraFaults(client, self.keys, clock)
        self.camera_list = CameraListReader(log)
        self.outage = Outage(client, self.keys, f"tracker {self.id}", log)
        self._next_renew = self._next_poll = 0.0
        self.events: dict[str, EventBuilder] = {}
        self.last_frame: dict[str, tuple[float | None, float]] = {}
        """Camera -> (capture time, clock) of its last tracked frame, for :meth:`_idle`."""
        self.event_rules = Rules(settings.event_end_after_s, settings.event_pre_s,
                                 settings.event_post_s, settings.event_clips)
        self.media = EventMedia(client, self.keys, settings.media_dir,
                                max_age_s=settings.event_max_age_days * 86_400,
                                max_bytes=settings.event_max_mb * 2**20) \
            if settings.events else None

    def run(self, stop: threading.Event) -> None:
        """Track until ``stop``, then release every camera (a successor starts at once)."""
        bind(worker=self.id)
        log.info("tracker %s: looking for cameras", self.id)
        try:
            while not stop.is_set():
                try:
                    self.step()
                    self.outage.back()
                except REDIS_FAILED as exc:
                    self._forget_all()
                    if not self.outage.failed(exc, stop):
                        break
                    continue
                if not self.cameras:
                    stop.wait(max(0.0, self._next_poll - self.clock()))
        finally:
            for camera in list(self.cameras):
                try:
                    self.store.release(camera)
                except REDIS_FAILED:
                    pass  # the lock expires by itself
                self._drop(camera, "stopping")
            if self.media:
                self.media.stop()

    def _forget_all(self) -> None:
        """Redis went away: what is in memory may be ahead of what was written, so every camera
        is taken again (its lock is still ours) from its stored snapshot once Redis is back."""
        for camera in list(self.cameras):
            self._drop(camera, "Redis went away; continuing from its snapshot once it is back")
        self._next_renew = self._next_poll = 0.0

    def step(self) -> int:
        """One pass (locks, reading, tracking, writing); returns the frames written."""
        self.upkeep()
        settled: dict[str, OrderKey | None] = {}
        if self.cameras:
            # read before the detections: a frame acknowledged by then has its detections in
            # the stream, read below unless the read stops at read_count
            settled = self.store.settled_below(list(self.cameras))
            cameras = {self.keys.detections(c): c for c in self.cameras}
            streams = {s: self.cameras[c].read_id for s, c in cameras.items()}
            try:
                reply = read_streams(self.client, streams, self.read_count, BLOCK_MS)
            except redis.ResponseError as exc:
                self._drop_faulty(exc)
                reply = []
            for stream, entries in reply or []:
                camera = cameras[stream.decode()]
                if len(entries) >= self.read_count:
                    settled[camera] = None  # more to read: what is settled is not known yet
                for entry_id, fields in entries:
                    self.cameras[camera].add(entry_id.decode(), fields)
        written = 0
        for camera in list(self.cameras):
            self._renew_when_due()  # tracking one camera's backlog must not cost another's lock
            if camera not in self.cameras:
                continue
            try:
                written += self._track(camera, settled.get(camera))
                self._write_dead_letters(camera)
            except redis.ResponseError as exc:
                if not is_wrong_type(exc):
                    raise
                self._fault(camera, self.faults.describe(camera, exc))
        return written

    def _drop_faulty(self, exc: redis.ResponseError) -> None:
        """The XREAD of every camera's detections refused: the cameras whose keys hold the
        wrong type stop (one operator's ``SET`` costs that camera alone)."""
        if not is_wrong_type(exc):
            raise exc
        for camera in list(self.cameras):
            found = self.faults.check(camera)
            if found:
                self._fault(camera, "; ".join(found))

    def _fault(self, camera: str, why: str) -> None:
        """A fault in ``camera``'s own keys: it stops until :class:`CameraFaults` rechecks it."""
        self.faults.fault(camera, why)
        if camera in self.cameras:
            self.store.release(camera)
            self._drop(camera, "its keys are faulty")

    def _write_dead_letters(self, camera: str) -> None:
        """Detections entries the camera skipped as bad, to its dead letters
        (``keys.dead_letters``, indexed in ``dead_letter_cameras`` with hash tags) with why."""
        tracker = self.cameras.get(camera)
        if tracker is None or not tracker.dead:  # dropped: its successor reads them again
            return
        pipe = self.client.pipeline(transaction=False)
        if self.keys.hash_tags:
            pipe.sadd(self.keys.dead_letter_cameras, camera)
        for entry_id, why in tracker.dead:
            letter = DeadLetter(camera, entry_id, why, self.id, time.time(), "detections")
            pipe.xadd(self.keys.dead_letters(camera), letter.to_fields(),
                      maxlen=DEAD_LETTER_MAXLEN, approximate=True)
        tracker.dead.clear()
        pipe.execute()

    def upkeep(self) -> None:
        """Renew locks when due; re-read lines and zones and take free cameras when due."""
        self._renew_when_due()
        now = self.clock()
        if now >= self._next_poll:
            self._next_poll = now + self.settings.tracker_poll_s
            self._read_configs()
            self._take_free_cameras()
        metrics.CAMERAS_TRACKED.set(len(self.cameras))

    def _renew_when_due(self) -> None:
        now = self.clock()
        if now >= self._next_renew:
            self._next_renew = now + self.settings.lock_ttl_ms / 3000
            for camera in self.store.renew(list(self.cameras)):
                self._drop(camera, "its lock expired")

    def _read_configs(self) -> None:
        """Every camera's lines and zones; one whose entry is invalid keeps its previous ones."""
        configs, refused = self.camera_list.read(self.client, self.keys)
        self.configs = configs | {n: self.configs[n] for n in refused if n in self.configs}

    def _take_free_cameras(self) -> None:
        names = published_camera_names(self.client, self.keys)
        for camera in names:
            full = self.settings.max_cameras is not None \
                and len(self.cameras) >= self.settings.max_cameras
            if full or camera in self.cameras or self.faults.waiting(camera) \
                    or not self.store.acquire(camera):
                continue
            try:
                found = self.faults.check(camera)
                if found:
                    self._fault(camera, "; ".join(found))
                    self.store.release(camera)
                    continue
                snapshot = self.store.load(camera)
                self.cameras[camera] = CameraTracker(camera, self.settings, snapshot, self.clock)
                if self.media:
                    self.events[camera] = EventBuilder(
                        camera, self.event_rules, open_events(self.client, self.keys, camera))
            except SnapshotError as exc:
                self._fault(camera, f"{self.keys.tracker_state(camera)}: {exc}")
                self.store.release(camera)
                continue
            except redis.ResponseError as exc:
                self._fault(camera, self.faults.describe(camera, exc))
                self.store.release(camera)
                continue
            self.faults.cleared(camera)
            log.info("camera %s: tracking %s", camera,
                     f"from frame {snapshot['frame_id']}" if snapshot else "from the start")

    def _track(self, camera: str, settled_below: OrderKey | None) -> int:
        tracker = self.cameras[camera]
        config = self.configs.get(camera)
        frames = tracker.ready(*((config.lines, config.zones, config.counting) if config else ()),
                               settled_below=settled_below)
        if not frames:
            if camera in self.events:
                self._idle(camera)
            return 0
        try:
            written = self.store.write(camera, frames, tracker.snapshot(), tracker.take_skipped())
        except redis.ResponseError as exc:  # e.g. one of its keys holds the wrong type
            self._fault(camera, self.faults.describe(camera, exc))
            return 0
        if not written:
            self._drop(camera, "another tracker holds it")
            return 0
        metrics.FRAMES_TRACKED.labels(camera).inc(len(frames))
        self.objects.append(camera, (FrameObjects.of_message(f.message) for f in frames))
        if camera in self.events:
            self._events(camera, frames)
        return len(frames)

    def _idle(self, camera: str) -> None:
        """A camera without frames for ``event_end_after_s``: end its events by the clock
        (capture time estimated as that of its last frame plus the time since), unless ingest
        has newer frames (the workers lag: the events go on with them)."""
        builder, now = self.events[camera], self.clock()
        last_ts, since = self.last_frame.setdefault(camera, (None, now))
        if not builder.open or now - since < self.event_rules.end_after_s:
            return
        last_ts = last_ts or max(s.event.last_ts for s in builder.open.values())
        newest = self.client.xrevrange(self.keys.frames(camera), count=1)
        if newest and float(newest[0][1].get(b"ts", 0)) > last_ts:
            return
        ts = last_ts + now - since
        config = self.configs.get(camera)
        self.media.write(camera, builder.idle(ts, config.events if config else EventsConfig()))

    def _events(self, camera: str, frames: list[TrackedFrame]) -> None:
        """The events of frames just written (we held the camera's lock): records, then media."""
        occupied_zones = self.cameras[camera].counter.occupied_zones
        config = self.configs.get(camera)
        for frame in frames:
            self.media.write(camera, self.events[camera].frame(
                frame.message, occupied_zones, config.events if config else EventsConfig()))
        self.media.tracked(camera, frames[-1].message.frame_id)
        self.last_frame[camera] = (frames[-1].message.ts, self.clock())

    def _drop(self, camera: str, why: str) -> None:
        del self.cameras[camera]
        self.objects.close(camera)
        self.events.pop(camera, None)
        self.last_frame.pop(camera, None)
        log.info("camera %s: no longer tracked here: %s", camera, why)
        metrics.CAMERAS_TRACKED.set(len(self.cameras))

