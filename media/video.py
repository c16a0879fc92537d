"""Video files through PyAV (its wheel ships FFmpeg with libx264): H.264 writing browsers play,
decoding, and what a file declares.

:class:`VideoWriter` encodes BGR frames as H.264, yuv420p, ``+faststart`` MP4 at a given frame rate
into the path it is given; write into a :class:`media.files.PendingFiles` partial file so the video
appears under its final name only when complete.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import av
import cv2
import numpy as np


class VideoError(ValueError):
    """A file that is not a readable video, or a video that cannot be written."""


@dataclass(frozen=True)
class VideoInfo:
    """What a file's first video stream declares (``frames`` 0 when the container does not say)."""

    codec: str
    pix_fmt: str
    width: int
    height: int
    fps: float
    frames: int
    packets: int
    """Packets the demuxer actually delivered: fewer than ``frames`` means the file is cut short."""


def _one_line(exc: Exception) -> str:
    """FFmpeg's reason without its errno number ("Invalid data found when processing input")."""
    return " ".join(str(getattr(exc, "strerror", None) or exc).split()) or type(exc).__name__


def probe(path: str | Path) -> VideoInfo:
    """Read the header of ``path``'s first video stream and count its packets (no decoding)."""
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoError(f"{path} has no video stream")
            stream = container.streams.video[0]
            packets = sum(1 for p in container.demux(stream) if p.size)
            rate = stream.average_rate or stream.guessed_rate
            return VideoInfo(stream.codec_context.name, stream.codec_context.format.name
                             if stream.codec_context.format else "", stream.codec_context.width,
                             stream.codec_context.height, float(rate) if rate else 0.0,
                             stream.frames, packets)
    except av.FFmpegError as exc:
        raise VideoError(f"{path} is not a readable video: {_one_line(exc)}") from exc


def read_frames(path: str | Path) -> Iterator[np.ndarray]:
    """Every frame of ``path``'s first video stream, decoded to BGR (HxWx3 uint8), in order."""
    try:
        with av.open(str(path)) as container:
            for frame in container.decode(video=0):
                yield frame.to_ndarray(format="bgr24")
    except av.FFmpegError as exc:
        raise VideoError(f"{path}: {_one_line(exc)}") from exc


def _even(image: np.ndarray) -> np.ndarray:
    """``image`` padded by one edge row/column where its height/width is odd (libx264 needs even)."""
    height, width = image.shape[:2]
    if height % 2 == 0 and width % 2 == 0:
        return image
    return cv2.copyMakeBorder(image, 0, height % 2, 0, width % 2, cv2.BORDER_REPLICATE)


class VideoWriter:
    """H.264 (libx264), yuv420p, ``movflags=+faststart`` MP4 of BGR frames at ``fps``.

    Frames all have the first frame's size; odd sizes are padded to even. ``threads``: the
    encoder's (0: libx264's choice, the least latency; 1: the least CPU per frame, for many
    videos encoded at once). Use as a context manager: leaving normally finishes the file, an
    exception closes it unfinished.
    """

    def __init__(self, path: str | Path, fps: float, crf: int = 23, preset: str = "veryfast",
                 threads: int = 0):
        if not fps > 0:
            raise VideoError(f"frame rate must be positive, got {fps}")
        self.path, self.rate = Path(path), Fraction(fps).limit_denominator(1001)
        self.options = {"crf": str(crf), "preset": preset, "threads": str(threads)}
        self.size: tuple[int, int] | None = None
        self.frames = 0
        try:
            self.container = av.open(str(path), mode="w", format="mp4",
                                     options={"movflags": "+faststart"})
        except av.FFmpegError as exc:
            raise VideoError(f"cannot write {path}: {_one_line(exc)}") from exc
        self.stream: av.VideoStream | None = None

    def write(self, image: np.ndarray) -> None:
        """Encode one BGR frame (HxWx3 uint8)."""
        image = _even(np.ascontiguousarray(image))
        size = (image.shape[1], image.shape[0])
        if self.stream is None:
            self.size = size
            self.stream = self.container.add_stream("libx264", rate=self.rate,
                                                    options=self.options)
            self.stream.width, self.stream.height = size
            self.stream.pix_fmt = "yuv420p"
        elif size != self.size:
            raise VideoError(f"frame {self.frames} is {size[0]}x{size[1]}, the video "
                             f"{self.size[0]}x{self.size[1]}")
        frame = av.VideoFrame.from_ndarray(image, format="bgr24")
        frame.pts = self.frames
        frame.time_base = 1 / self.rate
        self.container.mux(self.stream.encode(frame))
        self.frames += 1

    def close(self) -> None:
        """Flush the encoder and finish the file (a video needs at least one frame)."""
        try:
            if self.stream is None:
                raise VideoError(f"{self.path}: no frames to write")
            self.container.mux(self.stream.encode(None))
        finally:
            self.container.close()

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.container.close()
