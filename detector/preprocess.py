"""Frames to network input, in NumPy and OpenCV.

NumPy, not torch: torch's OpenMP threads keep spinning after each parallel operation and then
compete with onnxruntime's threads for the same cores, which made the network alone about half
again slower inside the detector than on its own (``bench/detector_speed.py``).

TensorFlow 1's ``ResizeBilinear`` with ``align_corners=False, half_pixel_centers=False`` maps
output pixel ``d`` to source coordinate ``s = d * (in / out)`` (in float32), blends pixels
``floor(s)`` and ``min(ceil(s), in - 1)`` with weight ``s - floor(s)``, along x first, then y.
That is not ``cv2.resize``'s (nor ``F.interpolate``'s) pixel-centre convention, which samples at
``(d + 0.5) * in / out - 0.5``: the two differ by up to half a source pixel.

The resize runs in strips of output rows, so that each strip's temporaries stay in the CPU's
cache. Alone on the CPU that is no faster than whole images; with two processes sharing it (as a
worker's lanes do) whole images took 1.5 to 2 times as long.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Iterator, Sequence

import cv2
import numpy as np

STRIP_ROWS = 50  # ~0.7 MB of temporaries for a 300 x 300 RGB output; 25 to 100 measured alike


def _axis_taps(in_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray]:
    """TF's legacy rule along one axis: source indices ``[2 * out]`` (all lower, then all upper)
    and the upper weights ``[out]``."""
    src = np.arange(out_size, dtype=np.float32) * np.float32(in_size / out_size)
    lower = np.floor(src)
    upper = np.minimum(np.ceil(src), in_size - 1)
    return np.concatenate([lower, upper]), src - lower


Strip = tuple[slice, np.ndarray, np.ndarray]


@lru_cache(maxsize=16)
def _strip_plan(in_h: int, in_w: int, out_h: int, out_w: int, channels: int) -> tuple[list[Strip], np.ndarray]:
    """Per strip of at most ``STRIP_ROWS`` output rows: those rows, the ``cv2.remap`` map that
    gathers every source pixel they read into one ``[2 * n, 2 * out_w]`` image (rows: lower taps,
    then upper; columns likewise), and their y weights ``[n, 1]``. Plus the x weights, one per
    value of an output row: ``[out_w * channels]``."""
    rows, wy = _axis_taps(in_h, out_h)
    cols, wx = _axis_taps(in_w, out_w)
    strips = []
    for start in range(0, out_h, STRIP_ROWS):
        stop = min(start + STRIP_ROWS, out_h)
        map_x, map_y = np.meshgrid(cols, np.concatenate([rows[start:stop], rows[out_h + start:out_h + stop]]))
        gather, _ = cv2.convertMaps(map_x, map_y, cv2.CV_16SC2, nninterpolation=True)
        strips.append((slice(start, stop), gather, wy[start:stop, None]))
    return strips, np.repeat(wx, channels)


def _tf_legacy_strips(image: np.ndarray, out_h: int, out_w: int) -> Iterator[tuple[slice, np.ndarray]]:
    """TF's legacy bilinear resize of one ``[H, W, C]`` uint8 image, a strip of output rows at a
    time: ``(rows, float32 [n, out_w, C])``."""
    in_h, in_w, channels = image.shape
    strips, wx = _strip_plan(in_h, in_w, out_h, out_w, channels)
    row_width = out_w * channels
    for rows, gather, wy in strips:
        n = rows.stop - rows.start
        # Gather (uint8, one OpenCV pass), then blend on 2-D views whose rows are contiguous.
        # The first blend reads the uint8 taps directly: converting them to float first would
        # cost a pass.
        taps = cv2.remap(image, gather, None, cv2.INTER_NEAREST).reshape(2 * n, 2 * row_width)
        left, right = taps[:, :row_width], taps[:, row_width:]
        across = np.subtract(right, left, dtype=np.float32)
        across *= wx
        across += left
        top, bottom = across[:n], across[n:]
        out = bottom - top
        out *= wy
        out += top
        yield rows, out.reshape(n, out_w, channels)


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
    out = np.empty((out_h, out_w, image.shape[2]), dtype=np.float32)
    for rows, strip in _tf_legacy_strips(image, out_h, out_w):
        out[rows] = strip
    return out


def _resized_strips(frame: np.ndarray, size: int, method: str) -> Iterator[tuple[slice, np.ndarray]]:
    """One ``[H, W, C]`` uint8 frame resized to ``[size, size, C]`` (same channels, 0..255), in
    strips of rows: ``(rows, [n, size, C])``.

    ``method``: ``"tf_legacy_bilinear"`` (TensorFlow's legacy ResizeBilinear) or ``"linear"``
    (``cv2.resize``'s bilinear, as pytorch-ssd uses; uint8, one strip).
    """
    if method == "tf_legacy_bilinear":
        return _tf_legacy_strips(frame, size, size)
    if method == "linear":
        return iter([(slice(0, size), cv2.resize(frame, (size, size), interpolation=cv2.INTER_LINEAR))])
    raise ValueError(f"unknown resize method {method!r}")


def preprocess_batch(frames_bgr: Sequence[np.ndarray], size: int, method: str, mean: float, std: float) -> np.ndarray:
    """BGR uint8 frames of any sizes -> float32 ``[N, 3, size, size]``: RGB, ``(x - mean) / std``,
    C-contiguous (the layout onnxruntime takes without a copy)."""
    batch = np.empty((len(frames_bgr), 3, size, size), dtype=np.float32)
    for i, frame in enumerate(frames_bgr):
        for rows, strip in _resized_strips(frame, size, method):
            batch[i, :, rows] = strip.transpose(2, 0, 1)[::-1]  # BGR rows -> RGB planes
    batch -= np.float32(mean)
    batch *= np.float32(1 / std)
    return batch
