"""``python -m detector``: detect objects in images and videos, export ONNX, calibrate int8, list models.

``detect`` writes annotated copies of its inputs to ``--out`` (default ``out``) and, with ``--json``,
prints one JSON list on stdout (then nothing else is written unless ``--out`` is given): ``{"source", "detections": [{"label", "class_id", "score", "box"}]}`` per image,
plus ``"frame"`` per video frame; videos are written as H.264 MP4 (browsers play them). Logs go to
stderr. Bad input gives one ``error:`` line on stderr and exit status 1; outputs are written under
hidden partial names and published only when all succeeded, never over an existing file
(``clip-1.mp4`` instead).

``calibrate`` builds the int8 network from the user's footage and prints its agreement with fp32
on held-out frames; ``agreement`` prints it on any frames. Both exit 1 under the bar
(:mod:`detector.agreement`).
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import os
import sys
from contextlib import nullcontext
from pathlib import Path

import cv2
import torch
from tqdm import tqdm

from media.draw import draw_scene
from media.files import PendingFiles
from media.video import VideoError, VideoWriter

from .agreement import MATCH_IOU, MAX_SCORE_DIFF, MIN_F1, MIN_MEAN_IOU, Agreement, compare
from .api import BUILT_IN, Detector, build_model, load_detector
from .backends import BACKENDS, PRECISIONS
from .calibrate import batches_of, calibrate
from .errors import DetectorError
from .export import DEFAULT_OPSET, export_onnx
from .frames import Source, check_sources, iter_frames, native_stderr_silenced, read_image

log = logging.getLogger("detector.cli")

DEFAULT_OUT = "out"
PROGRESS_EVERY = 100  # frames between progress lines for a video


def _record(source: str, detections: list, frame: int | None = None) -> dict:
    record: dict = {"source": source}
    if frame is not None:
        record["frame"] = frame
    record["detections"] = [d.to_dict() for d in detections]
    return record


def detect_image(detector: Detector, source: Source, outputs: PendingFiles | None) -> list[dict]:
    """Detect in one image; write its annotated copy to ``outputs`` (None: write nothing)."""
    image = read_image(source.arg)
    detections = detector.detect([image])[0]
    if outputs is not None:
        temp = outputs.reserve(Path(source.arg).name)
        if not cv2.imwrite(str(temp), draw_scene(image, detections)):
            raise DetectorError(f"cannot write the annotated copy of {source.arg} to "
                                f"{outputs.folder}")
    log.info("%s: %d detections", source.arg, len(detections))
    return [_record(source.arg, detections)]


def detect_video(detector: Detector, source: Source, outputs: PendingFiles | None,
                 batch_size: int) -> list[dict]:
    """Detect in every frame, ``batch_size`` frames per forward pass; write an annotated H.264 MP4
    to ``outputs`` (None: write nothing)."""
    capture = cv2.VideoCapture(source.arg)
    records: list[dict] = []
    try:
        fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
        total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        with (VideoWriter(outputs.reserve(Path(source.arg).stem + ".mp4"), fps)
              if outputs is not None else nullcontext()) as writer:
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
                    if writer is not None:
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
                             classes=classes, num_threads=args.threads, backend=args.backend,
                             precision=args.precision)
    log.info("model %s on %s (%s, %s), %d classes", args.model, detector.device, args.backend, args.precision,
             len(detector.labels) - 1)
    records: list[dict] = []
    out = args.out or (None if args.json else DEFAULT_OUT)  # --json alone writes only its JSON
    with PendingFiles(Path(out)) if out else nullcontext() as outputs:
        for source in sources:
            if source.is_video:
                records += detect_video(detector, source, outputs, args.batch_size)
            else:
                records += detect_image(detector, source, outputs)
        if outputs is not None:
            log.info("wrote %d file(s) to %s", len(outputs.commit()), out)
    if args.json:
        json.dump(records, sys.stdout)
        sys.stdout.write("\n")
    return 0


def run_export(args: argparse.Namespace) -> int:
    model, config = build_model(args.model)
    with native_stderr_silenced():  # the exporter dumps its whole graph to fd 2 when it fails
        out = export_onnx(model, config, args.out, batch_size=args.batch_size,
                          dynamic_batch=args.dynamic_batch, opset=args.opset)
    log.info("wrote %s and %s (%d classes)", out, out.with_name("labels.txt"), len(config.labels))
    return 0


def print_agreement(agreement: Agreement, precision: str) -> None:
    a = agreement
    print(f"{precision} against fp32 on {a.frames} frames: detections at score >= {a.score_threshold}, "
          f"matched at IoU >= {MATCH_IOU}, same class")
    print(f"  detections: fp32 {a.reference}, {precision} {a.candidate}, matched {a.matched}")
    print(f"  F1 {a.f1:.4f} (bar >= {MIN_F1})")
    print(f"  mean IoU of matches {a.mean_iou:.4f} (bar >= {MIN_MEAN_IOU})")
    print(f"  mean |score difference| {a.mean_score_diff:.4f} (bar <= {MAX_SCORE_DIFF}), max {a.max_score_diff:.4f}")
    failures = a.failures()
    print("under the bar: " + "; ".join(failures) if failures else "meets the bar")


def run_calibrate(args: argparse.Namespace) -> int:
    sources = check_sources(args.paths)
    bars: list[tqdm] = []

    def progress(total: int):
        bars.append(tqdm(total=total, desc="calibrating", unit="frame", file=sys.stderr))
        return bars[-1].update

    try:
        result = calibrate(args.model, sources, args.frames, progress)
    finally:
        for bar in bars:
            bar.close()
    log.info("int8 model calibrated on %d frames: %s", result.frames, result.path)
    if result.agreement is None:
        print("no held-out frame has a detection by fp32: agreement not measured")
    else:
        print_agreement(result.agreement, "int8")
    if not result.in_use:
        print(f"not used: --precision int8 keeps the previous calibration of {args.model}; "
              "keep fp32 for this footage, or calibrate on more frames")
        return 1
    print(f"in use: --precision int8 with --model {args.model} now runs calibration {result.name}")
    return 0


def run_agreement(args: argparse.Namespace) -> int:
    sources = check_sources(args.paths)
    model, config = build_model(args.model)
    detectors = [Detector(model, config, name=args.model, device="cpu", backend="onnxruntime",
                          score_threshold=args.score_threshold, precision=precision)
                 for precision in ("fp32", args.precision)]
    images, videos = [s for s in sources if not s.is_video], [s for s in sources if s.is_video]
    frames = itertools.chain(iter_frames(images), iter_frames(videos, args.every))
    agreement = compare(*detectors, batches_of(frames))
    print_agreement(agreement, args.precision)
    return 1 if agreement.failures() else 0


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
    detect.add_argument("--out", help=f"folder for annotated images / MP4s (default {DEFAULT_OUT}; "
                                      "with --json, none are written unless --out is given)")
    detect.add_argument("--json", action="store_true", help="print detections as a JSON list on stdout")
    detect.add_argument("--device", choices=("cpu", "cuda"), help="default: cuda when available")
    detect.add_argument("--threads", type=_positive_int, help="torch CPU threads")
    detect.add_argument("--backend", choices=("auto", *BACKENDS), default="auto",
                        help="how the network runs (auto: onnxruntime on CPU, torch fp16 on CUDA)")
    detect.add_argument("--batch-size", type=_positive_int, default=8, help="video frames per forward pass")
    detect.add_argument("--precision", choices=PRECISIONS, default="fp32",
                        help="int8: the quantized network (CPU, onnxruntime; see `calibrate`)")
    detect.set_defaults(run=run_detect)

    cal = commands.add_parser("calibrate", help="build the int8 network from your own footage")
    cal.add_argument("paths", nargs="+", metavar="PATH", help="images or videos of your cameras")
    cal.add_argument("--model", default="ssdlite-person", help="model spec (see `models`)")
    cal.add_argument("--frames", type=_positive_int, default=300,
                     help="frames to calibrate on, spread over the inputs (those between are held out)")
    cal.set_defaults(run=run_calibrate)

    agree = commands.add_parser("agreement", help="int8 against fp32 detections; exit 1 under the bar")
    agree.add_argument("paths", nargs="+", metavar="PATH", help="images or videos")
    agree.add_argument("--model", default="ssdlite-person", help="model spec (see `models`)")
    agree.add_argument("--precision", choices=PRECISIONS[1:], default="int8", help="compared with fp32")
    agree.add_argument("--every", type=_positive_int, default=1, help="every Nth frame of each video (images: all)")
    agree.add_argument("--score-threshold", type=_probability, default=0.5)
    agree.set_defaults(run=run_agreement)

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
