"""The GraphDef reader and the importer on hand-encoded graphs (a tiny protobuf encoder below)."""

from __future__ import annotations

import struct

import numpy as np
import pytest
import torch

from detector.errors import DetectorError
from detector.tf_graph import const_values, parse_graph_def, read_graph_def
from detector.tf_import import COCO_LABELS, default_labels, import_ssdlite


def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1  # negative ints are encoded as 64-bit two's complement
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, value: int | bytes | str, wire: int | None = None) -> bytes:
    if isinstance(value, str):
        value = value.encode()
    if isinstance(value, int):
        return _varint(number << 3) + _varint(value)
    if wire == 5:
        return _varint(number << 3 | 5) + value
    return _varint(number << 3 | 2) + _varint(len(value)) + value


def _tensor(array: np.ndarray, form: str = "content") -> bytes:
    """TensorProto of a float32 or int32 array, values as tensor_content, packed or unpacked."""
    dtype = 1 if array.dtype == np.float32 else 3
    shape = b"".join(_field(2, _field(1, d)) for d in array.shape)
    out = _field(1, dtype) + _field(2, shape) + _field(3, 0)  # version_number: an unknown-to-us field
    if form == "content":
        return out + _field(4, array.tobytes())
    if dtype == 3:
        return out + b"".join(_field(7, int(v)) for v in array.ravel())
    if form == "packed":
        return out + _field(5, array.astype("<f4").tobytes())
    return out + b"".join(_field(5, struct.pack("<f", v), wire=5) for v in array.ravel())


def _const(name: str, tensor: bytes) -> bytes:
    attr = _field(5, _field(1, "value") + _field(2, _field(8, tensor)))
    dtype = _field(5, _field(1, "dtype") + _field(2, _field(6, 1)))
    return _field(1, _field(1, name) + _field(2, "Const") + dtype + attr)


def _graph(weights: dict[str, np.ndarray]) -> bytes:
    return _field(4, _field(1, 27)) + b"".join(_const(k, _tensor(v)) for k, v in weights.items())


def test_decodes_every_value_form():
    x = np.arange(6, dtype=np.float32).reshape(2, 3) - 2.5
    fused = _field(1, "bn") + _field(2, "FusedBatchNorm") + _field(3, "conv") + _field(3, "gamma") \
        + _field(5, _field(1, "epsilon") + _field(2, _field(4, struct.pack("<f", 1e-3), wire=5)))
    data = b"".join([_const("content", _tensor(x)), _const("packed", _tensor(x, "packed")),
                     _const("unpacked", _tensor(x, "unpacked")),
                     _const("fill", _field(1, 1) + _field(2, _field(2, _field(1, 2)) + _field(2, _field(1, 3)))
                            + _field(5, struct.pack("<f", 7.0), wire=5)),
                     _const("ints", _tensor(np.array([-3, 5], dtype=np.int32), "unpacked")),
                     _field(1, fused)])
    nodes = parse_graph_def(data)
    assert [n.op for n in nodes] == ["Const"] * 5 + ["FusedBatchNorm"]
    assert nodes[-1].inputs == ["conv", "gamma"]
    assert nodes[-1].attrs["epsilon"] == pytest.approx(1e-3)
    assert nodes[4].attrs["value"].tolist() == [-3, 5]
    values = const_values(nodes)
    assert sorted(values) == ["content", "fill", "packed", "unpacked"]  # float constants only
    for name in ("content", "packed", "unpacked"):
        assert values[name].dtype == np.float32 and np.array_equal(values[name], x)
    assert np.array_equal(values["fill"], np.full((2, 3), 7.0, np.float32))


@pytest.mark.parametrize("data", [
    b"",
    b"hello, this is a text file\n",
    np.random.default_rng(0).bytes(5000),
    _const("w", _tensor(np.ones((4, 4), np.float32)))[:-7],  # truncated inside tensor_content
    _field(1, _field(1, "w") + _field(2, "Const") + _field(5, _field(2, _field(8, _field(1, 1)
           + _field(2, _field(2, _field(1, 3))) + _field(4, b"\0" * 8))))),  # 8 bytes for 3 floats
], ids=["empty", "text", "random", "truncated", "wrong-size"])
def test_rejects_non_graphs(tmp_path, data):
    path = tmp_path / "model.pb"
    path.write_bytes(data)
    with pytest.raises(DetectorError) as err:
        read_graph_def(path)
    assert "\n" not in str(err.value) and "GraphDef" in str(err.value)


def test_rejects_truncated_real_graph(person_pb, tmp_path):
    path = tmp_path / "cut.pb"
    path.write_bytes(person_pb.read_bytes()[:3_000_000])
    with pytest.raises(DetectorError, match="not a TensorFlow GraphDef"):
        read_graph_def(path)


@pytest.fixture(scope="module")
def person_weights(person_pb) -> dict[str, np.ndarray]:
    return {k: v for k, v in const_values(read_graph_def(person_pb)).items()
            if k.startswith(("FeatureExtractor/", "BoxPredictor_"))}


def test_class_count_comes_from_the_weights(person_weights, person_model, tmp_path):
    """The same layout with 91 classes (TF's COCO model) imports, labelled with COCO's ids."""
    rng = np.random.default_rng(0)
    weights = dict(person_weights)
    for i in range(6):
        anchors = 3 if i == 0 else 6
        w = weights[f"BoxPredictor_{i}/ClassPredictor/weights"]
        weights[f"BoxPredictor_{i}/ClassPredictor/weights"] = \
            rng.normal(0, 0.05, (1, 1, w.shape[2], anchors * 91)).astype(np.float32)
        weights[f"BoxPredictor_{i}/ClassPredictor/biases"] = np.zeros(anchors * 91, np.float32)
    path = tmp_path / "coco.pb"
    path.write_bytes(_graph(weights))
    model, labels = import_ssdlite(path)
    assert model.num_classes == 91 and labels == list(COCO_LABELS)
    assert labels[:2] == ["background", "person"] and labels[12] == "???" and labels[90] == "toothbrush"
    x = torch.rand(1, 3, 300, 300) * 2 - 1
    with torch.inference_mode():
        locations, logits = model(x)
        assert logits.shape == (1, 1917, 91)
        assert torch.allclose(locations, person_model[0](x)[0], atol=1e-5)  # same box weights


def test_labels_for_other_class_counts():
    assert default_labels(2) == ["background", "person"]
    assert len(COCO_LABELS) == 91 and COCO_LABELS.count("???") == 10
    assert default_labels(4) == ["background", "class_1", "class_2", "class_3"]


def test_missing_and_unused_weights_are_named(person_weights, tmp_path):
    missing = dict(person_weights)
    del missing["FeatureExtractor/MobilenetV2/expanded_conv_7/project/BatchNorm/beta"]
    (tmp_path / "missing.pb").write_bytes(_graph(missing))
    with pytest.raises(DetectorError, match="expanded_conv_7/project/BatchNorm/beta"):
        import_ssdlite(tmp_path / "missing.pb")
    extra = dict(person_weights)
    extra["FeatureExtractor/MobilenetV2/layer_20/weights"] = np.zeros((1, 1, 8, 8), np.float32)
    (tmp_path / "extra.pb").write_bytes(_graph(extra))
    with pytest.raises(DetectorError, match="layer_20/weights"):
        import_ssdlite(tmp_path / "extra.pb")
