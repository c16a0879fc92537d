"""One camera's loop: open with exponential backoff, skip to the target fps, resize, encode,
publish, keep the camera's state hash up to date.

Redis may go away meanwhile (:mod:`common.outage`): the camera stays open; a live camera drops
the frames it cannot publish (tried again with backoff, counted in ``frames_dropped`` once Redis
is back), a file waits and goes on from its next unpublished frame.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from typing import Callable

import cv2
import numpy as np
import redis

from common.cameras import CameraConfig
from common.keys import Keys
from common.messages import FrameMessage
from common.records import CameraState
from common.urls import mask_text, mask_url
from runtime import metrics
from runtime.logging_setup import bind
from runtime.outage import REDIS_FAILED, Outage

from .latest import LatestFrames
from .motion import MotionGate
from .publisher import RateMeter, StreamPublisher
from .settings import IngestSettings
from .sources import Frame, Source, SourceError, open_source
from .totals import Totals

log = logging.getLogger("cctv.ingest")


def encode_jpeg(image: np.ndarray, quality: int) -> tuple[bytes, int, int]:
    """JPEG-encode a BGR image; returns (jpeg, width, height)."""
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise SourceError("JPEG encoding failed", False)
    return buf.tobytes(), image.shape[1], image.shape[0]


class FpsFilter:
    """Keeps frames at most ``fps`` per second of source time (files: their timestamps; live:
    the clock at arrival), all of them when ``fps`` is None: the first frame at or after each
    multiple of the period."""

    def __init__(self, fps: float | None, live: bool):
        self.period, self.live = (1.0 / fps if fps else 0.0), live
        self.next_due = 0.0

    def time(self, frame: Frame) -> float:
        """The frame's source time in seconds."""
        return time.monotonic() if self.live else frame.pos_ms / 1000.0

    def __call__(self, frame: Frame) -> bool:
        if not self.period:
            return True
        t = self.time(frame)
        if t < self.next_due - 1e-6:
            return False
        self.next_due = (math.floor(t / self.period + 1e-6) + 1) * self.period
        return True


