"""supervision's ByteTrack on detections read from stdin, for ``bench/tracker_agreement.py``.

Runs under a Python that has ``supervision==0.29.1`` (never the project's .venv: it needs the
GUI build of OpenCV). Reads JSON ``{"frames": [[[x1, y1, x2, y2, score], ...], ...]}`` and prints
one JSON list per frame: the tracker id of each detection, or -1 when it has none.

    python bench/supervision_reference.py < detections.json
"""

from __future__ import annotations

import json
import sys

import numpy as np
import supervision as sv


def main() -> None:
    frames = json.load(sys.stdin)["frames"]
    tracker = sv.ByteTrack()
    out = []
    for rows in frames:
        rows = np.array(rows, dtype=np.float32).reshape(-1, 5)
        detections = sv.Detections(xyxy=rows[:, :4], confidence=rows[:, 4],
                                   class_id=np.zeros(len(rows), dtype=int),
                                   data={"index": np.arange(len(rows))})
        tracked = tracker.update_with_detections(detections)
        ids = [-1] * len(rows)
        for index, track_id in zip(tracked.data.get("index", []), tracked.tracker_id):
            ids[int(index)] = int(track_id)
        out.append(ids)
    print(json.dumps({"supervision": sv.__version__, "ids": out}))


if __name__ == "__main__":
    main()
