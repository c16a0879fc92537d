"""Draw detections on a BGR image: one coloured box and a ``label score`` tag per detection."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import cv2
import numpy as np

# distinct BGR colours, picked by class id so a class keeps its colour across frames
PALETTE = ((0, 200, 255), (255, 128, 0), (60, 220, 60), (220, 60, 220), (0, 80, 255),
           (255, 255, 0), (128, 0, 255), (0, 255, 170), (200, 200, 200), (40, 120, 200))


def _fields(det: Any) -> tuple[str, int, float, tuple[float, float, float, float]]:
    """(label, class_id, score, box) of a ``Detection`` or of its ``to_dict()`` mapping."""
    if isinstance(det, Mapping):
        return det["label"], int(det["class_id"]), float(det["score"]), tuple(det["box"])
    return det.label, int(det.class_id), float(det.score), tuple(det.box)


def draw_detections(image_bgr: np.ndarray, detections: Iterable[Any]) -> np.ndarray:
    """Return a copy of ``image_bgr`` (H x W x 3, uint8) with each detection drawn on it.

    ``detections``: objects with ``label``, ``class_id``, ``score`` and ``box`` (x1, y1, x2, y2 in
    pixels), such as ``Detection`` or the dicts its ``to_dict()`` returns.
    """
    out = image_bgr.copy()
    height, width = out.shape[:2]
    thickness = max(1, round(min(height, width) / 300))
    font_scale = 0.4 * thickness
    for det in detections:
        label, class_id, score, box = _fields(det)
        colour = PALETTE[class_id % len(PALETTE)]
        x1, y1, x2, y2 = (int(round(v)) for v in box)
        cv2.rectangle(out, (x1, y1), (x2, y2), colour, thickness)
        text = f"{label} {score:.2f}"
        (tw, th), baseline = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, thickness)
        top = y1 - th - baseline if y1 - th - baseline >= 0 else y1
        cv2.rectangle(out, (x1, top), (x1 + tw, top + th + baseline), colour, cv2.FILLED)
        cv2.putText(out, text, (x1, top + th), cv2.FONT_HERSHEY_SIMPLEX, font_scale, (0, 0, 0),
                    thickness, cv2.LINE_AA)
    return out
