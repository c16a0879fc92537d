"""ONNX export for jetson-inference: layout, numerics against PyTorch, atomic writes."""

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from detector.api import Detector, build_model, mb1_ssd_config
from detector.errors import DetectorError
from detector.export import export_onnx
from detector.models.mobilenet_v1_ssd import create_mobilenetv1_ssd

LABELS = ["BACKGROUND", "person", "car", "bus"]


def _mb1():
    torch.manual_seed(0)
    return create_mobilenetv1_ssd(len(LABELS)).eval(), mb1_ssd_config(LABELS)


def _run(path, x: np.ndarray) -> dict[str, np.ndarray]:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, {"input_0": x})))


def _reference(model, config, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """What the Detector itself computes on CPU: (scores, corner boxes)."""
    scores, boxes = Detector(model, config, device="cpu").forward(torch.from_numpy(x))
    return scores.numpy(), boxes.numpy()


def _dims(value_info) -> list:
    return [d.dim_value or d.dim_param for d in value_info.type.tensor_type.shape.dim]


def test_mb1_ssd_layout_and_matches_pytorch(tmp_path):
    model, config = _mb1()
    out = export_onnx(model, config, tmp_path / "mb1.onnx", batch_size=2)
    graph = onnx.load(str(out)).graph
    assert [i.name for i in graph.input] == ["input_0"]
    assert _dims(graph.input[0]) == [2, 3, 300, 300]
    assert {o.name: _dims(o) for o in graph.output} == {"scores": [2, 3000, 4], "boxes": [2, 3000, 4]}
    assert (tmp_path / "labels.txt").read_text().splitlines() == LABELS

    x = np.random.default_rng(0).uniform(-1, 1, (2, 3, 300, 300)).astype(np.float32)
    got = _run(out, x)
    scores, boxes = _reference(model, config, x)
    assert np.abs(got["scores"] - scores).max() < 1e-4
    assert np.abs(got["boxes"] - boxes).max() < 1e-4
    np.testing.assert_allclose(got["scores"].sum(-1), 1.0, atol=1e-5)  # softmax applied
    assert sorted(p.name for p in tmp_path.iterdir()) == ["labels.txt", "mb1.onnx"]


def test_dynamic_batch(tmp_path):
    model, config = _mb1()
    out = export_onnx(model, config, tmp_path / "dyn.onnx", dynamic_batch=True)
    x = np.random.default_rng(1).uniform(-1, 1, (3, 3, 300, 300)).astype(np.float32)
    got = _run(out, x)
    assert got["scores"].shape == (3, 3000, 4) and got["boxes"].shape == (3, 3000, 4)
    scores, boxes = _reference(model, config, x)
    assert np.abs(got["boxes"] - boxes).max() < 1e-4


def test_ssdlite_person_matches_pytorch(tmp_path):
    try:
        model, config = build_model("ssdlite-person")
    except DetectorError as exc:
        pytest.skip(f"ssdlite-person weights unavailable: {exc}")
    assert config.score == "sigmoid"
    out = export_onnx(model, config, tmp_path / "person.onnx")
    x = np.random.default_rng(2).uniform(-1, 1, (1, 3, 300, 300)).astype(np.float32)
    got = _run(out, x)
    scores, boxes = _reference(model, config, x)
    assert got["scores"].shape == (1, len(config.priors), len(config.labels))
    assert np.abs(got["scores"] - scores).max() < 1e-4
    assert np.abs(got["boxes"] - boxes).max() < 1e-4
    assert (tmp_path / "labels.txt").read_text().splitlines() == list(config.labels)


class _WrongPriorCount(torch.nn.Module):
    """A network whose output does not fit its config's 3000 priors: export must fail."""

    def forward(self, x):
        return torch.zeros(x.shape[0], 10, 4), torch.zeros(x.shape[0], 10, len(LABELS))


def test_failed_export_leaves_nothing(tmp_path):
    _, config = _mb1()
    with pytest.raises(DetectorError, match="ONNX export failed"):
        export_onnx(_WrongPriorCount(), config, tmp_path / "bad.onnx")
    assert list(tmp_path.iterdir()) == []


def test_existing_files_untouched_on_failure(tmp_path):
    _, config = _mb1()
    (tmp_path / "keep.onnx").write_bytes(b"old")
    (tmp_path / "labels.txt").write_text("old\n")
    with pytest.raises(DetectorError):
        export_onnx(_WrongPriorCount(), config, tmp_path / "keep.onnx")
    assert (tmp_path / "keep.onnx").read_bytes() == b"old"
    assert (tmp_path / "labels.txt").read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.onnx", "labels.txt"]


@pytest.mark.parametrize("name,kwargs,needle", [
    ("model.pb", {}, "must end in .onnx"),
    ("missing/model.onnx", {}, "does not exist"),
    ("model.onnx", {"batch_size": 0}, "batch size"),
    ("model.onnx", {"opset": 1}, "opset 1 is not supported"),
])
def test_bad_arguments(tmp_path, name, kwargs, needle):
    model, config = _mb1()
    with pytest.raises(DetectorError, match=needle):
        export_onnx(model, config, tmp_path / name, **kwargs)
