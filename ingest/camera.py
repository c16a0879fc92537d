"""One camera's loop: the camera side (:mod:`ingest.capture`: open, read, fps, motion, JPEG) feeds
the Redis side (:mod:`ingest.sink`: stream, state hash, outages); the loop reopens a camera that
went away, with exponential backoff, and ends a file (or loops it).
"""

from __future__ import annotations

import logging
import threading
import time
from contextlib import closing

import redis

from common.cameras import CameraConfig
from common.keys import Keys
from common.records import CameraState
from common.urls import mask_text, mask_url
from runtime import metrics
from runtime.logging_setup import bind

from .capture import Capture
from .recording import Recorder
from .settings import IngestSettings
from .sink import CameraSink
from .sources import Frame, Source, SourceError, open_source

log = logging.getLogger("cctv.ingest")


class CameraRunner:
    """Runs one camera until ``stop`` is set, a file ends (without ``loop``) or a permanent error.

    ``url`` is the real URL (credentials expanded); only its masked form is logged or stored.
    """

    every_frame = False
    """Publish every frame, waiting for room, even for a realtime file (which otherwise stands
    in for a live camera: published at its own pace, never waiting for detection)."""

    def __init__(self, client: redis.Redis, keys: Keys, camera: CameraConfig, url: str,
                 settings: IngestSettings, stop: threading.Event, source_name: str = "live"):
        self.cam, self.stop = camera, stop
        self.recorder = Recorder(client, keys, camera, settings, source_name)
        self.capture = Capture(camera, url, settings, stop, open_source, self.recorder)
        self.sink = CameraSink(client, keys, camera, settings, stop, source_name)

    @property
    def frames_published(self) -> int:
        """Frames this runner added to the camera's stream."""
        return self.sink.frames_published

    @property
    def last_id(self) -> str | None:
        """The stream entry id of the last frame published."""
        return self.sink.last_id

    def run(self) -> str:
        """The camera's loop; returns the final state (finished, stopped or error)."""
        bind(camera=self.cam.name)
        self.sink.set_state("starting")
        while not self.stop.is_set():
            try:
                source = self.capture.open()
            except SourceError as exc:
                if exc.permanent:
                    log.error("camera %s: %s", self.cam.name, mask_text(str(exc)))
                    self.sink.set_state("error", str(exc))
                    return "error"
                self._offline(str(exc))
                continue
            try:
                got_frames = self._pump(source)
            finally:
                source.close()
            if self.stop.is_set():
                break
            if not source.live:
                if not got_frames:
                    self.sink.set_state("error", "no frames could be decoded")
                    log.error("camera %s: no frames decoded from %s", self.cam.name,
                              mask_url(self.cam.url))
                    return "error"
                shortfall = self.capture.shortfall(source)
                if shortfall:
                    log.warning("camera %s: %s", self.cam.name, shortfall)
                if self.cam.loop:
                    continue
                self.sink.set_state("finished", shortfall)
                log.info("camera %s: end of file after %d frames", self.cam.name,
                         self.frames_published)
                return "finished"
            self._offline("stream ended or timed out")
        self.sink.set_state("stopped")
        return "stopped"

    def _offline(self, reason: str) -> None:
        delay = self.capture.next_delay()
        log.warning("camera %s offline: %s; retrying in %.1fs", self.cam.name, mask_text(reason),
                    delay)
        self.sink.set_state("offline", reason)
        self.sink.count_reconnect()
        metrics.RECONNECTS.labels(self.cam.name).inc()
        self.stop.wait(delay)

    def _pump(self, source: Source) -> bool:
        """Publish the source's frames until it ends or ``stop``; True if any frame was kept."""
        got = False
        with closing(self.capture.frames(source)) as frames:  # its reader ends before the source
            for kept in frames:
                if not got:
                    got = True
                    self.sink.set_state("online")
                self.sink.count_replaced(kept.replaced)
                self._publish(kept.frame, kept.t)
        if not source.live:
            self.sink.flush()  # a file's last counts, before it is finished
        return got

    def _publish(self, frame: Frame, t: float) -> None:
        """Publish one kept frame at source time ``t`` (seconds), then record it with its
        capture time."""
        ts = time.time()
        encoded = self.capture.encode(frame, t)
        self.sink.publish(encoded, self.capture.live and not self.every_frame, ts)
        self.recorder.add_frame(encoded.image, ts)


def read_state(client: redis.Redis, keys: Keys, camera: str) -> CameraState | None:
    """The camera's state hash, or None if ingest never ran it."""
    fields = client.hgetall(keys.state(camera))
    return CameraState.from_fields(fields) if fields else None
