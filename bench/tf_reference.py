"""TensorFlow's own speed on the SSDLite frozen graph, for side-by-side comparison.

Runs under a Python that has TensorFlow (never the project's .venv): `bench/detector_speed.py
--tensorflow-python PATH` calls it in the same run. Prints JSON: images/s of the whole graph (uint8
frame in, NMS'd detections out) at batch 1, and of the network alone (preprocessed input in, raw
box encodings and logits out) at batch 1 and 8. With ``--serve`` it loads the graph once, then
measures one round per line read from stdin and prints one JSON line per round, so that the
caller can interleave its own rounds with TensorFlow's.

    python bench/tf_reference.py --graph frozen_inference_graph.pb --video bikes.mp4 [--serve]
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import cv2
import numpy as np
import tensorflow as tf


def read_frames(video: str, count: int) -> list[np.ndarray]:
    capture = cv2.VideoCapture(video)
    frames = []
    while len(frames) < count:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    return frames


def rate(run, images_per_call: int, seconds: float) -> float:
    for _ in range(3):  # warm-up: a session's first runs are slower
        run()
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        run()
        calls += 1
    return calls * images_per_call / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--graph", required=True)
    parser.add_argument("--video", required=True)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--threads", type=int, default=0, help="intra/inter op threads (0: TF default)")
    parser.add_argument("--serve", action="store_true", help="one round per line on stdin")
    args = parser.parse_args()

    graph_def = tf.compat.v1.GraphDef()
    with open(args.graph, "rb") as f:
        graph_def.ParseFromString(f.read())
    graph = tf.Graph()
    with graph.as_default():
        tf.import_graph_def(graph_def, name="")
    config = tf.compat.v1.ConfigProto(
        intra_op_parallelism_threads=args.threads, inter_op_parallelism_threads=args.threads
    )
    session = tf.compat.v1.Session(graph=graph, config=config)
    get = graph.get_tensor_by_name
    image, preprocessed = get("image_tensor:0"), get("Preprocessor/sub:0")
    detections = [get(n) for n in ("detection_boxes:0", "detection_scores:0", "detection_classes:0", "num_detections:0")]
    raw = [get("Squeeze:0"), get("concat_1:0")]

    frames = read_frames(args.video, 8)
    feed = [np.float32(cv2.resize(f, (300, 300))) * (2 / 255) - 1 for f in frames]
    index = iter(range(10**9))

    def measure() -> dict:
        results = {"tensorflow": tf.__version__, "threads": args.threads or "default"}
        results["whole_b1"] = rate(
            lambda: session.run(detections, {image: frames[next(index) % len(frames)][None]}), 1, args.seconds
        )
        for batch in (1, 8):
            x = np.stack((feed * 8)[:batch])
            results[f"network_b{batch}"] = rate(lambda: session.run(raw, {preprocessed: x}), batch, args.seconds)
        return {k: round(v, 1) if isinstance(v, float) else v for k, v in results.items()}

    if not args.serve:
        print(json.dumps(measure()))
        return
    print(json.dumps({"ready": True}), flush=True)
    for _ in sys.stdin:
        print(json.dumps(measure()), flush=True)


if __name__ == "__main__":
    main()
