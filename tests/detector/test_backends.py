"""The three ways to run a network agree, and trained SSDLite checkpoints load by path."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from detector import DetectorError, load_detector
from detector.api import Detector
from detector.config import ssdlite_config
from detector.models.ssdlite import build_ssdlite_mobilenet_v2
from detector.preprocess import preprocess_batch

FRAMES_WITH_PEOPLE = ("bikes_125", "carphone_pristine_000", "bigbuckbunny_000")


@pytest.fixture(scope="module")
def frames(golden) -> list[np.ndarray]:
    return [cv2.imread(str(golden / "frames" / f"{name}.png")) for name in FRAMES_WITH_PEOPLE]


@pytest.fixture(scope="module")
def reference(frames):
    return load_detector("ssdlite-person", device="cpu", score_threshold=0.2).detect(frames)


@pytest.mark.parametrize("backend", ["torchscript", "onnxruntime"])
def test_backend_gives_the_eager_detections(backend, frames, reference):
    detector = load_detector("ssdlite-person", device="cpu", score_threshold=0.2, backend=backend)
    results = detector.detect(frames)
    assert sum(map(len, reference)) > 0
    for got, want in zip(results, reference):
        assert [d.label for d in got] == [d.label for d in want]
        np.testing.assert_allclose([d.score for d in got], [d.score for d in want], atol=1e-4)
        np.testing.assert_allclose([d.box for d in got], [d.box for d in want], atol=0.05)


def test_unknown_backend_is_a_clear_error():
    with pytest.raises(DetectorError, match="unknown backend 'tensorrt'"):
        load_detector("ssdlite-person", device="cpu", backend="tensorrt")


@pytest.mark.parametrize("method", ["linear", "tf_legacy_bilinear"])
def test_preprocess_batch_of_mixed_sizes_equals_one_by_one(method):
    rng = np.random.default_rng(1)
    frames = [rng.integers(0, 255, shape, dtype=np.uint8) for shape in [(272, 640, 3), (90, 120, 3), (272, 640, 3)]]
    batch = preprocess_batch(frames, 300, method, 127.5, 127.5)
    assert batch.shape == (3, 3, 300, 300) and batch.dtype == np.float32 and batch.flags.c_contiguous
    for i, frame in enumerate(frames):
        assert np.array_equal(batch[i], preprocess_batch([frame], 300, method, 127.5, 127.5)[0])
    # channel 0 is red: a pure-blue BGR frame has no red after conversion; mean and std applied
    blue = np.zeros((50, 50, 3), np.uint8)
    blue[..., 0] = 255
    rgb = preprocess_batch([blue], 300, method, 127.0, 128.0)[0]
    assert np.all(rgb[0] == -127 / 128) and np.all(rgb[2] == 1.0)


def _save_checkpoint(model, folder, labels):
    torch.save({"model_args": {"num_classes": model.num_classes}, "state_dict": model.state_dict()}, folder / "ssdlite.pth")
    (folder / "labels.txt").write_text("\n".join(labels) + "\n")
    return folder / "ssdlite.pth"


def test_trained_ssdlite_checkpoint_loads_by_path(tmp_path):
    torch.manual_seed(0)
    model = build_ssdlite_mobilenet_v2(4).eval()
    labels = ["BACKGROUND", "Bus", "Car", "Person"]
    path = _save_checkpoint(model, tmp_path, labels)
    x = torch.randn(1, 3, 300, 300)
    loaded = load_detector(f"ssdlite:{path}", device="cpu")
    assert loaded.labels == labels
    want = Detector(model, ssdlite_config(labels), device="cpu").forward(x)
    got = loaded.forward(x)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


def test_ssdlite_checkpoint_errors(tmp_path):
    model = build_ssdlite_mobilenet_v2(3)
    path = _save_checkpoint(model, tmp_path, ["BACKGROUND", "person"])
    with pytest.raises(DetectorError, match="labels file has 2 classes but .* has 3"):
        load_detector(f"ssdlite:{path}", device="cpu")
    torch.save({"state_dict": {"x": torch.zeros(1)}}, tmp_path / "other.pth")
    with pytest.raises(DetectorError, match="not an SSDLite-MobileNet-V2 checkpoint"):
        load_detector(f"ssdlite:{tmp_path / 'other.pth'}", device="cpu")


def test_onnxruntime_export_is_cached_and_a_corrupt_cache_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("CCTV_MODELS_DIR", str(tmp_path))
    torch.manual_seed(0)
    model = build_ssdlite_mobilenet_v2(2).eval()
    config = ssdlite_config(["background", "person"])
    x = torch.randn(2, 3, 300, 300)
    want = Detector(model, config, device="cpu", backend="torch").forward(x)
    first = Detector(model, config, device="cpu", backend="onnxruntime")
    (cached,) = (tmp_path / "onnx-cache").glob("*.onnx")
    cached.write_bytes(b"not an onnx model")
    rebuilt = Detector(model, config, device="cpu", backend="onnxruntime")
    assert cached.stat().st_size > 1000
    for detector in (first, rebuilt):
        for a, b in zip(detector.forward(x), want):
            torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)
