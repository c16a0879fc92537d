"""SSD augmentation keeps every box valid and never empties the targets."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from training.transforms import RandomSampleCrop, TestTransform, TrainAugmentation, random_mirror


@pytest.mark.parametrize("seed", range(4))
def test_train_augmentation_keeps_boxes_valid(seed):
    np.random.seed(seed)
    rng = np.random.default_rng(seed)
    augment = TrainAugmentation(300, 127.0, 128.0)
    for _ in range(60):
        height, width = rng.integers(40, 200, size=2)
        image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        n = rng.integers(1, 5)
        corners = rng.uniform(0, 1, (n, 2, 2)) * [width, height]
        boxes = np.concatenate([corners.min(1), corners.max(1) + 1.0], axis=1).astype(np.float32)
        boxes = np.minimum(boxes, [width, height, width, height]).astype(np.float32)
        labels = rng.integers(1, 4, n)
        out, out_boxes, out_labels = augment(image, boxes, labels)
        assert isinstance(out, torch.Tensor) and out.shape == (3, 300, 300) and torch.isfinite(out).all()
        assert len(out_boxes) >= 1 and len(out_boxes) == len(out_labels)
        assert np.isfinite(out_boxes).all()
        assert (out_boxes[:, 2] > out_boxes[:, 0]).all() and (out_boxes[:, 3] > out_boxes[:, 1]).all()
        assert (out_boxes >= 0).all() and (out_boxes <= 1 + 1e-6).all()
        assert set(out_labels.tolist()) <= set(labels.tolist())


def test_crop_falls_back_to_the_original_when_no_crop_keeps_a_box():
    np.random.seed(0)
    image = np.zeros((50, 50, 3), np.float32)
    # a sub-pixel box: any crop would shrink it below one pixel or lose it
    boxes, labels = np.array([[0.0, 0.0, 0.5, 0.5]], np.float32), np.array([1])
    crop = RandomSampleCrop()
    for _ in range(20):
        out, out_boxes, out_labels = crop(image, boxes, labels)
        assert len(out_boxes) == 1
        if out.shape != image.shape:  # a crop happened: the box must have survived whole
            assert (out_boxes[:, 2:] - out_boxes[:, :2] >= 0.5 - 1e-6).all()


def test_mirror_flips_boxes():
    np.random.seed(1)
    image = np.zeros((10, 100, 3), np.float32)
    boxes = np.array([[10.0, 2.0, 30.0, 8.0]], np.float32)
    for _ in range(10):
        out, flipped, _ = random_mirror(image, boxes, np.array([1]))
        assert flipped.tolist() in ([[10.0, 2.0, 30.0, 8.0]], [[70.0, 2.0, 90.0, 8.0]])


def test_test_transform_only_resizes_and_normalizes():
    image = np.full((30, 60, 3), 255, np.uint8)
    out, boxes, _ = TestTransform(300, 127.0, 128.0)(image, np.array([[6.0, 3.0, 60.0, 30.0]], np.float32), np.array([1]))
    assert out.shape == (3, 300, 300)
    torch.testing.assert_close(out, torch.full((3, 300, 300), 1.0))
    np.testing.assert_allclose(boxes, [[0.1, 0.1, 1.0, 1.0]])
