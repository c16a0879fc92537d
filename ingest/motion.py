"""Motion on a small grey copy of each kept frame: frame differencing or OpenCV's MOG2.

:class:`MotionGate` says where a frame moved (boxes in the frame's pixels) and whether the
detector must run on it: on motion, on the first frame, and at least every ``keepalive_s``.
"""

from __future__ import annotations

import cv2
import numpy as np

from common.cameras import MotionConfig

Box = tuple[int, int, int, int]


class MotionDetector:
    """Moving regions of successive frames (BGR, any size) of one camera."""

    def __init__(self, config: MotionConfig):
        self.config = config
        self.previous: np.ndarray | None = None
        self.mog2 = cv2.createBackgroundSubtractorMOG2(
            history=500, varThreshold=config.threshold, detectShadows=False) \
            if config.method == "mog2" else None

    def boxes(self, image: np.ndarray) -> list[Box]:
        """Boxes (x1, y1, x2, y2, pixels of ``image``) of regions that moved since the previous
        frame (diff) or differ from the background (MOG2); the first frame has none."""
        height, width = image.shape[:2]
        scale = min(1.0, self.config.width / width)
        small = cv2.resize(image, (max(1, round(width * scale)), max(1, round(height * scale))),
                           interpolation=cv2.INTER_AREA)
        grey = cv2.GaussianBlur(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY), (5, 5), 0)
        previous, self.previous = self.previous, grey
        if self.mog2 is not None:
            mask = self.mog2.apply(grey)  # learns from the first frame, which has no motion
        if previous is None or previous.shape != grey.shape:
            return []
        if self.mog2 is None:
            _, mask = cv2.threshold(cv2.absdiff(grey, previous), self.config.threshold, 255,
                                    cv2.THRESH_BINARY)
        mask = cv2.dilate(mask, None, iterations=2)
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        min_area = self.config.min_area * grey.shape[0] * grey.shape[1]
        found = []
        for contour in contours:
            x, y, w, h = cv2.boundingRect(contour)
            if w * h >= max(1.0, min_area):
                found.append((int(x / scale), int(y / scale), min(width, round((x + w) / scale)),
                              min(height, round((y + h) / scale))))
        return found


class MotionGate:
    """Per camera: motion boxes of each kept frame and whether it needs the detector."""

    def __init__(self, config: MotionConfig):
        self.detector = MotionDetector(config)
        self.keepalive_s = config.keepalive_s
        self.last_detect: float | None = None

    def check(self, image: np.ndarray, t: float) -> tuple[list[Box], bool]:
        """(motion boxes, detect) for the frame ``image`` at source time ``t`` (seconds)."""
        boxes = self.detector.boxes(image)
        detect = bool(boxes) or self.last_detect is None or t - self.last_detect >= \
            self.keepalive_s or t < self.last_detect
        if detect:
            self.last_detect = t
        return boxes, detect