class CameraRunner:
    """Runs one camera until ``stop`` is set, a file ends (without ``loop``) or a permanent error.

    ``url`` is the real URL (credentials expanded); only its masked form is logged or stored.
    """

    def __init__(self, client: redis.Redis, keys: Keys, camera: CameraConfig, url: str,
                 settings: IngestSettings, stop: threading.Event, source_name: str = "live"):
        self.client, self.keys, self.cam, self.url = client, keys, camera, url
        self.settings, self.stop, self.source_name = settings, stop, source_name
        self.outage = Outage(client, keys, f"ingest {camera.name}", log)
        self.state, self.error = "starting", ""
        self.live = False  # the open source is a live camera
        self.dropped_offline = 0  # live frames not published while Redis was away
        self.totals = Totals(client)  # frames_in, frames_dropped, frames_motion, frames_still
        self.gate: MotionGate | None = None
        self.last_frame = (0.0, 0.0)  # (time, fps) of the last frame published
        self._redis_at = 0.0  # live: no Redis call before this (monotonic) during an outage
        self.state_key = keys.state(camera.name)
        self.publisher = StreamPublisher(client, keys, camera.name, settings.stream_maxlen)
        self.rate = RateMeter()
        self.frames_published = 0
        self.frames_read = 0  # from the source: published, skipped by fps or left undecoded
        self.pass_read = 0  # the same, in this pass over the source
        self.last_id: str | None = None

    def set_state(self, state: str, error: str = "") -> None:
        """Record the camera's state (in Redis when it answers; again once it is back)."""
        self.state, self.error = state, error
        fields = CameraState(state, mask_url(self.cam.url), error=mask_text(error),
                             updated=time.time()).to_fields(
            ("state", "url", "error", "updated") + (() if state == "online" else ("fps",)))

        def write(pipe) -> None:
            pipe.hset(self.state_key, mapping=fields)
            pipe.hsetnx(self.state_key, "frames_in", 0)
            pipe.hsetnx(self.state_key, "frames_dropped", 0)
        self._best_effort(write)

    def _best_effort(self, write: Callable[[redis.client.Pipeline], None]) -> bool:
        """Queue ``write`` on a pipeline and send it; False (skipped) while Redis is away."""
        if time.monotonic() < self._redis_at:
            return False
        try:
            pipe = self.client.pipeline(transaction=False)
            write(pipe)
            pipe.execute()
        except REDIS_FAILED as exc:
            self._redis_at = time.monotonic() + self.outage.note(exc)
            return False
        self._redis_ok()
        return True

    def _redis_ok(self) -> None:
        """After a successful call: if it ends an outage, join the group again (a Redis that
        lost its data lost it too), restore the state and count the frames dropped meanwhile."""
        if not self.outage.back():
            return
        try:
            self.publisher.resync()
        except REDIS_FAILED as exc:  # gone again: resynced when it is back
            self._redis_at = time.monotonic() + self.outage.note(exc)
            return
        self.set_state(self.state, self.error)
        dropped, self.dropped_offline = self.dropped_offline, 0
        if dropped:
            self.totals.add("frames_dropped", dropped)
            log.warning("camera %s: %d frames dropped while Redis was away", self.cam.name,
                        dropped)
            metrics.FRAMES_DROPPED.labels(self.cam.name).inc(dropped)
            self._write_counts()

    def run(self) -> str:
        """The camera's loop; returns the final state (finished, stopped or error)."""
        bind(camera=self.cam.name)
        self.set_state("starting")
        delay = self.settings.backoff_initial_s
        while not self.stop.is_set():
            try:
                source = open_source(self.url, self.settings.open_timeout_s, self.cam.hwaccel,
                                     self.cam.rtsp_transport, threads=self._threads())
            except SourceError as exc:
                if exc.permanent:
                    log.error("camera %s: %s", self.cam.name, mask_text(str(exc)))
                    self.set_state("error", str(exc))
                    return "error"
                self._offline(str(exc), delay)
                delay = min(delay * 2, self.settings.backoff_max_s)
                continue
            try:
                got_frames = self._pump(source)
            finally:
                source.close()
            if got_frames:
                delay = self.settings.backoff_initial_s
            if self.stop.is_set():
                break
            if not source.live:
                if not got_frames:
                    self.set_state("error", "no frames could be decoded")
                    log.error("camera %s: no frames decoded from %s", self.cam.name,
                              mask_url(self.cam.url))
                    return "error"
                self._check_complete(source)
                if self.cam.loop:
                    continue
                self.set_state("finished", self.error)
                log.info("camera %s: end of file after %d frames", self.cam.name,
                         self.frames_published)
                return "finished"
            self._offline("stream ended or timed out", delay)
            delay = min(delay * 2, self.settings.backoff_max_s)
        self.set_state("stopped")
        return "stopped"

    def _threads(self) -> int:
        """Decoder threads: one for anything paced in real time (the least CPU per frame), FFmpeg's
        choice for a file read as fast as workers keep up."""
        live = "://" in self.url or self.url.strip().isdigit()
        return 1 if live or self.cam.realtime else 0

    def _check_complete(self, source: Source) -> None:
        """Warn (in the log and the state's ``error``) when a file ended well before the frames
        its header announces: it is cut short or corrupt."""
        expected = source.expected_frames
        if expected and self.pass_read < expected * 0.98 - 1:
            self.error = (f"the file ended after {self.pass_read} of its {expected} frames: it is "
                          "cut short or corrupt")
            log.warning("camera %s: %s", self.cam.name, self.error)

    def _offline(self, reason: str, delay: float) -> None:
        log.warning("camera %s offline: %s; retrying in %.1fs", self.cam.name, mask_text(reason),
                    delay)
        self.set_state("offline", reason)
        self._best_effort(lambda pipe: pipe.hincrby(self.state_key, "reconnects", 1))
        metrics.RECONNECTS.labels(self.cam.name).inc()
        self.stop.wait(delay)

    def _pump(self, source: Source) -> bool:
        """Publish frames until the source ends or ``stop``; True if any frame was read."""
        keep = FpsFilter(self.cam.fps, source.live)
        motion = self.cam.motion.enabled
        self.gate = MotionGate(self.cam.motion) if (source.live if motion is None else motion) \
            else None
        anchor: tuple[float, float] | None = None  # (monotonic, pos) at the first frame
        got = False
        self.live = source.live
        self.pass_read = 0
        frames = source.frames(keep.period)
        latest = LatestFrames(frames, keep, self._read_upto) if source.live else None
        try:
            for frame in latest if latest is not None else frames:
                if self.stop.is_set():
                    break
                if latest is None:
                    self._read_upto(frame)
                    if not keep(frame):
                        continue
                if not got:
                    got = True
                    self.set_state("online")
                t = keep.time(frame)
                if self.cam.realtime and not source.live:
                    anchor = anchor or (time.monotonic(), t)
                    if self.stop.wait(max(0.0, anchor[0] + (t - anchor[1]) - time.monotonic())):
                        break
                dropped = latest.take_dropped() if latest is not None else 0
                if dropped:  # kept frames a newer one replaced before ingest took them
                    self.totals.add("frames_dropped", dropped)
                    metrics.FRAMES_DROPPED.labels(self.cam.name).inc(dropped)
                self._publish(frame, t)
        finally:
            if latest is not None:
                latest.close(self.settings.open_timeout_s + 1)
        while self.totals.unsent and not source.live and not self.stop.is_set() \
                and not self._write_counts():  # a file's last counts, before it is finished
            self.stop.wait(max(0.0, self._redis_at - time.monotonic()))
        return got

    def _read_upto(self, frame: Frame) -> None:
        """Count the source's frames up to ``frame``, those it left undecoded included."""
        read = frame.index + 1 - self.pass_read
        if read > 0:
            metrics.FRAMES_READ.labels(self.cam.name).inc(read)
            self.frames_read += read
            self.pass_read += read

    def _publish(self, frame: Frame, t: float) -> None:
        """Add one frame: a live camera's at once or never, a file's once there is room and Redis
        answers (until ``stop``)."""
        image = frame.scaled(self.cam.max_width)
        boxes, detect = self.gate.check(image, t) if self.gate else (None, True)
        jpeg, width, height = encode_jpeg(image, self.cam.jpeg_quality)
        now = time.time()
        msg = FrameMessage(self.cam.name, self.frames_published, now, width, height, jpeg,
                           self.source_name, boxes, detect)
        fields = msg.to_fields()
        added = self._add_live(fields) if self.live else self._add_waiting(fields)
        if added is None:
            return
        self.last_id, dropped = added
        self.frames_published += 1
        metrics.FRAMES_PUBLISHED.labels(self.cam.name).inc()
        if dropped:
            metrics.FRAMES_DROPPED.labels(self.cam.name).inc(dropped)
        self.totals.add("frames_in")
        self.totals.add("frames_dropped", dropped)
        self.totals.add("frames_motion", bool(boxes))
        self.totals.add("frames_still", not detect)
        self.last_frame = (now, round(self.rate.tick(), 2))
        self._write_counts()

    def _write_counts(self) -> bool:
        """Write the frame counters (:mod:`ingest.totals`: never twice) and the last frame's time
        to the state hash; what Redis does not take now is written with the next frame."""
        now, fps = self.last_frame

        def count(pipe) -> None:
            self.totals.write(pipe, self.state_key)
            pipe.hset(self.state_key, mapping=CameraState(
                self.state, fps=fps, last_frame_ts=now, updated=now).to_fields(
                    ("last_frame_ts", "fps", "updated")))
        if not self._best_effort(count):
            return False
        self.totals.confirmed()
        return True

    def _add_live(self, fields: dict) -> tuple[str, int] | None:
        """XADD now, or drop the frame (counted) while Redis is away."""
        if time.monotonic() >= self._redis_at:
            try:
                added = self.publisher.publish(fields)
            except REDIS_FAILED as exc:
                self._redis_at = time.monotonic() + self.outage.note(exc)
            else:
                self._redis_ok()
                return added
        self.dropped_offline += 1
        return None

    def _add_waiting(self, fields: dict) -> tuple[str, int] | None:
        """XADD once fewer than ``stream_maxlen`` of ours are unacknowledged, riding out Redis
        outages (the frame keeps its entry id: an add whose reply was lost is not repeated);
        None once stopped."""
        entry_id = None
        while not self.stop.is_set():
            try:
                if entry_id is not None and self.publisher.landed(entry_id):
                    added = entry_id, 0
                elif self.publisher.wait_for_room(self.stop):
                    entry_id = entry_id or self.publisher.new_id()
                    added = self.publisher.publish(fields, True, entry_id)
                else:
                    return None
            except REDIS_FAILED as exc:
                self.outage.failed(exc, self.stop)
                continue
            self._redis_ok()
            return added
        return None


def read_state(client: redis.Redis, keys: Keys, camera: str) -> CameraState | None:
    """The camera's state hash, or None if ingest never ran it."""
    fields = client.hgetall(keys.state(camera))
    return CameraState.from_fields(fields) if fields else None
