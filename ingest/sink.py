"""Where one camera's frames and state go: its stream (:mod:`ingest.publisher`) and its state hash
(frame counters through :mod:`ingest.totals`), riding out Redis outages with one policy.

While Redis is away (:mod:`runtime.outage`: one log line when it goes, one when it is back) the
camera stays open: a live camera's frames are dropped (no Redis call before the outage's next
try; counted in ``frames_dropped`` once Redis is back), a file's frame waits and is added once,
and state writes are skipped (the state is written again once Redis is back). Counters are sent
as totals, so a write whose reply was lost never counts twice.

A key of this camera holding the wrong type (an operator's ``SET`` over its stream) is no outage:
it is logged once with the key named, the camera's state is ``error``, and its calls are retried
with their own backoff (5 s doubling to 60 s) until the key is sound again.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable, TypeVar

import redis

from common.cameras import CameraConfig
from common.keys import Keys
from common.messages import FrameMessage
from common.records import CameraState
from common.urls import mask_text, mask_url
from runtime import metrics
from runtime.outage import REDIS_FAILED, Outage, backoff, is_wrong_type, wrong_type_keys

from .capture import EncodedFrame
from .publisher import RateMeter, StreamPublisher
from .settings import IngestSettings
from .totals import Totals

log = logging.getLogger("cctv.ingest")

T = TypeVar("T")
LAST_STATES = ("finished", "error")
"""States a runner ends in: written once Redis takes them, however long it is away."""

KEY_RECHECK_S, KEY_RECHECK_MAX_S = 5.0, 60.0
"""Waits before a wrong-type key of the camera is tried again: doubling from the first."""
RETRY_MAX_S = 2.0
"""Longest wait between a camera's tries while Redis is away: every second waited after Redis
is back (a replica promoted in 5 s) is a second of a live camera's frames dropped, and a try is
one connection attempt. (The default backoff, up to 10 s, kept cameras away 10 s longer than a
cluster failover.)"""


class CameraSink:
    """Publishes one camera's frames and keeps its state hash; ``stop`` ends a wait for Redis."""

    def __init__(self, client: redis.Redis, keys: Keys, camera: CameraConfig,
                 settings: IngestSettings, stop: threading.Event, source_name: str):
        self.client, self.cam, self.stop, self.source_name = client, camera, stop, source_name
        self.outage = Outage(client, keys, f"ingest {camera.name}", log, max_s=RETRY_MAX_S)
        self.state, self.error = "starting", ""
        self.state_key = keys.state(camera.name)
        self.publisher = StreamPublisher(client, keys, camera.name, settings.stream_maxlen)
        self.totals = Totals(client)  # frames_in, frames_dropped, frames_motion, frames_still
        self.rate = RateMeter()
        self.frames_published = 0
        self.last_id: str | None = None
        self.last_frame = (0.0, 0.0)  # (time, fps) of the last frame published
        self.dropped_offline = 0  # live frames not published while Redis was away
        self._retry_at = 0.0  # no Redis call before this (monotonic) during an outage
        self.key_fault: str | None = None  # its keys of the wrong type, described; None: sound
        self._fault_waits = backoff(KEY_RECHECK_S, KEY_RECHECK_MAX_S)
        self._state_before_fault = "starting"

    def _attempt(self, call: Callable[[], T]) -> T | None:
        """``call()``, or None: at once while the outage waits before its next try, or when the
        call fails (noted: the outage's log line and backoff)."""
        if time.monotonic() < self._retry_at:
            return None
        try:
            result = call()
        except REDIS_FAILED as exc:
            if is_wrong_type(exc):
                self._key_failed(exc)
            else:
                self._failed(exc)
            return None
        self._redis_ok()
        if self.key_fault is not None:
            self._key_recheck()
        return result

    def _faulty_keys(self) -> str:
        """This camera's keys that hold the wrong type, described ("" when none)."""
        return "; ".join(wrong_type_keys(self.client, {self.publisher.stream: "stream",
                                                       self.state_key: "hash"}))

    def _key_failed(self, exc: Exception) -> None:
        """A call refused by a wrong-type key: said once (the camera in state ``error``), then
        no call before the next of its rechecks."""
        wait_s = next(self._fault_waits)
        self._retry_at = time.monotonic() + wait_s
        if self.key_fault is not None:
            return
        self.key_fault = self._faulty_keys() or str(exc)
        log.error("camera %s: %s: frames not published, rechecked in %.0f s", self.cam.name,
                  self.key_fault, wait_s)
        self._state_before_fault, self.state, self.error = self.state, "error", self.key_fault
        try:  # straight to Redis: _send waits for the recheck
            self.client.hset(self.state_key, mapping=CameraState(
                "error", mask_url(self.cam.url), error=self.key_fault, updated=time.time())
                .to_fields(("state", "url", "error", "updated")))
        except REDIS_FAILED:
            pass  # the state hash is the faulty key (named in the log) or Redis is away

    def _key_recheck(self) -> None:
        """After a call succeeded while a key was faulty: sound again once none is."""
        if self._faulty_keys():
            return
        log.info("camera %s: its keys are sound again", self.cam.name)
        self.key_fault = None
        self._fault_waits = backoff(KEY_RECHECK_S, KEY_RECHECK_MAX_S)
        self.set_state(self._state_before_fault)

    def _failed(self, exc: Exception) -> None:
        """Note a failed call: no call before the outage's next try."""
        self._retry_at = time.monotonic() + self.outage.note(exc)

    def _until_done(self, attempt: Callable[[], T | None]) -> T | None:
        """``attempt()`` (made of :meth:`_attempt`) until its result is true, waiting out the
        outage's backoff between tries; None once ``stop`` is set."""
        while not self.stop.is_set():
            result = attempt()
            if result:
                return result
            self.stop.wait(max(0.0, self._retry_at - time.monotonic()))
        return None

    def _send(self, write: Callable[[redis.client.Pipeline], None]) -> bool:
        """Queue ``write`` on a pipeline and send it; False (skipped) while Redis is away."""
        def send() -> list:
            pipe = self.client.pipeline(transaction=False)
            write(pipe)
            return pipe.execute()
        return self._attempt(send) is not None

    def _redis_ok(self) -> None:
        """After a successful call: if it ends an outage, join the group again (a Redis that
        lost its data lost it too), restore the state and count the frames dropped meanwhile."""
        if not self.outage.back():
            return
        try:
            self.publisher.resync()
        except REDIS_FAILED as exc:  # gone again: resynced when it is back
            self._failed(exc)
            return
        self.set_state(self.state, self.error)
        dropped, self.dropped_offline = self.dropped_offline, 0
        if dropped:
            self.totals.add("frames_dropped", dropped)
            log.warning("camera %s: %d frames dropped while Redis was away", self.cam.name,
                        dropped)
            metrics.FRAMES_DROPPED.labels(self.cam.name).inc(dropped)
            self._write_counts()

    def set_state(self, state: str, error: str = "") -> None:
        """Record the camera's state (in Redis when it answers; again once it is back). A last
        state (``finished``, ``error``) waits for Redis: nothing comes after it to restore it."""
        self.state, self.error = state, error
        fields = CameraState(state, mask_url(self.cam.url), error=mask_text(error),
                             updated=time.time()).to_fields(
            ("state", "url", "error", "updated") + (() if state == "online" else ("fps",)))

        def write(pipe) -> None:
            pipe.hset(self.state_key, mapping=fields)
            pipe.hsetnx(self.state_key, "frames_in", 0)
            pipe.hsetnx(self.state_key, "frames_dropped", 0)
        if state in LAST_STATES:  # not past a key of the wrong type: that is said already
            self._until_done(lambda: self._send(write) or self.key_fault is not None)
        else:
            self._send(write)

    def count_reconnect(self) -> None:
        """One more reconnect in the state hash (skipped while Redis is away)."""
        self._send(lambda pipe: pipe.hincrby(self.state_key, "reconnects", 1))

    def count_replaced(self, replaced: int) -> None:
        """Kept frames a newer one replaced before ingest took them: dropped."""
        if replaced:
            self.totals.add("frames_dropped", replaced)
            metrics.FRAMES_DROPPED.labels(self.cam.name).inc(replaced)

    def publish(self, frame: EncodedFrame, live: bool, ts: float) -> None:
        """Add one frame captured at ``ts`` (Unix seconds, its message's time): a live camera's
        (or a realtime file's: ``live``) at once or never, a file's once there is room and Redis
        answers (until ``stop``)."""
        fields = FrameMessage(self.cam.name, self.frames_published, ts, frame.width,
                              frame.height, frame.jpeg, self.source_name, frame.boxes,
                              frame.detect).to_fields()
        added = self._add_live(fields) if live else self._add_waiting(fields)
        if added is None:
            return
        self.last_id, dropped = added
        self.frames_published += 1
        metrics.FRAMES_PUBLISHED.labels(self.cam.name).inc()
        if dropped:
            metrics.FRAMES_DROPPED.labels(self.cam.name).inc(dropped)
        self.totals.add("frames_in")
        self.totals.add("frames_dropped", dropped)
        self.totals.add("frames_motion", bool(frame.boxes))
        self.totals.add("frames_still", not frame.detect)
        self.last_frame = (ts, round(self.rate.tick(), 2))
        self._write_counts()

    def flush(self) -> None:
        """Wait until Redis has every count (a file's last, before it is finished), or ``stop``."""
        if self.totals.unsent:
            self._until_done(self._write_counts)

    def _write_counts(self) -> bool:
        """Write the frame counters (:mod:`ingest.totals`: never twice) and the last frame's time
        to the state hash; what Redis does not take now is written with the next frame."""
        now, fps = self.last_frame

        def count(pipe) -> None:
            self.totals.write(pipe, self.state_key)
            pipe.hset(self.state_key, mapping=CameraState(
                self.state, fps=fps, last_frame_ts=now, updated=now).to_fields(
                    ("last_frame_ts", "fps", "updated")))
        if not self._send(count):
            return False
        self.totals.confirmed()
        return True

    def _add_live(self, fields: dict) -> tuple[str, int] | None:
        """XADD now, or drop the frame (counted) while Redis is away."""
        added = self._attempt(lambda: self.publisher.publish(fields))
        if added is None:
            self.dropped_offline += 1
        return added

    def _add_waiting(self, fields: dict) -> tuple[str, int] | None:
        """XADD once fewer than ``stream_maxlen`` of ours are unacknowledged, riding out Redis
        outages (the frame keeps its entry id: an add whose reply was lost is not repeated);
        None once stopped."""
        entry_id = None

        def add() -> tuple[str, int] | None:
            nonlocal entry_id
            if entry_id is not None and self.publisher.landed(entry_id):
                return entry_id, 0
            if not self.publisher.wait_for_room(self.stop):
                return None
            entry_id = entry_id or self.publisher.new_id()
            return self.publisher.publish(fields, True, entry_id)
        return self._until_done(lambda: self._attempt(add))
