"""Validation of ground-truth boxes as datasets load them: every fix or drop is counted.

Boxes are (x1, y1, x2, y2) normalized to [0, 1]. A degenerate box (zero width or height) would
be encoded against the priors as ``log(0)``; such boxes never reach training.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np


@dataclass
class BoxReport:
    """What box validation did over a dataset: ``fixed`` and ``dropped`` boxes by reason,
    images dropped (missing file, no valid box left)."""

    boxes_seen: int = 0
    fixed: Counter = field(default_factory=Counter)
    dropped: Counter = field(default_factory=Counter)
    images_dropped: Counter = field(default_factory=Counter)

    @property
    def clean(self) -> bool:
        return not (self.fixed or self.dropped or self.images_dropped)

    def summary(self) -> str:
        """One line, e.g. ``1200 boxes: fixed 3 inverted; dropped 2 zero_area; images dropped ...``."""
        parts = [f"{self.boxes_seen} boxes"]
        for name, counts in (("fixed", self.fixed), ("dropped", self.dropped),
                             ("images dropped", self.images_dropped)):
            if counts:
                parts.append(f"{name} " + ", ".join(f"{n} {reason}" for reason, n in sorted(counts.items())))
        return "; ".join(parts) if len(parts) > 1 else f"{self.boxes_seen} boxes, all valid"


def validate_boxes(boxes: np.ndarray, labels: np.ndarray, report: BoxReport,
                   min_size: float = 1e-4) -> tuple[np.ndarray, np.ndarray]:
    """Fix or drop invalid boxes (Tensor-like float[N, 4] normalized corners, labels int[N]).

    - non-finite coordinates: dropped (``non_finite``);
    - inverted (x2 < x1 or y2 < y1): corners swapped (fixed ``inverted``);
    - outside [0, 1]: clipped (fixed ``out_of_range``);
    - width or height below ``min_size`` after that: dropped (``zero_area``).
    Returns the kept boxes (float32) and their labels; counts go to ``report``.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    labels = np.asarray(labels).reshape(-1)
    report.boxes_seen += len(boxes)
    finite = np.isfinite(boxes).all(axis=1)
    report.dropped["non_finite"] += int((~finite).sum())
    boxes, labels = boxes[finite], labels[finite]
    inverted = (boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1])
    report.fixed["inverted"] += int(inverted.sum())
    boxes = np.concatenate([np.minimum(boxes[:, :2], boxes[:, 2:]), np.maximum(boxes[:, :2], boxes[:, 2:])], axis=1)
    outside = ((boxes < 0) | (boxes > 1)).any(axis=1)
    report.fixed["out_of_range"] += int(outside.sum())
    boxes = boxes.clip(0.0, 1.0)
    big_enough = ((boxes[:, 2] - boxes[:, 0]) >= min_size) & ((boxes[:, 3] - boxes[:, 1]) >= min_size)
    report.dropped["zero_area"] += int((~big_enough).sum())
    for counts in (report.fixed, report.dropped):
        for reason in [r for r, n in counts.items() if n == 0]:
            del counts[reason]
    return boxes[big_enough].astype(np.float32), labels[big_enough]
