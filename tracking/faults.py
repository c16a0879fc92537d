"""Faults of one camera (a key of it holding the wrong type, an unreadable snapshot): that
camera stops, in state ``error`` with the key named, and is rechecked with backoff, while every
other camera goes on; a Redis outage is not one of these (see :mod:`runtime.outage`)."""

from __future__ import annotations

import logging
import time
from typing import Callable

import redis

from common.keys import Keys
from common.records import TRACKER_ERROR_FIELD
from runtime.outage import is_wrong_type, wrong_type_keys

log = logging.getLogger("cctv.tracker")

RECHECK_S = 5.0
"""First wait before a faulty camera is checked again; it doubles up to :data:`RECHECK_MAX_S`."""
RECHECK_MAX_S = 60.0


def camera_key_types(keys: Keys, camera: str) -> dict[str, str]:
    """The keys the tracker reads or writes for ``camera`` alone, with their Redis types."""
    return {keys.detections(camera): "stream", keys.frames(camera): "stream",
            keys.tracker_state(camera): "hash", keys.tracks(camera): "stream",
            keys.track_stats(camera): "hash", keys.zones(camera): "hash",
            keys.in_view(camera): "hash", keys.open_events(camera): "set",
            keys.camera_events(camera): "zset", keys.dead_letters(camera): "stream"}


class CameraFaults:
    """Which cameras are faulty and when each is rechecked; the fault is logged once per
    recheck and stored in the camera's tracker state, where ``cctv status`` reads it."""

    def __init__(self, client: redis.Redis, keys: Keys,
                 clock: Callable[[], float] = time.monotonic):
        self.client, self.keys, self.clock = client, keys, clock
        self._recheck_at: dict[str, float] = {}
        self._wait_s: dict[str, float] = {}

    def waiting(self, camera: str) -> bool:
        """True while ``camera`` is faulty and not due for its recheck."""
        return self._recheck_at.get(camera, 0.0) > self.clock()

    def check(self, camera: str) -> list[str]:
        """The camera's keys that hold the wrong type, described (empty: none)."""
        return wrong_type_keys(self.client, camera_key_types(self.keys, camera))

    def describe(self, camera: str, exc: Exception) -> str:
        """What went wrong, naming the key when ``exc`` is a WRONGTYPE reply."""
        found = self.check(camera) if is_wrong_type(exc) else []
        return "; ".join(found) or str(exc)

    def fault(self, camera: str, why: str) -> None:
        """Stop counting on ``camera`` until its recheck (the caller drops it); logged once."""
        wait_s = min(self._wait_s.get(camera, RECHECK_S / 2) * 2, RECHECK_MAX_S)
        self._wait_s[camera], self._recheck_at[camera] = wait_s, self.clock() + wait_s
        log.error("camera %s: %s: camera stopped, rechecked in %.0f s", camera, why, wait_s)
        self._store(camera, why)

    def cleared(self, camera: str) -> None:
        """``camera`` was taken without a fault: forget its backoff and stored error."""
        if self._wait_s.pop(camera, None) is not None:
            self._recheck_at.pop(camera, None)
            log.info("camera %s: its keys are sound again", camera)
        self._store(camera, None)  # also one stored by a tracker before this one

    def _store(self, camera: str, why: str | None) -> None:
        key = self.keys.tracker_state(camera)
        try:
            if why is None:
                self.client.hdel(key, TRACKER_ERROR_FIELD)
            else:
                self.client.hset(key, TRACKER_ERROR_FIELD, why)
        except redis.ResponseError:
            pass  # the state key is itself the faulty one: status names it when reading it
