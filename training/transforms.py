"""SSD augmentation (pytorch-ssd's ``TrainAugmentation``/``TestTransform``) in numpy and cv2.

Every transform maps ``(image, boxes, labels)`` to the same: image RGB (uint8 or float32
H x W x 3), boxes float32[N, 4] corners in pixels (until ``ToPercentCoords``), labels int64[N].
Invariant kept by every step: boxes finite, x1 < x2, y1 < y2, at least one box when the input
had one (a crop that would lose them all is retried, then skipped).
"""

from __future__ import annotations

from typing import Callable, Sequence

import cv2
import numpy as np
import torch

MIN_BOX_PIXELS = 1.0  # a cropped box narrower or shorter than this is dropped


class Compose:
    def __init__(self, transforms: Sequence[Callable]):
        self.transforms = list(transforms)

    def __call__(self, image, boxes=None, labels=None):
        for t in self.transforms:
            image, boxes, labels = t(image, boxes, labels)
        return image, boxes, labels


def to_float(image, boxes=None, labels=None):
    return image.astype(np.float32), boxes, labels


def photometric_distort(image, boxes=None, labels=None):
    """Random brightness, contrast (before or after), saturation and hue, each with p=0.5.

    float32 RGB image in [0, 255] in, same out (clipped)."""
    image = image.copy()
    if np.random.rand() < 0.5:
        image += np.random.uniform(-32, 32)
    contrast_first = np.random.rand() < 0.5
    if contrast_first and np.random.rand() < 0.5:
        image *= np.random.uniform(0.5, 1.5)
    hsv = cv2.cvtColor(image.clip(0, 255), cv2.COLOR_RGB2HSV)  # float: H in [0, 360), S in [0, 1]
    if np.random.rand() < 0.5:
        hsv[..., 1] *= np.random.uniform(0.5, 1.5)
    if np.random.rand() < 0.5:
        hsv[..., 0] = (hsv[..., 0] + np.random.uniform(-18, 18)) % 360
    image = cv2.cvtColor(hsv.clip(0, [360, 1, 255]).astype(np.float32), cv2.COLOR_HSV2RGB)
    if not contrast_first and np.random.rand() < 0.5:
        image *= np.random.uniform(0.5, 1.5)
    return image.clip(0, 255), boxes, labels


class Expand:
    """Zoom out with p=0.5: place the image at a random spot of a canvas up to ``max_ratio``
    times larger, filled with ``mean``."""

    def __init__(self, mean: float, max_ratio: float = 4.0):
        self.mean, self.max_ratio = mean, max_ratio

    def __call__(self, image, boxes, labels):
        if np.random.rand() < 0.5:
            return image, boxes, labels
        height, width, depth = image.shape
        ratio = np.random.uniform(1, self.max_ratio)
        left = int(np.random.uniform(0, width * ratio - width))
        top = int(np.random.uniform(0, height * ratio - height))
        canvas = np.full((int(height * ratio), int(width * ratio), depth), self.mean, dtype=image.dtype)
        canvas[top:top + height, left:left + width] = image
        return canvas, boxes + np.array([left, top, left, top], dtype=np.float32), labels


def _overlap(boxes: np.ndarray, rect: np.ndarray) -> np.ndarray:
    """IoU of boxes[N, 4] with one rect[4]."""
    top_left = np.maximum(boxes[:, :2], rect[:2])
    bottom_right = np.minimum(boxes[:, 2:], rect[2:])
    inter = np.prod((bottom_right - top_left).clip(min=0), axis=1)
    area = np.prod(boxes[:, 2:] - boxes[:, :2], axis=1) + np.prod(rect[2:] - rect[:2]) - inter
    return inter / np.maximum(area, 1e-12)


class RandomSampleCrop:
    """SSD's random crop: pick a minimum IoU (none, 0.1, 0.3, 0.7, 0.9, or keep the whole
    image), try ``trials`` crops of 0.3-1 of each side and aspect 0.5-2, keep boxes whose centre
    falls inside, clipped to the crop. A crop that leaves no box of at least ``MIN_BOX_PIXELS``
    a side is rejected; when no trial succeeds the original image is returned unchanged, so the
    targets are never emptied by the crop."""

    MODES = (None, 0.1, 0.3, 0.7, 0.9, -1.0)

    def __init__(self, trials: int = 50):
        self.trials = trials

    def __call__(self, image, boxes, labels):
        if boxes is None or len(boxes) == 0:
            return image, boxes, labels
        height, width = image.shape[:2]
        min_iou = self.MODES[np.random.randint(len(self.MODES))]
        if min_iou is None:
            return image, boxes, labels
        for _ in range(self.trials):
            w, h = np.random.uniform(0.3 * width, width), np.random.uniform(0.3 * height, height)
            if not 0.5 <= h / w <= 2:
                continue
            left, top = np.random.uniform(width - w), np.random.uniform(height - h)
            rect = np.array([int(left), int(top), int(left + w), int(top + h)], dtype=np.float32)
            if _overlap(boxes, rect).max() < min_iou:
                continue
            centres = (boxes[:, :2] + boxes[:, 2:]) / 2
            inside = ((centres > rect[:2]) & (centres < rect[2:])).all(axis=1)
            cropped = np.concatenate([np.maximum(boxes[:, :2], rect[:2]), np.minimum(boxes[:, 2:], rect[2:])], axis=1)
            cropped -= np.tile(rect[:2], 2)
            big_enough = ((cropped[:, 2:] - cropped[:, :2]) >= MIN_BOX_PIXELS).all(axis=1)
            keep = inside & big_enough
            if not keep.any():
                continue
            x1, y1, x2, y2 = rect.astype(int)
            return image[y1:y2, x1:x2], cropped[keep], labels[keep]
        return image, boxes, labels


def random_mirror(image, boxes, labels):
    """Horizontal flip with p=0.5."""
    if np.random.rand() < 0.5:
        width = image.shape[1]
        image = image[:, ::-1]
        boxes = boxes.copy()
        boxes[:, 0::2] = width - boxes[:, 2::-2]
    return image, boxes, labels


def to_percent_coords(image, boxes, labels):
    height, width = image.shape[:2]
    return image, boxes / np.array([width, height, width, height], dtype=np.float32), labels


class ResizeNormalize:
    """Resize to ``size`` squared (bilinear), ``(x - mean) / std``, HWC -> Tensor[3, S, S]."""

    def __init__(self, size: int, mean: float, std: float):
        self.size, self.mean, self.std = size, mean, std

    def __call__(self, image, boxes=None, labels=None):
        image = cv2.resize(np.ascontiguousarray(image, dtype=np.float32), (self.size, self.size),
                           interpolation=cv2.INTER_LINEAR)
        tensor = torch.from_numpy((image - self.mean) / self.std).permute(2, 0, 1).contiguous()
        return tensor, boxes, labels


class TrainAugmentation:
    """pytorch-ssd's training pipeline: photometric distortion, expand, crop, mirror, resize."""

    def __init__(self, size: int, mean: float, std: float):
        self.augment = Compose([to_float, photometric_distort, Expand(mean), RandomSampleCrop(),
                                random_mirror, to_percent_coords, ResizeNormalize(size, mean, std)])

    def __call__(self, image, boxes, labels):
        return self.augment(image, boxes, labels)


class TestTransform:
    """Resize and normalize only (validation and evaluation); boxes become normalized."""

    __test__ = False  # not a pytest class

    def __init__(self, size: int, mean: float, std: float):
        self.transform = Compose([to_float, to_percent_coords, ResizeNormalize(size, mean, std)])

    def __call__(self, image, boxes, labels):
        return self.transform(image, boxes, labels)
