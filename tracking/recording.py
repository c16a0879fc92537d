"""Clips encoded while their event goes on, so they never depend on how long Redis keeps frames.

A :class:`Recording` starts when its event does: it reads the camera's frames from ``from_ts``
(``event_pre_s`` before the start, still in Redis then) and follows the frame stream up to
``hold_s`` (``event_end_after_s - event_post_s``) behind what the tracker has tracked
(``progress``): an event still open then ends no earlier than that. When the event ends it takes
the frames up to ``until`` (``event_post_s`` after the end) and finishes the file. Memory per
recording is one encoder and at most ``READ_COUNT`` JPEGs read ahead of ``progress`` (kept, not
read again each time: 12 cameras' recordings re-reading them took a sixth of a core); the frame
stream must hold ``hold_s`` of frames.
"""

from __future__ import annotations

import os
from collections import deque
from pathlib import Path

import cv2
import numpy as np
import redis

from common.keys import Keys
from common.stream_ids import StreamId
from media.video import VideoWriter
from runtime.files import sibling_temp

READ_COUNT = 20
RATE_FRAMES = 10
"""Frames whose capture times set a clip's frame rate."""


def frame_id_at(ts: float) -> StreamId:
    """An entry id at or before the frames captured from ``ts`` on (ingest's ids are its clock in
    milliseconds, taken after the capture time; a second's slack for clocks a little apart)."""
    return StreamId(max(0, int(ts * 1000) - 1000), 0)


def frame_rate(times: list[float]) -> float:
    """Frames per second of capture times (10 for fewer than two frames)."""
    span = times[-1] - times[0] if len(times) > 1 else 0.0
    return (len(times) - 1) / span if span > 0 else 10.0


class Recording:
    """One event's clip: :meth:`follow` as frames come, :meth:`finish` once ``until`` is set."""

    def __init__(self, client: redis.Redis, keys: Keys, camera: str, path: Path, from_ts: float,
                 hold_s: float, preset: str):
        self.client, self.keys, self.camera, self.path = client, keys, camera, path
        self.from_ts, self.hold_s, self.preset = from_ts, hold_s, preset
        self.until: float | None = None
        self.cursor = str(frame_id_at(from_ts))
        self.waiting: list[tuple[float, np.ndarray]] = []  # decoded, before the rate is known
        self.ahead: deque[tuple[bytes, dict]] = deque()  # read, captured after the limit so far
        self.writer: VideoWriter | None = None
        self.partial: Path | None = None
        self.first_ts = self.last_ts = None
        oldest = client.xrange(keys.frames(camera), count=1)
        self.complete = bool(oldest) and float(oldest[0][1][b"ts"]) <= from_ts

    def follow(self, progress: float) -> bool:
        """Encode the frames captured up to ``progress`` (and ``until``); True once every frame
        up to ``until`` is in."""
        limit = progress - self.hold_s if self.until is None else min(progress, self.until)
        while True:
            if not self.ahead:
                self.ahead.extend(self.client.xrange(self.keys.frames(self.camera),
                                                     f"({self.cursor}", "+", count=READ_COUNT))
                if not self.ahead:
                    return self.until is not None and progress >= self.until
            while self.ahead:
                entry_id, fields = self.ahead[0]
                ts = float(fields[b"ts"])
                if ts > limit:
                    return self.until is not None and ts > self.until
                self.ahead.popleft()
                self.cursor = entry_id.decode()
                if ts >= self.from_ts:
                    self._add(ts, fields[b"jpeg"])

    def _add(self, ts: float, jpeg: bytes) -> None:
        image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        if image is None:
            return
        self.first_ts = ts if self.first_ts is None else self.first_ts
        self.last_ts = ts
        self.waiting.append((ts, image))
        if len(self.waiting) >= RATE_FRAMES:
            self._flush()

    def _flush(self) -> None:
        if self.writer is None and self.waiting:
            self.partial = sibling_temp(self.path)
            self.writer = VideoWriter(self.partial, frame_rate([t for t, _ in self.waiting]),
                                      preset=self.preset, threads=1)
        for _, image in self.waiting:
            self.writer.write(image)
        self.waiting.clear()

    def finish(self) -> float:
        """Write the file; returns the seconds of video (0: no frame, no file)."""
        self._flush()
        if self.writer is None:
            return 0.0
        self.writer.close()
        os.replace(self.partial, self.path)
        return self.last_ts - self.first_ts

    def abort(self) -> None:
        """Drop the clip (the event ends without wanting one)."""
        if self.writer is not None:
            self.writer.container.close()
            self.partial.unlink(missing_ok=True)
