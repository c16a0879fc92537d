"""Frames to network input, in NumPy and OpenCV.

NumPy, not torch: torch's OpenMP threads keep spinning after each parallel operation and then
compete with onnxruntime's threads for the same cores, which made the network alone about half
again slower inside the detector than on its own (``bench/detector_speed.py``).

TensorFlow 1's ``ResizeBilinear`` with ``align_corners=False, half_pixel_centers=False`` maps
output pixel ``d`` to source coordinate ``s = d * (in / out)`` (in float32), blends pixels
``floor(s)`` and ``min(ceil(s), in - 1)`` with weight ``s - floor(s)``, along x first, then y.
That is not ``cv2.resize``'s (nor ``F.interpolate``'s) pixel-centre convention, which samples at
``(d + 0.5) * in / out - 0.5``: the two differ by up to half a source pixel.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Sequence

import cv2
import numpy as np


def _axis_taps(in_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray]:
    """TF's legacy rule along one axis: source indices ``[2 * out]`` (all lower, then all upper)
    and the upper weights ``[out]``."""
    src = np.arange(out_size, dtype=np.float32) * np.float32(in_size / out_size)
    lower = np.floor(src)
    upper = np.minimum(np.ceil(src), in_size - 1)
    return np.concatenate([lower, upper]), src - lower


@lru_cache(maxsize=16)
def _gather_plan(in_h: int, in_w: int, out_h: int, out_w: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``cv2.remap`` maps that gather every source pixel the resize reads into one
    ``[2 * out_h, 2 * out_w]`` image (rows: lower taps, then upper; columns likewise), and the
    x and y weights of the upper taps."""
    rows, wy = _axis_taps(in_h, out_h)
    cols, wx = _axis_taps(in_w, out_w)
    map_x, map_y = np.meshgrid(cols, rows)
    fixed_xy, fixed_frac = cv2.convertMaps(map_x, map_y, cv2.CV_16SC2, nninterpolation=True)
    return fixed_xy, fixed_frac, wx, wy


def tf_legacy_resize_bilinear(image: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """Resize one ``[H, W, C]`` uint8 image (C <= 4) as TF's legacy ``ResizeBilinear`` does.

    ``size``: ``(height, width)`` or one int for a square. Returns float32 ``[h, w, C]`` in the
    input's channel order and value range (0..255), computed in TensorFlow's order of operations.
    """
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3 or image.shape[2] > 4:
        raise ValueError(f"image must be [H, W, C] with C <= 4, got shape {list(image.shape)}")
    out_h, out_w = (size, size) if isinstance(size, int) else size
    in_h, in_w, channels = image.shape
    fixed_xy, fixed_frac, wx, wy = _gather_plan(in_h, in_w, out_h, out_w)
    # Gather first (uint8, one OpenCV pass), then blend only what is needed, on 2-D views whose
    # rows are contiguous: [2 * out_h, 2 * out_w * C]. The first blend reads the uint8 taps
    # directly: converting them all to float first would cost a pass.
    taps = cv2.remap(image, fixed_xy, fixed_frac, cv2.INTER_NEAREST)
    taps = taps.reshape(2 * out_h, 2 * out_w * channels)
    row_width = out_w * channels
    left, right = taps[:, :row_width], taps[:, row_width:]
    across = np.subtract(right, left, dtype=np.float32)
    across *= np.repeat(wx, channels)
    across += left
    top, bottom = across[:out_h], across[out_h:]
    out = bottom - top
    out *= wy[:, None]
    out += top
    return out.reshape(out_h, out_w, channels)


def resize(frame: np.ndarray, size: int, method: str) -> np.ndarray:
    """One ``[H, W, C]`` uint8 frame -> float32 ``[size, size, C]``, same channels, 0..255.

    ``method``: ``"tf_legacy_bilinear"`` (TensorFlow's legacy ResizeBilinear) or ``"linear"``
    (``cv2.resize``'s bilinear, as pytorch-ssd uses).
    """
    if method == "tf_legacy_bilinear":
        return tf_legacy_resize_bilinear(frame, size)
    if method == "linear":
        return cv2.resize(frame, (size, size), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    raise ValueError(f"unknown resize method {method!r}")


def preprocess_batch(frames_bgr: Sequence[np.ndarray], size: int, method: str, mean: float, std: float) -> np.ndarray:
    """BGR uint8 frames of any sizes -> float32 ``[N, 3, size, size]``: RGB, ``(x - mean) / std``,
    C-contiguous (the layout onnxruntime takes without a copy)."""
    batch = np.empty((len(frames_bgr), 3, size, size), dtype=np.float32)
    for i, frame in enumerate(frames_bgr):
        bgr_planes = resize(frame, size, method).transpose(2, 0, 1)
        np.subtract(bgr_planes[::-1], np.float32(mean), out=batch[i])
    batch *= np.float32(1 / std)
    return batch
