"""The camera side of an ingest runner: open the source, read it, keep frames at the target fps
(a live source's newest, a ``realtime`` file's at its own pace), gate motion, encode JPEG, and
wait longer before each reopen of a camera that keeps going away."""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterator

import cv2
import numpy as np

from common.cameras import CameraConfig, is_live
from runtime import metrics

from .latest import LatestFrames
from .motion import Box, MotionGate
from .recording import Recorder
from .settings import IngestSettings
from .sources import Frame, Source, SourceError


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


@dataclass(frozen=True)
class KeptFrame:
    """A frame to publish, at ``t`` seconds of source time; ``replaced``: kept frames of a live
    source that a newer one replaced before this one was taken (dropped)."""

    frame: Frame
    t: float
    replaced: int


@dataclass(frozen=True)
class EncodedFrame:
    """A kept frame as published: the scaled BGR image, its JPEG and size, motion boxes (None
    without a motion gate) and whether the detector must run on it."""

    image: np.ndarray
    jpeg: bytes
    width: int
    height: int
    boxes: list[Box] | None
    detect: bool


class Capture:
    """One camera's frames, from sources that ``opener`` (:func:`~ingest.sources.open_source`)
    opens; ``url`` is the real URL (credentials expanded); ``recorder`` is told of every source
    opened and ended, to record it."""

    def __init__(self, camera: CameraConfig, url: str, settings: IngestSettings,
                 stop: threading.Event, opener: Callable[..., Source],
                 recorder: Recorder | None = None):
        self.cam, self.url, self.settings, self.stop, self.opener = (camera, url, settings, stop,
                                                                     opener)
        self.recorder = recorder
        self.delay = settings.backoff_initial_s  # before the next reopen
        self.live = False  # the open source comes at its own pace (a live camera, or a file
        # played in real time): its frames are published at once or dropped, never held
        # back for detection to catch up
        self.gate: MotionGate | None = None  # of the open source
        self.pass_read = 0  # frames of the open source read: kept, skipped or left undecoded

    def open(self) -> Source:
        """The camera's source, opened (:class:`SourceError` when it cannot be)."""
        source = self.opener(self.url, self.settings.open_timeout_s, self.cam.hwaccel,
                             self.cam.rtsp_transport, threads=self._threads())
        if self.recorder is not None:
            self.recorder.attach(source)
        return source

    def _threads(self) -> int:
        """Decoder threads: one for anything paced in real time (the least CPU per frame), FFmpeg's
        choice for a file read as fast as workers keep up."""
        return 1 if is_live(self.url) or self.cam.realtime else 0

    def next_delay(self) -> float:
        """The wait before reopening the camera; the one after it is twice as long (up to
        ``backoff_max_s``) unless a frame comes meanwhile."""
        delay, self.delay = self.delay, min(self.delay * 2, self.settings.backoff_max_s)
        return delay

    def frames(self, source: Source) -> Iterator[KeptFrame]:
        """The frames of ``source`` to publish, until it ends or ``stop``."""
        keep = FpsFilter(self.cam.fps, source.live)
        motion = self.cam.motion.enabled
        self.gate = MotionGate(self.cam.motion) if (source.live if motion is None else motion) \
            else None
        anchor: tuple[float, float] | None = None  # (monotonic, t) at the first frame
        self.live = source.live or self.cam.realtime
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
                self.delay = self.settings.backoff_initial_s
                t = keep.time(frame)
                if self.cam.realtime and not source.live:
                    anchor = anchor or (time.monotonic(), t)
                    if self.stop.wait(max(0.0, anchor[0] + (t - anchor[1]) - time.monotonic())):
                        break
                yield KeptFrame(frame, t, latest.take_dropped() if latest is not None else 0)
        finally:
            if latest is not None:
                latest.close(self.settings.open_timeout_s + 1)
            if self.recorder is not None:
                self.recorder.finish()

    def _read_upto(self, frame: Frame) -> None:
        """Count the source's frames up to ``frame``, those it left undecoded included."""
        read = frame.index + 1 - self.pass_read
        if read > 0:
            metrics.FRAMES_READ.labels(self.cam.name).inc(read)
            self.pass_read += read

    def encode(self, frame: Frame, t: float) -> EncodedFrame:
        """The frame scaled to ``max_width``, its motion at source time ``t``, as JPEG."""
        image = frame.scaled(self.cam.max_width)
        boxes, detect = self.gate.check(image, t) if self.gate else (None, True)
        jpeg, width, height = encode_jpeg(image, self.cam.jpeg_quality)
        return EncodedFrame(image, jpeg, width, height, boxes, detect)

    def shortfall(self, source: Source) -> str:
        """Why a file that ended is suspect: it ended well before the frames its header
        announces (cut short or corrupt); "" when it did not."""
        expected = source.expected_frames
        if expected and self.pass_read < expected * 0.98 - 1:
            return (f"the file ended after {self.pass_read} of its {expected} frames: it is cut "
                    "short or corrupt")
        return ""
