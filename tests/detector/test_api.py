"""Detector API behaviour that holds for any network (a seeded, untrained mb1-ssd here)."""

import numpy as np
import pytest
import torch

from detector import DetectorError, load_detector
from detector.api import Detector, mb1_ssd_config
from detector.models.mobilenet_v1_ssd import create_mobilenetv1_ssd

LABELS = ["BACKGROUND", "person", "car", "bus"]


@pytest.fixture(scope="module")
def detector() -> Detector:
    torch.manual_seed(0)
    return Detector(create_mobilenetv1_ssd(len(LABELS)), mb1_ssd_config(LABELS), device="cpu", score_threshold=0.2)


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 255, size, dtype=np.uint8) for size in [(272, 640, 3), (480, 360, 3), (100, 100, 3)]]


def test_batched_detect_equals_one_by_one(detector, frames):
    batched = detector.detect(frames)
    single = [detector.detect([f])[0] for f in frames]
    assert len(batched) == len(frames)
    for a, b in zip(batched, single):
        assert [d.label for d in a] == [d.label for d in b]
        np.testing.assert_allclose([d.box for d in a], [d.box for d in b], atol=1e-3)
        np.testing.assert_allclose([d.score for d in a], [d.score for d in b], atol=1e-5)


def test_batch_with_frames_that_have_no_candidates():
    """Network outputs set by hand: frame 0 has two overlapping person boxes and a car, frame 1
    nothing above the threshold, frame 2 one bus; each frame gets only its own detections."""
    torch.manual_seed(0)
    detector = Detector(create_mobilenetv1_ssd(len(LABELS)), mb1_ssd_config(LABELS), device="cpu", score_threshold=0.5)
    priors = detector.config.priors.shape[0]
    scores = torch.zeros(3, priors, len(LABELS))
    boxes = torch.tensor([0.1, 0.1, 0.5, 0.5]).repeat(3, priors, 1)
    scores[0, 7, 1], scores[0, 8, 1], scores[0, 9, 2], scores[1, 7, 1], scores[2, 5, 3] = 0.9, 0.8, 0.7, 0.4, 0.6
    boxes[0, 8] = torch.tensor([0.12, 0.1, 0.5, 0.5])  # IoU 0.95 with prior 7's box: suppressed
    boxes[2, 5] = torch.tensor([0.0, 0.5, 1.0, 1.0])
    detector.network = lambda x: (scores[: len(x)], boxes[: len(x)])
    frames = [np.zeros((100, 200, 3), np.uint8)] * 3
    got = [[(d.label, round(d.score, 3), [round(v, 1) for v in d.box]) for d in result] for result in detector.detect(frames)]
    assert got == [[("person", 0.9, [20.0, 10.0, 100.0, 50.0]), ("car", 0.7, [20.0, 10.0, 100.0, 50.0])],
                   [],
                   [("bus", 0.6, [0.0, 50.0, 200.0, 100.0])]]


def test_detections_are_sorted_within_the_frame_and_above_threshold(detector, frames):
    results = detector.detect(frames, score_threshold=0.251)
    assert any(results), "the untrained network should still give some boxes at this threshold"
    for frame, detections in zip(frames, results):
        height, width = frame.shape[:2]
        scores = [d.score for d in detections]
        assert scores == sorted(scores, reverse=True)
        assert len(detections) <= 100
        for d in detections:
            assert d.score >= 0.251
            assert d.label == LABELS[d.class_id] and d.class_id > 0
            x1, y1, x2, y2 = d.box
            assert 0 <= x1 <= x2 <= width and 0 <= y1 <= y2 <= height
            assert d.to_dict() == {"label": d.label, "class_id": d.class_id, "score": d.score, "box": list(d.box)}


def test_class_filter_keeps_only_named_classes(frames):
    torch.manual_seed(0)
    only_cars = Detector(
        create_mobilenetv1_ssd(len(LABELS)), mb1_ssd_config(LABELS), device="cpu", score_threshold=0.2, classes=["Car"]
    )
    labels = {d.label for result in only_cars.detect(frames, score_threshold=0.2) for d in result}
    assert labels <= {"car"}


def test_unknown_class_is_a_clear_error():
    with pytest.raises(DetectorError, match="unknown class truck"):
        Detector(create_mobilenetv1_ssd(len(LABELS)), mb1_ssd_config(LABELS), device="cpu", classes=["truck"])


def test_empty_input_and_bad_frames(detector):
    assert detector.detect([]) == []
    with pytest.raises(DetectorError, match="BGR uint8"):
        detector.detect([np.zeros((10, 10), np.uint8)])
    with pytest.raises(DetectorError, match="BGR uint8"):
        detector.detect([np.zeros((10, 10, 3), np.float32)])
    with pytest.raises(DetectorError, match="empty image"):
        detector.detect([np.zeros((0, 10, 3), np.uint8)])


@pytest.mark.parametrize(
    "spec, message",
    [("yolo", "unknown model 'yolo'"), ("mb1-ssd", "needs a file"), ("mb1-ssd:/nonexistent/model.pth", "/nonexistent/model.pth")],
)
def test_bad_model_specs(spec, message):
    with pytest.raises(DetectorError, match=message):
        load_detector(spec, device="cpu")
