"""The preprocessing of :mod:`detector.preprocess` in torch, on the detector's device (CUDA).

On a GPU the CPU's part of a batch was most of its time: 64 frames of 640x360 on an H200 took
179 ms of NumPy preprocessing against 30 ms of network (``bench/gpu.py``). Here frames go up as
``uint8`` (one copy per frame size in the batch) and are resized where the network runs.
``tf_legacy_bilinear`` is the NumPy version's gather and blend, in the same order of float32
operations (a GPU may fuse a multiply and an add: within a few ulp); ``linear`` is
``F.interpolate``'s bilinear (pixel centres, no antialiasing, as ``cv2.resize``) rounded to
``uint8`` as OpenCV's is, within one grey level of it.
"""

from __future__ import annotations

from collections import defaultdict
from functools import lru_cache
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .preprocess import _axis_taps


@lru_cache(maxsize=32)
def _taps(in_size: int, out_size: int, device: torch.device) -> tuple[Tensor, Tensor, Tensor]:
    """TF's legacy rule along one axis on ``device``: (lower indices, upper indices, upper
    weights), each ``[out_size]``."""
    indices, weights = _axis_taps(in_size, out_size)
    indices = torch.from_numpy(indices.astype(np.int64)).to(device)
    return indices[:out_size], indices[out_size:], torch.from_numpy(weights).to(device)


def tf_legacy_resize(images: Tensor, size: int) -> Tensor:
    """``uint8 [B, H, W, C]`` -> float32 ``[B, size, size, C]``, TF's legacy ResizeBilinear."""
    _, height, width, _ = images.shape
    top_rows, bottom_rows, wy = _taps(height, size, images.device)
    left_cols, right_cols, wx = _taps(width, size, images.device)
    wx = wx[None, None, :, None]

    def across(rows: Tensor) -> Tensor:
        left = rows[:, :, left_cols].float()
        return (rows[:, :, right_cols].float() - left) * wx + left

    top, bottom = across(images[:, top_rows]), across(images[:, bottom_rows])
    return (bottom - top) * wy[None, :, None, None] + top


def linear_resize(images: Tensor, size: int) -> Tensor:
    """``uint8 [B, H, W, C]`` -> float32 ``[B, size, size, C]`` of ``uint8`` values, bilinear."""
    planes = F.interpolate(images.permute(0, 3, 1, 2).float(), size=(size, size), mode="bilinear",
                           align_corners=False, antialias=False)
    return planes.round_().clamp_(0, 255).permute(0, 2, 3, 1)


RESIZES = {"tf_legacy_bilinear": tf_legacy_resize, "linear": linear_resize}


def preprocess_on_device(frames_bgr: Sequence[np.ndarray], size: int, method: str, mean: float,
                         std: float, device: torch.device) -> Tensor:
    """BGR uint8 frames of any sizes -> float32 ``[N, 3, size, size]`` on ``device``: RGB,
    ``(x - mean) / std``, channels-last in memory (the layout the CUDA network runs in)."""
    if method not in RESIZES:
        raise ValueError(f"unknown resize method {method!r}")
    batch = torch.empty((len(frames_bgr), size, size, 3), dtype=torch.float32, device=device)
    by_shape: dict[tuple[int, ...], list[int]] = defaultdict(list)
    for i, frame in enumerate(frames_bgr):
        by_shape[frame.shape].append(i)
    for indices in by_shape.values():
        images = torch.from_numpy(np.stack([frames_bgr[i] for i in indices])).to(device)
        batch[indices] = RESIZES[method](images, size).flip(-1)  # BGR -> RGB
    batch -= mean
    batch *= 1 / std
    return batch.permute(0, 3, 1, 2)
