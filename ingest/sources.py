"""Frame sources: video files, network streams (RTSP, HTTP(S) MJPEG/HLS), webcams, image folders.

``open_source(url)`` classifies the URL and opens it; :class:`SourceError` says whether retrying
can help (``permanent=False``: a network camera that does not answer) or not (a missing file, a
bogus scheme). Messages never contain credentials.

Video is decoded with PyAV (the FFmpeg its wheel ships): a frame stays in the decoder's format
until :meth:`Frame.scaled` asks for it, so frames skipped by fps are never converted, and a kept
frame is scaled and converted to BGR in one libswscale call, straight to the published size.
Frames that no other frame refers to (most B-frames) and that fps would skip are not even decoded
(:meth:`AvSource.frames`).
"""

from __future__ import annotations

import heapq
import os
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Callable, Iterator
from urllib.parse import urlsplit

import av
import cv2
import numpy as np

from common.cameras import NETWORK_SCHEMES, url_scheme
from common.urls import UnsetVariableError, expand_env, mask_url

from .hwaccel import open_container

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
FOLDER_FPS = 10.0
"""Nominal frame rate of an image folder (its frames have no timestamps)."""
REFERENCES_ONLY = 3
"""From this many source frames per kept one, only reference frames are decoded (x264's B-frames
leave at most 3 frames between two references)."""
MAX_PENDING = 1024
"""Timestamps of frames in the decoder kept at most (to count frames it left undecoded)."""


class SourceError(Exception):
    """A source cannot be opened or read; ``permanent`` when retrying cannot help."""

    def __init__(self, message: str, permanent: bool):
        super().__init__(message)
        self.permanent = permanent


def scaled_size(width: int, height: int, max_width: int | None) -> tuple[int, int]:
    """(width, height) shrunk to ``max_width`` with the aspect kept (unchanged when narrower)."""
    if max_width is None or width <= max_width:
        return width, height
    return max_width, max(1, round(height * max_width / width))


class Frame:
    """A decoded frame at ``pos_ms`` (files: their timestamps; live sources: 0), the ``index``-th
    frame of its source (counting frames left undecoded)."""

    def __init__(self, image: np.ndarray, pos_ms: float, index: int):
        self._image, self.pos_ms, self.index = image, pos_ms, index

    @property
    def image(self) -> np.ndarray:
        """The full-size BGR image (HxWx3 uint8)."""
        return self._image

    def scaled(self, max_width: int | None) -> np.ndarray:
        """BGR, shrunk to ``max_width`` (aspect kept)."""
        height, width = self._image.shape[:2]
        size = scaled_size(width, height, max_width)
        if size == (width, height):
            return self._image
        return cv2.resize(self._image, size, interpolation=cv2.INTER_AREA)


class AvFrame(Frame):
    """A PyAV frame, converted only when asked."""

    def __init__(self, frame: av.VideoFrame, pos_ms: float, index: int):
        self.frame, self.pos_ms, self.index = frame, pos_ms, index

    @property
    def image(self) -> np.ndarray:
        return self.frame.to_ndarray(format="bgr24")

    def scaled(self, max_width: int | None) -> np.ndarray:
        width, height = scaled_size(self.frame.width, self.frame.height, max_width)
        return self.frame.to_ndarray(width=width, height=height, format="bgr24",
                                     interpolation="AREA")


def opens_period(t: float, period: float, frame_s: float) -> bool:
    """Whether the frame at ``t`` seconds (frames ``frame_s`` apart) is the first at or after a
    multiple of ``period``."""
    phase = t % period
    return phase < frame_s - 1e-6 or period - phase < 1e-6


def expand_url(url: str) -> str:
    """``url`` with its ``${VAR}`` read from the environment (how credentials reach a URL);
    a permanent :class:`SourceError` names a variable that is not set."""
    try:
        return expand_env(url, os.environ)
    except UnsetVariableError as exc:
        raise SourceError(str(exc), True) from None


class Source(ABC):
    """An open source; iterate :meth:`frames` until it ends (files) or fails (live)."""

    live: bool = False
    expected_frames: int | None = None
    """Frames a file's header announces (None: unknown or live)."""

    @abstractmethod
    def frames(self, period: float = 0.0) -> Iterator[Frame]:
        """Decoded frames in order. With ``period`` (seconds), the caller keeps at most one
        frame per period: a source may leave frames undecoded that it would not keep."""

    def close(self) -> None:
        """Release the device or connection (nothing to release by default)."""


