"""A synthetic still scene: a smooth street that never changes, and one bright box moving right
through it for a range of frames (motion gating's test case)."""

from __future__ import annotations

import cv2
import numpy as np


def still_scene(frames: int, mover: range, size: tuple[int, int] = (320, 180)) -> list[np.ndarray]:
    """``frames`` BGR images of ``size`` (width, height); the box moves 12 px a frame in ``mover``."""
    width, height = size
    rng = np.random.default_rng(1)
    street = cv2.GaussianBlur(rng.integers(40, 140, (height, width, 3), dtype=np.uint8), (0, 0), 3)
    out = []
    for i in range(frames):
        image = street.copy()
        if i in mover:
            x = 10 + (i - mover.start) * 12
            image[height // 3:height // 3 + 60, x:x + 30] = 230
        out.append(image)
    return out
