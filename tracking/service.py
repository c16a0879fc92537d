"""The tracker loop: hold camera locks, read detections, track, write; hand cameras over cleanly.

Each pass: renew the locks held (every third of their TTL) and, every ``poll_s``, re-read the
cameras' lines and zones and take free cameras (continuing from their snapshots); read every
owned camera's new detections in one XREAD; track what the reorder buffers release; write each
camera's frames in one fenced transaction. A camera whose lock or write is refused is dropped at
once, its in-memory state discarded: whoever holds the lock continues from the stored snapshot.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from typing import Callable

import redis

from common import metrics
from common.cameras import list_cameras
from common.logging_setup import bind
from common.settings import CameraConfig, SettingsError, TrackerSettings

from .camera import CameraTracker, SnapshotError
from .store import TrackStore

log = logging.getLogger("cctv.tracker")

BLOCK_MS = 100


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
        self.configs: dict[str, CameraConfig] = {}
        self._next_renew = self._next_poll = 0.0

    def run(self, stop: threading.Event) -> None:
        """Track until ``stop``, then release every camera (a successor starts at once)."""
        bind(worker=self.id)
        log.info("tracker %s: looking for cameras", self.id)
        try:
            while not stop.is_set():
                self.step()
                if not self.cameras:
                    stop.wait(max(0.0, self._next_poll - self.clock()))
        finally:
            for camera in list(self.cameras):
                self.store.release(camera)
                self._drop(camera, "stopping")

    def step(self) -> int:
        """One pass (locks, reading, tracking, writing); returns the frames written."""
        self.upkeep()
        if self.cameras:
            cameras = {self.keys.detections(c): c for c in self.cameras}
            streams = {s: self.cameras[c].read_id for s, c in cameras.items()}
            for stream, entries in self.client.xread(streams, count=self.read_count,
                                                     block=BLOCK_MS) or []:
                camera = cameras[stream.decode()]
                for entry_id, fields in entries:
                    self.cameras[camera].add(entry_id.decode(), fields)
        return sum(self._track(camera) for camera in list(self.cameras))

    def upkeep(self) -> None:
        """Renew locks when due; re-read lines and zones and take free cameras when due."""
        now = self.clock()
        if now >= self._next_renew:
            self._next_renew = now + self.settings.lock_ttl_ms / 3000
            for camera in self.store.renew(list(self.cameras)):
                self._drop(camera, "its lock expired")
        if now >= self._next_poll:
            self._next_poll = now + self.settings.poll_s
            self._read_configs()
            self._take_free_cameras()
        metrics.CAMERAS_TRACKED.set(len(self.cameras))

    def _read_configs(self) -> None:
        try:
            self.configs = list_cameras(self.client, self.keys)
        except SettingsError as exc:
            log.error("camera list (lines and zones kept as they were): %s", exc)

    def _take_free_cameras(self) -> None:
        names = sorted(n.decode() for n in self.client.smembers(self.keys.camera_names))
        for camera in names:
            full = self.settings.max_cameras is not None \
                and len(self.cameras) >= self.settings.max_cameras
            if full or camera in self.cameras or not self.store.acquire(camera):
                continue
            try:
                snapshot = self.store.load(camera)
                self.cameras[camera] = CameraTracker(camera, self.settings, snapshot, self.clock)
            except SnapshotError as exc:
                log.error("camera %s: %s; not tracked until the key %s is fixed or deleted",
                          camera, exc, self.keys.tracker_state(camera))
                self.store.release(camera)
                continue
            log.info("camera %s: tracking %s", camera,
                     f"from frame {snapshot['frame_id']}" if snapshot else "from the start")

    def _track(self, camera: str) -> int:
        tracker = self.cameras[camera]
        config = self.configs.get(camera)
        frames = tracker.ready(config.lines if config else (), config.zones if config else ())
        if not frames:
            return 0
        if not self.store.write(camera, frames, tracker.snapshot(), tracker.take_skipped()):
            self._drop(camera, "another tracker holds it")
            return 0
        metrics.FRAMES_TRACKED.labels(camera).inc(len(frames))
        return len(frames)

    def _drop(self, camera: str, why: str) -> None:
        del self.cameras[camera]
        log.info("camera %s: no longer tracked here: %s", camera, why)
        metrics.CAMERAS_TRACKED.set(len(self.cameras))

