"""Frames where nothing moved skip the detector: ingest marks them (``detect`` false), and the
worker publishes them with the objects of the camera's latest earlier frame it detected, marked
``carried``. A frame is detected anyway when this worker holds no detection of its camera from
the :data:`CARRY_MAX_S` before it (just started, or its other frames went to other workers).

Frames a worker skips because they are stale (:mod:`workers.batcher`: a live camera behind by
more than its ``max_lag_s``) are published the same way, with the newest objects known of their
camera, even those of a later frame.
"""

from __future__ import annotations

import threading
from dataclasses import replace

from common.messages import DetectionMessage, FrameMessage

CARRY_MAX_S = 10.0
"""Oldest detection (capture time before the frame's) whose objects are carried over."""


class CarryOver:
    """The latest detection per camera, shared by a worker's lanes."""

    def __init__(self):
        self._lock = threading.Lock()
        self._last: dict[str, DetectionMessage] = {}

    def known(self) -> dict[str, float]:
        """Capture time of the latest detection held per camera."""
        with self._lock:
            return {camera: msg.ts for camera, msg in self._last.items()}

    @staticmethod
    def can_carry(frame: FrameMessage, detected_ts: float | None) -> bool:
        """Whether ``frame`` may skip the detector, given the capture time of the latest
        detection of its camera before it (None: none)."""
        return not frame.detect and detected_ts is not None \
            and 0 <= frame.ts - detected_ts <= CARRY_MAX_S

    def fill(self, detected: list[DetectionMessage], still: list[tuple[str, FrameMessage]],
             done: float, worker: str, skipped: list[tuple[str, FrameMessage]] = ()
             ) -> list[DetectionMessage]:
        """``detected`` plus a carried message for each still (entry id, frame): the objects of
        the latest detection of its camera captured before it; and for each skipped one, those
        of the newest detection of its camera. Remembers the newest detection."""
        with self._lock:
            carried = []
            for frames, any_time in ((still, False), (skipped, True)):
                for entry_id, frame in frames:
                    known = [m for m in (self._last.get(frame.camera), *detected)
                             if m is not None and m.camera == frame.camera
                             and (any_time or m.ts <= frame.ts)]
                    if not known:  # its detection failed meanwhile: left pending, read again
                        continue
                    source = max(known, key=lambda m: m.ts)
                    carried.append(replace(source, frame_id=entry_id, seq=frame.seq,
                                           ts=frame.ts, ts_done=done, worker=worker,
                                           width=frame.width, height=frame.height, carried=True))
            for msg in detected:
                last = self._last.get(msg.camera)
                if last is None or msg.ts >= last.ts:
                    self._last[msg.camera] = replace(msg, carried=False)
        return detected + carried
