"""MobileNet-V1 SSD: upstream state_dict layout, checkpoint round trip, loader errors."""

from pathlib import Path

import pytest
import torch

from detector.errors import DetectorError
from detector.models.mobilenet_v1_ssd import create_mobilenetv1_ssd, load_mb1_checkpoint

FACTS = Path("/work/shared/facts/mb1-ssd-state-dict-21-classes.txt")
VOC = ["BACKGROUND", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat",
       "chair", "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant",
       "sheep", "sofa", "train", "tvmonitor"]


def _parse_facts() -> list[tuple[str, list[int]]]:
    entries = []
    for line in FACTS.read_text().splitlines():
        key, shape = line.split(" ", 1)
        dims = shape.strip().strip("[]")
        entries.append((key, [int(d) for d in dims.split(",")] if dims else []))
    return entries


@pytest.fixture(scope="module")
def voc_checkpoint(tmp_path_factory) -> Path:
    """A 21-class checkpoint written the upstream way: plain state_dict + labels.txt."""
    torch.manual_seed(0)
    model = create_mobilenetv1_ssd(21)
    for module in model.modules():  # non-trivial BatchNorm statistics so eval mode matters
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    folder = tmp_path_factory.mktemp("voc")
    torch.save(model.state_dict(), folder / "mb1-ssd.pth")
    (folder / "labels.txt").write_text("\n".join(VOC) + "\n")
    return folder / "mb1-ssd.pth"


@pytest.mark.skipif(not FACTS.is_file(), reason="shared facts file not present")
def test_state_dict_matches_upstream_layout():
    expected = _parse_facts()
    assert len(expected) == 202
    got = [(k, list(v.shape)) for k, v in create_mobilenetv1_ssd(21).state_dict().items()]
    assert sorted(got) == sorted(expected)


@pytest.mark.parametrize("num_classes,batch", [(21, 2), (4, 1)])
def test_output_shapes(num_classes, batch):
    model = create_mobilenetv1_ssd(num_classes).eval()
    with torch.inference_mode():
        locations, logits = model(torch.randn(batch, 3, 300, 300))
    assert locations.shape == (batch, 3000, 4)
    assert logits.shape == (batch, 3000, num_classes)


def test_channels_last_gives_same_output():
    torch.manual_seed(1)
    model = create_mobilenetv1_ssd(3).eval()
    x = torch.randn(1, 3, 300, 300)
    with torch.inference_mode():
        ref = model(x)
        model = model.to(memory_format=torch.channels_last)
        out = model(x.to(memory_format=torch.channels_last))
    for a, b in zip(ref, out):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


def test_upstream_checkpoint_round_trip(voc_checkpoint):
    torch.manual_seed(0)
    x = torch.randn(2, 3, 300, 300)
    reference = create_mobilenetv1_ssd(21)
    reference.load_state_dict(torch.load(voc_checkpoint, weights_only=True), strict=True)
    model, labels = load_mb1_checkpoint(voc_checkpoint)
    assert labels == VOC
    assert not model.training
    with torch.inference_mode():
        expected = reference.eval()(x)
        got = model(x)
    assert torch.equal(expected[0], got[0]) and torch.equal(expected[1], got[1])
    # and back: our state_dict is the upstream file's, key for key
    saved = torch.load(voc_checkpoint, weights_only=True)
    assert list(model.state_dict()) == list(saved)


def test_trainer_style_checkpoint_and_explicit_labels(voc_checkpoint, tmp_path):
    state = torch.load(voc_checkpoint, weights_only=True)
    torch.save({"model": state, "args": {"num_classes": 21, "lr": 0.01}}, tmp_path / "ckpt.pth")
    (tmp_path / "classes.txt").write_text("\n".join(VOC))
    model, labels = load_mb1_checkpoint(tmp_path / "ckpt.pth", labels_path=tmp_path / "classes.txt")
    assert labels == VOC
    assert torch.equal(model.state_dict()["regression_headers.5.bias"], state["regression_headers.5.bias"])


def _write(folder: Path, state=None, labels=VOC, raw: bytes | None = None) -> Path:
    path = folder / "model.pth"
    if raw is not None:
        path.write_bytes(raw)
    else:
        torch.save(state, path)
    if labels is not None:
        (folder / "labels.txt").write_text("\n".join(labels) + "\n")
    return path


@pytest.mark.parametrize("case,needle", [
    ("missing", "not found"),
    ("not_torch", "not a readable torch checkpoint"),
    ("truncated", "not a readable torch checkpoint"),
    ("pickled_object", "not a readable torch checkpoint"),
    ("no_head", "classification_headers.0.weight"),
    ("bad_shape", "base_net.0.0.weight has shape [16, 3, 3, 3]"),
    ("missing_key", "lacks key extras.3.2.bias"),
    ("no_labels", "labels file"),
    ("label_count", "labels file has 4 classes but"),
])
def test_bad_inputs_raise_detector_error(voc_checkpoint, tmp_path, case, needle):
    state = torch.load(voc_checkpoint, weights_only=True)
    if case == "missing":
        path = tmp_path / "nope.pth"
    elif case == "not_torch":
        path = _write(tmp_path, raw=b"this is a text file, not weights\n")
    elif case == "truncated":
        path = _write(tmp_path, raw=voc_checkpoint.read_bytes()[:100_000])
    elif case == "pickled_object":
        path = _write(tmp_path, state={"state_dict": state, "cfg": Path("x")})
    elif case == "no_head":
        path = _write(tmp_path, state={"weight": torch.zeros(3)})
    elif case == "bad_shape":
        state["base_net.0.0.weight"] = torch.zeros(16, 3, 3, 3)
        path = _write(tmp_path, state=state)
    elif case == "missing_key":
        del state["extras.3.2.bias"]
        path = _write(tmp_path, state=state)
    elif case == "no_labels":
        path = _write(tmp_path, state=state, labels=None)
    else:
        path = _write(tmp_path, state=state, labels=["BACKGROUND", "person", "car", "bus"])
    with pytest.raises(DetectorError) as info:
        load_mb1_checkpoint(path)
    message = str(info.value)
    assert needle in message
    assert "\n" not in message


def test_fused_batchnorm_gives_same_output(voc_checkpoint):
    model, _ = load_mb1_checkpoint(voc_checkpoint)
    x = torch.randn(1, 3, 300, 300)
    with torch.inference_mode():
        expected = model(x)
        fused = model.fuse_batchnorm_()
        got = fused(x)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fused.modules())
    for a, b in zip(expected, got):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
