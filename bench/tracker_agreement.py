"""Our ByteTrack against supervision's on the same detections: how often the ids agree, as JSON.

Sequences: synthetic walkers (``tracker_speed.walkers``: 10 and 30 people, missed and low-score
boxes) and the person detections of the bundled bikes.mp4 (ssdlite-person at score 0.3, so
ByteTrack's second stage has work). Both trackers run with their defaults, one class (supervision's
is class-agnostic). Per sequence: ``tracked_by_both`` (detections given an id by both, over those
given one by either) and ``same_identity`` (of those, the share explained by one one-to-one
mapping between our ids and theirs), with each side's number of ids.

    .venv/bin/python bench/tracker_agreement.py --supervision-python /path/to/python
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common.messages import DetectedObject  # noqa: E402
from tracking.bytetrack import ByteTrack  # noqa: E402
from tracker_speed import walkers  # noqa: E402

Frames = list[list[DetectedObject]]


def bikes_people() -> Frames:
    import cv2

    from cctv.up import sample_video
    from detector import load_detector

    detector = load_detector("ssdlite-person", score_threshold=0.3)
    capture, frames = cv2.VideoCapture(str(sample_video())), []
    while True:
        ok, image = capture.read()
        if not ok:
            break
        frames.append([DetectedObject("person", 1, float(d.score), tuple(map(float, d.box)))
                       for d in detector.detect([image])[0]])
    return frames


def our_ids(frames: Frames) -> list[list[int]]:
    tracker, out = ByteTrack(), []
    for objects in frames:
        index = {id(o.box): i for i, o in enumerate(objects)}
        ids = [-1] * len(objects)
        for track in tracker.update(objects):
            ids[index[id(track.box)]] = track.track_id
        out.append(ids)
    return out


def their_ids(frames: Frames, python: str) -> tuple[str, list[list[int]]]:
    payload = json.dumps({"frames": [[[*o.box, o.score] for o in objects] for objects in frames]})
    run = subprocess.run([python, str(ROOT / "bench" / "supervision_reference.py")],
                         input=payload, capture_output=True, text=True, check=True)
    result = json.loads(run.stdout)
    return result["supervision"], result["ids"]


def agreement(ours: list[list[int]], theirs: list[list[int]]) -> dict:
    pairs = [(a, b) for fa, fb in zip(ours, theirs) for a, b in zip(fa, fb)]
    either = sum(1 for a, b in pairs if a >= 0 or b >= 0)
    both = [(a, b) for a, b in pairs if a >= 0 and b >= 0]
    ours_ids = sorted({a for a, _ in pairs if a >= 0})
    theirs_ids = sorted({b for _, b in pairs if b >= 0})
    counts = np.zeros((len(ours_ids), len(theirs_ids)))
    for a, b in both:
        counts[ours_ids.index(a), theirs_ids.index(b)] += 1
    rows, cols = linear_sum_assignment(-counts) if counts.size else ([], [])
    return {"detections": len(pairs), "tracked_by_both": round(len(both) / max(either, 1), 4),
            "same_identity": round(counts[rows, cols].sum() / max(len(both), 1), 4),
            "ours_ids": len(ours_ids), "supervision_ids": len(theirs_ids)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--supervision-python", required=True,
                        help="a Python with supervision==0.29.1 (outside .venv)")
    parser.add_argument("--frames", type=int, default=500, help="frames of each walkers scene")
    args = parser.parse_args()
    sequences = {f"walkers_{n}": [m.objects for m in walkers(args.frames, n, seed=n)]
                 for n in (10, 30)}
    sequences["bikes_people"] = bikes_people()
    results, version = {}, None
    for name, frames in sequences.items():
        version, theirs = their_ids(frames, args.supervision_python)
        results[name] = agreement(our_ids(frames), theirs)
    print(json.dumps({"supervision": version, **results}))


if __name__ == "__main__":
    main()
