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
    _, in_h, in_w, _ = x.shape
    rows, wy = (t.to(x.device) for t in _axis_taps(in_h, out_h))
    cols, wx = (t.to(x.device) for t in _axis_taps(in_w, out_w))
    # Along x first, then y, as TensorFlow's kernel does; gather before converting to float, so
    # only the needed columns are converted.
    left, right = x.index_select(2, cols[0]).float(), x.index_select(2, cols[1]).float()
    across = torch.addcmul(left, right - left, wx.view(1, 1, out_w, 1))
    top, bottom = across.index_select(1, rows[0]), across.index_select(1, rows[1])
    return torch.addcmul(top, bottom - top, wy.view(1, out_h, 1, 1)).permute(0, 3, 1, 2)


def resize_batch(frames_bgr: Sequence[np.ndarray], size: int, method: str) -> Tensor:
    """BGR uint8 frames of any sizes -> RGB float32 Tensor[N, 3, size, size] (0..255, channels_last).

    ``method``: ``"tf_legacy_bilinear"`` (TensorFlow's legacy ResizeBilinear) or ``"linear"`` (``cv2.resize``'s bilinear, as pytorch-ssd uses).
    """
    if method == "tf_legacy_bilinear":
        # One frame at a time, in BGR: a batched call and a BGR->RGB copy of the full frames
        # measured two to three times slower; the channels are reversed on the small output.
        out = torch.empty(len(frames_bgr), size, size, 3)
        for i, frame in enumerate(frames_bgr):
            out[i] = tf_legacy_resize_bilinear(torch.from_numpy(frame), size)[0].permute(1, 2, 0)
        return out.flip(-1).permute(0, 3, 1, 2)
    if method == "linear":
        resized = [cv2.resize(frame, (size, size), interpolation=cv2.INTER_LINEAR) for frame in frames_bgr]
        rgb = np.stack(resized)[..., ::-1].astype(np.float32)
        return torch.from_numpy(rgb).permute(0, 3, 1, 2)
    raise ValueError(f"unknown resize method {method!r}")
