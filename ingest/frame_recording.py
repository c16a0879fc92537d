"""Recording by encoding the frames ingest publishes: the scaled BGR image of each, once, with
libx264 (yuv420p, :data:`PRESET`) into the same fragmented-MP4 segments as the stream copy
(:mod:`ingest.segments`), for sources whose packets cannot be copied (image folders, MJPEG,
webcams, other codecs), files and replays, and cameras recorded only for their events.

Each frame's presentation time is its published capture ``ts`` (the frame message's), in
milliseconds from the segment's first frame, whose ``ts`` names the segment: a segment's times
are the events' times, whatever the source's pace. A frame holds the picture until the next one
(each packet waits for the next frame's time to get its duration), so a segment ends exactly
where the next begins. A keyframe is forced every :data:`KEYFRAME_S`, so a clip cut by stream
copy starts at most that much early. Encoding runs inline on the camera's thread, measured
cheap: about 4 ms of CPU a 640-px frame, 2% of a core at 5 fps (docs/performance.md).
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from .segments import CameraSegments, discard_container, open_container

PRESET = "veryfast"
"""x264's preset: ``ultrafast`` costs a third of the CPU but writes 1.7 times the bytes."""
KEYFRAME_S = 2.0
"""Longest time between two keyframes (the finest cut of a clip taken by stream copy)."""
MS = Fraction(1, 1000)


class EncodedSegment:
    """One open segment of ``width`` x ``height`` frames (even sizes), times in ms from
    ``start_ms``."""

    def __init__(self, path: Path, width: int, height: int, start_ms: int):
        self.path, self.size, self.start_ms = path, (width, height), start_ms
        self.container = open_container(path)
        try:
            self.stream = self.container.add_stream(
                "libx264", options={"preset": PRESET, "tune": "zerolatency"})
            self.stream.width, self.stream.height, self.stream.pix_fmt = width, height, "yuv420p"
            self.stream.codec_context.time_base = MS
            self.stream.codec_context.thread_count = 1  # least CPU per frame; one per camera
        except BaseException:
            self.discard()
            raise
        self.key_ms: int | None = None  # time of the last keyframe forced
        self.held: av.Packet | None = None  # the last packet, until its duration is known
        self.end_ms: int | None = None
        """Until when the last frame is shown (set before :meth:`close`; None: as long as the
        one before it)."""

    def write(self, image: np.ndarray, ts_ms: int) -> None:
        """Encode one BGR frame shown from ``ts_ms`` (Unix ms, later than the last)."""
        frame = av.VideoFrame.from_ndarray(image, format="bgr24")
        frame.pts, frame.time_base = ts_ms - self.start_ms, MS
        if self.key_ms is None or ts_ms - self.key_ms >= KEYFRAME_S * 1000:
            frame.pict_type = av.video.frame.PictureType.I
            self.key_ms = ts_ms
        for packet in self.stream.encode(frame):
            self._mux(packet)

    def close(self) -> None:
        """Flush the encoder and finish the file."""
        for packet in self.stream.encode(None):
            self._mux(packet)
        if self.held is not None:
            if self.end_ms is not None:
                self.held.duration = max(1, self.end_ms - self.start_ms - self.held.pts)
            self.container.mux(self.held)
            self.held = None
        self.container.close()

    def discard(self) -> None:
        discard_container(self.container, self.path)

    def _mux(self, packet: av.Packet) -> None:
        """Mux the packet held, which lasts until ``packet``; hold ``packet``."""
        held, self.held = self.held, packet
        if held is not None:
            held.duration = packet.pts - held.pts
            packet.duration = held.duration  # kept if no frame comes after it
            self.container.mux(held)


class FrameRecorder:
    """Writes a camera's published frames into segments of ``segment_s`` seconds."""

    def __init__(self, segments: CameraSegments, segment_s: float):
        self.segments, self.segment_ms = segments, round(segment_s * 1000)
        self.writer: EncodedSegment | None = None
        self.start_ms = 0  # of the open segment (or of the one lost: none before it is due)
        self.last_ms = 0  # the last frame's time

    def add(self, image: np.ndarray, ts: float) -> None:
        """Record ``image`` (BGR) published at ``ts`` (Unix seconds): a new segment once
        ``segment_s`` went by or the size changed; a time not after the last is taken 1 ms after
        it (the clock stepped back)."""
        ts_ms = max(round(ts * 1000), self.last_ms + 1)
        self.last_ms = ts_ms
        height, width = image.shape[0] & ~1, image.shape[1] & ~1  # yuv420p: even sizes
        if (width, height) != image.shape[1::-1]:
            image = np.ascontiguousarray(image[:height, :width])
        resized = self.writer is not None and self.writer.size != (width, height)
        due = resized or ts_ms - self.start_ms >= self.segment_ms
        if self.writer is not None and due:
            self._close(ts_ms)
        if self.writer is None and due:
            self._open(width, height, ts_ms)
        if self.writer is None:
            return
        try:
            self.writer.write(image, ts_ms)
        except (OSError, ValueError, av.FFmpegError) as exc:
            self.segments.fail(exc, self.writer)
            self.writer = None

    def finish(self) -> None:
        """Close the open segment (the source ended or is closing)."""
        self._close(None)
        self.start_ms = 0

    def _open(self, width: int, height: int, ts_ms: int) -> None:
        self.segments.prepare()
        self.start_ms = ts_ms
        path = self.segments.part_path(ts_ms)
        try:
            self.writer = EncodedSegment(path, width, height, ts_ms)
        except (OSError, av.FFmpegError) as exc:
            path.unlink(missing_ok=True)
            self.segments.fail(exc)

    def _close(self, end_ms: int | None) -> None:
        writer, self.writer = self.writer, None
        if writer is not None:
            writer.end_ms = end_ms
            self.segments.close(writer)
