"""``python -m detector``: detect objects in images and videos, export ONNX, list models.

``detect`` writes annotated copies of its inputs to ``--out`` and, with ``--json``, prints one JSON
list on stdout: ``{"source", "detections": [{"label", "class_id", "score", "box"}]}`` per image,
plus ``"frame"`` per video frame; videos are written as H.264 MP4 (browsers play them). Logs go to
stderr. Bad input gives one ``error:`` line on stderr and exit status 1; outputs are written under
hidden partial names and published only when all succeeded, never over an existing file
(``clip-1.mp4`` instead).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from media.draw import draw_scene
from media.files import PendingFiles
from media.video import VideoError, VideoWriter

from .api import BUILT_IN, Detector, build_model, load_detector
from .backends import BACKENDS
from .errors import DetectorError
from .export import DEFAULT_OPSET, export_onnx

log = logging.getLogger("detector.cli")

VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".ts"})
PROGRESS_EVERY = 100  # frames between progress lines for a video


@contextmanager
def _native_stderr_silenced():
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
    with _native_stderr_silenced():
        return cv2.imread(path)


@dataclass(frozen=True)
class Source:
    """One input as given on the command line, and whether it is read as a video."""

    arg: str
    is_video: bool


def check_sources(args: list[str]) -> list[Source]:
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


def _record(source: str, detections: list, frame: int | None = None) -> dict:
    record: dict = {"source": source}
    if frame is not None:
        record["frame"] = frame
    record["detections"] = [d.to_dict() for d in detections]
    return record


def detect_image(detector: Detector, source: Source, outputs: PendingFiles) -> list[dict]:
    image = read_image(source.arg)
    detections = detector.detect([image])[0]
    temp = outputs.reserve(Path(source.arg).name)
    if not cv2.imwrite(str(temp), draw_scene(image, detections)):
        raise DetectorError(f"cannot write the annotated copy of {source.arg} to {outputs.folder}")
    log.info("%s: %d detections", source.arg, len(detections))
    return [_record(source.arg, detections)]


def detect_video(detector: Detector, source: Source, outputs: PendingFiles,
                 batch_size: int) -> list[dict]:
    """Detect in every frame, ``batch_size`` frames per forward pass; write an annotated H.264 MP4."""
    capture = cv2.VideoCapture(source.arg)
    records: list[dict] = []
    try:
        fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
        total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        with VideoWriter(outputs.reserve(Path(source.arg).stem + ".mp4"), fps) as writer:
            while True:
                frames = []
                while len(frames) < batch_size:
                    ok, frame = capture.read()
                    if not ok:
                        break
                    frames.append(frame)
                if not frames:
                    break
                for frame, detections in zip(frames, detector.detect(frames)):
                    writer.write(draw_scene(frame, detections))
                    records.append(_record(source.arg, detections, frame=len(records)))
                if len(records) % PROGRESS_EVERY < len(frames):  # crossed a multiple of PROGRESS_EVERY
                    log.info("%s: %d/%s frames", source.arg, len(records), total or "?")
    finally:
        capture.release()
    log.info("%s: %d frames, %d detections", source.arg, len(records),
             sum(len(r["detections"]) for r in records))
    return records


def run_detect(args: argparse.Namespace) -> int:
    sources = check_sources(args.paths)
    if args.device == "cuda" and not torch.cuda.is_available():
        raise DetectorError("CUDA is not available on this machine: use --device cpu")
    classes = args.classes.split(",") if args.classes else None
    detector = load_detector(args.model, device=args.device, score_threshold=args.score_threshold,
                             classes=classes, num_threads=args.threads, backend=args.backend)
    log.info("model %s on %s (%s), %d classes", args.model, detector.device, args.backend, len(detector.labels) - 1)
    records: list[dict] = []
    with PendingFiles(Path(args.out)) as outputs:
        for source in sources:
            if source.is_video:
                records += detect_video(detector, source, outputs, args.batch_size)
            else:
                records += detect_image(detector, source, outputs)
        written = outputs.commit()
    log.info("wrote %d file(s) to %s", len(written), args.out)
    if args.json:
        json.dump(records, sys.stdout)
        sys.stdout.write("\n")
    return 0


def run_export(args: argparse.Namespace) -> int:
    model, config = build_model(args.model)
    with _native_stderr_silenced():  # the exporter dumps its whole graph to fd 2 when it fails
        out = export_onnx(model, config, args.out, batch_size=args.batch_size,
                          dynamic_batch=args.dynamic_batch, opset=args.opset)
    log.info("wrote %s and %s (%d classes)", out, out.with_name("labels.txt"), len(config.labels))
    return 0


def run_models(args: argparse.Namespace) -> int:
    for name, description in BUILT_IN.items():
        print(f"{name:<16} {description}")
    return 0


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _probability(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1], got {value}")
    return value


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m detector", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    detect = commands.add_parser("detect", help="detect objects in images and videos")
    detect.add_argument("paths", nargs="+", metavar="PATH", help="images or videos")
    detect.add_argument("--model", default="ssdlite-person", help="model spec (see `models`)")
    detect.add_argument("--score-threshold", type=_probability, default=0.5)
    detect.add_argument("--classes", help="comma-separated class names to keep, e.g. person,car")
    detect.add_argument("--out", default="out", help="folder for annotated images / MP4s")
    detect.add_argument("--json", action="store_true", help="print detections as a JSON list on stdout")
    detect.add_argument("--device", choices=("cpu", "cuda"), help="default: cuda when available")
    detect.add_argument("--threads", type=_positive_int, help="torch CPU threads")
    detect.add_argument("--backend", choices=("auto", *BACKENDS), default="auto",
                        help="how the network runs (auto: onnxruntime on CPU, torch fp16 on CUDA)")
    detect.add_argument("--batch-size", type=_positive_int, default=8, help="video frames per forward pass")
    detect.set_defaults(run=run_detect)

    export = commands.add_parser("export-onnx", help="export ONNX for jetson-inference detectNet")
    export.add_argument("--model", required=True, help="model spec (see `models`)")
    export.add_argument("--out", required=True, help="FILE.onnx; labels.txt is written beside it")
    batch = export.add_mutually_exclusive_group()
    batch.add_argument("--batch-size", type=_positive_int, default=1)
    batch.add_argument("--dynamic-batch", action="store_true", help="symbolic batch dimension")
    export.add_argument("--opset", type=int, default=DEFAULT_OPSET)
    export.set_defaults(run=run_export)

    models = commands.add_parser("models", help="list the model specs")
    models.set_defaults(run=run_models)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = get_args_parser().parse_args(argv)
    # read at the first VideoCapture: our one-line errors replace FFmpeg's own stderr chatter
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    try:
        return args.run(args)
    except (DetectorError, VideoError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
