"""The device preprocessing (CUDA's path) against the NumPy one, run here on the CPU device."""

import numpy as np
import pytest
import torch

from detector.preprocess import preprocess_batch
from detector.preprocess_device import preprocess_on_device

SSDLITE = dict(size=300, mean=127.5, std=127.5)
MB1 = dict(size=300, mean=127.0, std=128.0)


def frames() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    smooth = np.linspace(0, 255, 360 * 640 * 3).reshape(360, 640, 3).astype(np.uint8)
    return [rng.integers(0, 256, (360, 640, 3), np.uint8), smooth,
            rng.integers(0, 256, (97, 131, 3), np.uint8),  # another size in the same batch
            rng.integers(0, 256, (360, 640, 3), np.uint8)]


@pytest.mark.parametrize("method, params, tolerance", [
    ("tf_legacy_bilinear", SSDLITE, 1e-5),  # the same float32 operations
    ("linear", MB1, 1.01 / 128),  # OpenCV's fixed-point weights: within one grey level
])
def test_device_preprocessing_matches_numpy(method, params, tolerance):
    images = frames()
    expected = preprocess_batch(images, params["size"], method, params["mean"], params["std"])
    got = preprocess_on_device(images, params["size"], method, params["mean"], params["std"],
                               torch.device("cpu"))
    assert got.shape == expected.shape == (4, 3, 300, 300)
    assert np.abs(got.numpy() - expected).max() <= tolerance
    assert got.is_contiguous(memory_format=torch.channels_last)


def test_unknown_resize_method_is_refused():
    with pytest.raises(ValueError, match="unknown resize method"):
        preprocess_on_device(frames(), 300, "cubic", 0.0, 1.0, torch.device("cpu"))
