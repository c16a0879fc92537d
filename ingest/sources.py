"""Frame sources: video files, network streams (RTSP, HTTP(S) MJPEG/HLS), webcams, image folders.

``open_source(url)`` classifies the URL and opens it; :class:`SourceError` says whether retrying
can help (``permanent=False``: a network camera that does not answer) or not (a missing file, a
bogus scheme). Messages never contain credentials.
"""

from __future__ import annotations

import os
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator
from urllib.parse import urlsplit

os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # FFmpeg's own lines could echo URLs

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from common.urls import mask_url  # noqa: E402

NETWORK_SCHEMES = ("rtsp", "rtsps", "rtmp", "http", "https", "udp", "tcp", "srt")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
FOLDER_FPS = 10.0
"""Nominal frame rate of an image folder (its frames have no timestamps)."""


class SourceError(Exception):
    """A source cannot be opened or read; ``permanent`` when retrying cannot help."""

    def __init__(self, message: str, permanent: bool):
        super().__init__(message)
        self.permanent = permanent


@dataclass
class Frame:
    image: np.ndarray
    pos_ms: float
    """Position in the source (files: their timestamps; live sources: 0)."""


def expand_env(url: str) -> str:
    """Replace ``${VAR}`` with the environment's value (how credentials reach a URL)."""
    def sub(match: re.Match) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise SourceError(f"environment variable {name} (used in the URL) is not set", True)
        return os.environ[name]
    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", sub, url)


class Source(ABC):
    """An open source; iterate :meth:`frames` until it ends (files) or fails (live)."""

    live: bool = False
    expected_frames: int | None = None
    """Frames a file's header announces (None: unknown or live)."""

    @abstractmethod
    def frames(self) -> Iterator[Frame]:
        """Decoded BGR frames in order."""

    def close(self) -> None:
        """Release the device or connection (nothing to release by default)."""


class CaptureSource(Source):
    """Anything OpenCV's FFmpeg backend (or V4L for webcams) reads."""

    def __init__(self, capture: cv2.VideoCapture, live: bool, what: str):
        self.capture, self.live, self.what = capture, live, what
        count = 0 if live else int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        self.expected_frames = count if count > 0 else None

    def frames(self) -> Iterator[Frame]:
        while True:
            ok, image = self.capture.read()
            if not ok or image is None:
                return
            pos = 0.0 if self.live else float(self.capture.get(cv2.CAP_PROP_POS_MSEC))
            yield Frame(image, pos)

    def close(self) -> None:
        self.capture.release()


class FolderSource(Source):
    """Images of a folder in name order, at :data:`FOLDER_FPS` nominal timestamps."""

    def __init__(self, folder: Path):
        self.paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self.paths:
            raise SourceError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in folder {folder}", True)

    def frames(self) -> Iterator[Frame]:
        for i, path in enumerate(self.paths):
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is not None:
                yield Frame(image, i * 1000.0 / FOLDER_FPS)


def open_source(url: str, timeout_s: float = 10.0) -> Source:
    """Open a file path, ``file://`` URL, folder, webcam index or network URL."""
    shown = mask_url(url)
    if url.strip().isdigit():
        capture = cv2.VideoCapture(int(url))
        if not capture.isOpened():
            raise SourceError(f"webcam {url} cannot be opened", False)
        return CaptureSource(capture, live=True, what=f"webcam {url}")
    scheme = urlsplit(url).scheme.lower() if "://" in url else ""
    if scheme in NETWORK_SCHEMES:
        ms = int(timeout_s * 1000)
        capture = cv2.VideoCapture(expand_env(url), cv2.CAP_FFMPEG,
                                   [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms,
                                    cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms])
        if not capture.isOpened():
            raise SourceError(f"cannot connect to {shown}", False)
        return CaptureSource(capture, live=True, what=shown)
    if scheme not in ("", "file"):
        raise SourceError(f"unsupported scheme '{scheme}' in {shown}: use a file path, folder, "
                          f"webcam index or {', '.join(NETWORK_SCHEMES)}", True)
    path = Path(urlsplit(url).path if scheme == "file" else url).expanduser()
    if path.is_dir():
        return FolderSource(path)
    if not path.is_file():
        raise SourceError(f"no such file: {path}", True)
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    if not capture.isOpened():
        raise SourceError(f"cannot decode video file {path} (corrupt or unsupported format)", True)
    return CaptureSource(capture, live=False, what=str(path))