class AvSource(Source):
    """The first video stream of anything FFmpeg opens: files, network streams, webcams.

    Packets that do not decode (garbage on the wire, a damaged stretch of a file) are skipped; a
    stream that errors or times out ends: a live camera reconnects, a file that ends before the
    frames its header announces is reported cut short by the camera.
    """

    def __init__(self, container: av.container.InputContainer, live: bool, threads: int):
        self.container, self.live = container, live
        if not container.streams.video:
            container.close()
            raise SourceError("no video stream", not live)
        self.stream = container.streams.video[0]
        self.stream.codec_context.thread_count = threads
        if threads != 1:
            self.stream.thread_type = "AUTO"
        self.expected_frames = None if live else (self.stream.frames or None)
        self.bad_packets = 0
        self.on_packet: Callable[[av.Packet], None] | None = None
        """Called with every demuxed packet once it is decoded (the recorder's stream copy)."""

    def frames(self, period: float = 0.0) -> Iterator[AvFrame]:
        """Decoded frames in display order. With ``period``, frames that no other frame refers
        to (B-frames, mostly) are left undecoded (libavcodec's ``skip_frame``: their headers are
        parsed, nothing else):

        - at :data:`REFERENCES_ONLY` or more source frames per period, all of them: the frame
          kept of a period is then its first reference frame, a frame or two later than with
          every frame decoded, unless a whole period goes by without one (references too rare
          for the rate kept), from when on the next rule applies;
        - otherwise all but the first at or after each multiple of ``period`` on the stream's
          clock: the very frames :class:`~ingest.capture.FpsFilter` keeps of a file."""
        rate = float(self.stream.average_rate or self.stream.guessed_rate or 25)
        context = self.stream.codec_context
        pending: list[int] = []  # pts of demuxed frames not out of the decoder yet
        index = 0  # the next frame's index, frames left undecoded counted
        references_only = period * rate >= REFERENCES_ONLY
        skipping = "NONREF" if references_only else "DEFAULT"
        context.skip_frame = skipping
        silent = 0  # packets since the decoder last returned a frame
        try:
            for packet in self.container.demux(self.stream):
                if packet.pts is not None:
                    heapq.heappush(pending, packet.pts)
                    if len(pending) > MAX_PENDING:  # pts the decoder never returns
                        heapq.heappop(pending)
                    if period and not references_only and self.stream.time_base:
                        t = float(packet.pts * self.stream.time_base)
                        mode = "DEFAULT" if opens_period(t, period, 1.0 / rate) else "NONREF"
                        if mode != skipping:
                            context.skip_frame = skipping = mode
                try:
                    decoded = packet.decode()
                except (av.InvalidDataError, av.error.PatchWelcomeError):
                    self.bad_packets += 1
                    decoded = None
                if self.on_packet is not None:
                    self.on_packet(packet)
                if decoded is None:
                    continue
                silent = 0 if decoded else silent + 1
                references_only = references_only and silent <= period * rate
                for frame in decoded:
                    while frame.pts is not None and pending and pending[0] <= frame.pts:
                        index += heapq.heappop(pending) < frame.pts  # left undecoded
                    if self.live:
                        pos = 0.0
                    elif frame.time is not None:
                        pos = frame.time * 1000.0
                    else:
                        pos = index * 1000.0 / rate
                    yield AvFrame(frame, pos, index)
                    index += 1
        except av.FFmpegError:
            return

    def close(self) -> None:
        self.container.close()


class FolderSource(Source):
    """Images of a folder in name order, at :data:`FOLDER_FPS` nominal timestamps."""

    def __init__(self, folder: Path):
        self.paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self.paths:
            raise SourceError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in folder {folder}", True)

    def frames(self, period: float = 0.0) -> Iterator[Frame]:
        for i, path in enumerate(self.paths):
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is not None:
                yield Frame(image, i * 1000.0 / FOLDER_FPS, i)


def open_source(url: str, timeout_s: float = 10.0, hwaccel: str = "none",
                rtsp_transport: str = "tcp", threads: int = 0) -> Source:
    """Open a file path, ``file://`` URL, folder, webcam index or network URL.

    ``hwaccel``: ``auto``, ``none`` or a device type (:mod:`ingest.hwaccel`); ``threads``: the
    decoder's threads (0: FFmpeg's choice; 1 costs the least CPU per frame).
    """
    shown = mask_url(url)
    if url.strip().isdigit():
        try:
            container = av.open(f"/dev/video{int(url)}", format="v4l2", timeout=timeout_s)
        except (av.FFmpegError, OSError):
            raise SourceError(f"webcam {url} cannot be opened", False) from None
        return AvSource(container, live=True, threads=threads)
    scheme = url_scheme(url)
    if scheme in NETWORK_SCHEMES:
        options = {"rtsp_transport": rtsp_transport} if scheme in ("rtsp", "rtsps") else {}
        try:
            container = open_container(expand_url(url), hwaccel, options=options,
                                       timeout=(timeout_s, timeout_s))
        except (av.FFmpegError, OSError):
            raise SourceError(f"cannot connect to {shown}", False) from None
        return AvSource(container, live=True, threads=threads)
    if scheme not in ("", "file"):
        raise SourceError(f"unsupported scheme '{scheme}' in {shown}: use a file path, folder, "
                          f"webcam index or {', '.join(NETWORK_SCHEMES)}", True)
    path = Path(urlsplit(url).path if scheme == "file" else url).expanduser()
    if path.is_dir():
        return FolderSource(path)
    if not path.is_file():
        raise SourceError(f"no such file: {path}", True)
    try:
        container = open_container(str(path), hwaccel)
        return AvSource(container, live=False, threads=threads)
    except (av.FFmpegError, SourceError):
        raise SourceError(f"cannot decode video file {path} (corrupt or unsupported format)",
                          True) from None
