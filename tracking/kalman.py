"""ByteTrack's constant-velocity Kalman filter on (centre x, centre y, aspect w/h, height).

The state is 8 numbers, the box and its velocity; noise scales with the box height, as in
ByteTrack (and DeepSORT before it). Pure numpy, float64, so a state written as JSON and read back
continues bit for bit.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

STD_POSITION = 1.0 / 20
STD_VELOCITY = 1.0 / 160

_MOTION = np.eye(8) + np.eye(8, k=4)  # x += v, one frame per step
_PROJECT = np.eye(4, 8)


def box_to_xyah(box: Sequence[float]) -> np.ndarray:
    """(x1, y1, x2, y2) -> (centre x, centre y, width / height, height)."""
    x1, y1, x2, y2 = box
    height = max(y2 - y1, 1e-6)
    return np.array([(x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) / height, height])


def xyah_to_box(mean: np.ndarray) -> np.ndarray:
    """The box part of a state (its first 4 numbers) -> (x1, y1, x2, y2)."""
    cx, cy, aspect, height = mean[:4]
    width = aspect * height
    return np.array([cx - width / 2, cy - height / 2, cx + width / 2, cy + height / 2])


def initiate(measurement: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A new track's (mean[8], covariance[8, 8]) from its first box (xyah), velocity 0."""
    h = measurement[3]
    std = [2 * STD_POSITION * h, 2 * STD_POSITION * h, 1e-2, 2 * STD_POSITION * h,
           10 * STD_VELOCITY * h, 10 * STD_VELOCITY * h, 1e-5, 10 * STD_VELOCITY * h]
    return np.r_[measurement, np.zeros(4)], np.diag(np.square(std))


def predict(mean: np.ndarray, covariance: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One frame ahead."""
    h = mean[3]
    std = [STD_POSITION * h, STD_POSITION * h, 1e-2, STD_POSITION * h,
           STD_VELOCITY * h, STD_VELOCITY * h, 1e-5, STD_VELOCITY * h]
    mean = _MOTION @ mean
    covariance = _MOTION @ covariance @ _MOTION.T + np.diag(np.square(std))
    return mean, covariance


def update(mean: np.ndarray, covariance: np.ndarray,
           measurement: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Correct the state with a measured box (xyah)."""
    h = mean[3]
    innovation_cov = np.diag(np.square([STD_POSITION * h, STD_POSITION * h, 1e-1,
                                        STD_POSITION * h]))
    projected_mean = _PROJECT @ mean
    projected_cov = _PROJECT @ covariance @ _PROJECT.T + innovation_cov
    gain = np.linalg.solve(projected_cov, _PROJECT @ covariance).T  # covariance is symmetric
    mean = mean + gain @ (measurement - projected_mean)
    covariance = covariance - gain @ projected_cov @ gain.T
    return mean, covariance
