"""Image resizing that reproduces TensorFlow's legacy ``ResizeBilinear`` bit for bit (almost).

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
import torch
from torch import Tensor


@lru_cache(maxsize=64)
def _axis_taps(in_size: int, out_size: int) -> tuple[Tensor, Tensor]:
    """TF's legacy rule along one axis: source indices ``[2, out]`` (lower; upper) and the upper
    weights ``[out]``."""
    scale = torch.tensor(in_size / out_size, dtype=torch.float32)
    src = torch.arange(out_size, dtype=torch.float32) * scale
    lower = src.floor()
    upper = torch.clamp(src.ceil(), max=in_size - 1)
    return torch.stack([lower, upper]).long(), src - lower


@lru_cache(maxsize=64)
def _taps(in_hw: tuple[int, int], out_hw: tuple[int, int], device: torch.device
          ) -> tuple[Tensor, Tensor, Tensor]:
    """Flat indices ``[4 * h * w]`` of the (top, bottom) x (left, right) source pixels of every
    output pixel, row-major within each corner, and the x and y weights, on ``device``."""
    (in_h, in_w), (out_h, out_w) = in_hw, out_hw
    rows, wy = _axis_taps(in_h, out_h)
    cols, wx = _axis_taps(in_w, out_w)
    flat = rows.view(2, 1, out_h, 1) * in_w + cols.view(1, 2, 1, out_w)
    return flat.reshape(-1).to(device), wx.view(1, 1, out_w, 1).to(device), wy.view(1, out_h, 1, 1).to(device)


def tf_legacy_resize_bilinear(images: Tensor | np.ndarray, size: int | tuple[int, int]) -> Tensor:
    """Resize a batch of frames as TF's ``ResizeBilinear`` (legacy, no half-pixel centres).

    ``images``: ``[N, H, W, C]`` (or one ``[H, W, C]`` frame), uint8 or float, e.g. RGB frames.
    ``size``: ``(height, width)`` or one int for a square. Returns float32 ``[N, C, h, w]`` with
    the input's value range (0..255 for uint8), laid out ``channels_last`` (a permuted view of an
    NHWC tensor), which is the layout the detector models run fastest in.
    """
    x = torch.as_tensor(images)
    if x.ndim == 3:
        x = x.unsqueeze(0)
    if x.ndim != 4:
        raise ValueError(f"images must be [N, H, W, C] or [H, W, C], got shape {list(x.shape)}")
    out_h, out_w = (size, size) if isinstance(size, int) else size
    n, in_h, in_w, c = x.shape
    flat, wx, wy = _taps((in_h, in_w), (out_h, out_w), x.device)
    # One gather of the four neighbours (before converting, so only they become float).
    corners = x.reshape(n, in_h * in_w, c).index_select(1, flat).float().view(n, 4, out_h, out_w, c)
    top_left, top_right, bottom_left, bottom_right = corners.unbind(1)
    # Along x first, then y, as TensorFlow's kernel does.
    top = torch.addcmul(top_left, top_right - top_left, wx)
    bottom = torch.addcmul(bottom_left, bottom_right - bottom_left, wx)
    return torch.addcmul(top, bottom - top, wy).permute(0, 3, 1, 2)


def resize_batch(frames_bgr: Sequence[np.ndarray], size: int, method: str) -> Tensor:
    """BGR uint8 frames of any sizes -> RGB float32 Tensor[N, 3, size, size] (0..255, channels_last).

    ``method``: ``"tf_legacy_bilinear"`` (TensorFlow's legacy ResizeBilinear; frames of one size
    are resized in one call) or ``"linear"`` (``cv2.resize``'s bilinear, as pytorch-ssd uses).
    """
    out = torch.empty(len(frames_bgr), size, size, 3, dtype=torch.float32)
    if method == "tf_legacy_bilinear":
        by_shape: dict[tuple[int, ...], list[int]] = {}
        for i, frame in enumerate(frames_bgr):
            by_shape.setdefault(frame.shape, []).append(i)
        for indices in by_shape.values():
            rgb = np.stack([frames_bgr[i] for i in indices])[..., ::-1].copy()
            out[indices] = tf_legacy_resize_bilinear(rgb, size).permute(0, 2, 3, 1)
    elif method == "linear":
        for i, frame in enumerate(frames_bgr):
            rgb = cv2.cvtColor(cv2.resize(frame, (size, size), interpolation=cv2.INTER_LINEAR), cv2.COLOR_BGR2RGB)
            out[i] = torch.from_numpy(rgb)
    else:
        raise ValueError(f"unknown resize method {method!r}")
    return out.permute(0, 3, 1, 2)
