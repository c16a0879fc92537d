"""The whole ssdlite-person detector on the golden PNGs against TensorFlow's detections."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from detector.api import Detection, load_detector

THRESHOLD = 0.3  # detections.json lists TensorFlow's detections with score >= 0.3
LOW_THRESHOLD = 0.05  # the npz keeps TF's top 100: compare down to here, where NMS order matters


def _iou(a: list[float], b: list[float]) -> float:
    """IoU of two (x1, y1, x2, y2) boxes."""
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def _assert_same(got: list[Detection], boxes_yxyx: list, scores: list, width: int, height: int) -> None:
    """One detection per TF detection, IoU >= 0.9 and score within 0.02 (TF boxes normalized
    [ymin, xmin, ymax, xmax], ours (x1, y1, x2, y2) in pixels)."""
    assert len(got) == len(scores), f"{[round(d.score, 3) for d in got]} vs {np.round(scores, 3).tolist()}"
    for (y1, x1, y2, x2), score in zip(boxes_yxyx, scores):
        box = [x1 * width, y1 * height, x2 * width, y2 * height]
        best = max(got, key=lambda d: _iou(list(d.box), box))
        assert _iou(list(best.box), box) >= 0.9
        assert abs(best.score - score) <= 0.02
        assert best.label == "person" and best.class_id == 1


@pytest.fixture(scope="module")
def person_detector(person_pb, tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CCTV_MODELS_DIR", str(tmp_path_factory.mktemp("models")))
        yield load_detector("ssdlite-person", device="cpu", score_threshold=THRESHOLD)


@pytest.fixture(scope="module")
def tf_detections(golden) -> dict:
    return json.loads((golden / "detections.json").read_text())


def test_detections_match_tensorflow(person_detector, tf_detections, golden, golden_frame):
    expected = tf_detections[golden_frame]
    frame = cv2.imread(str(golden / "frames" / f"{golden_frame}.png"))
    assert frame.shape[:2] == (expected["height"], expected["width"])
    want = expected["detections_score_ge_0.3"]
    assert all(d["label"] == "person" and d["coco_id"] == 1 for d in want)
    _assert_same(person_detector.detect([frame])[0], [d["box_norm_yxyx"] for d in want],
                 [d["score"] for d in want], frame.shape[1], frame.shape[0])


def test_low_score_detections_match_tensorflow(person_detector, golden, golden_frame):
    with np.load(golden / "ref" / f"{golden_frame}.npz") as ref:
        keep = ref["det_scores"][0] >= LOW_THRESHOLD
        boxes, scores = ref["det_boxes"][0][keep], ref["det_scores"][0][keep]
        assert np.all(ref["det_classes"][0][keep] == 1)
    frame = cv2.imread(str(golden / "frames" / f"{golden_frame}.png"))
    got = person_detector.detect([frame], score_threshold=LOW_THRESHOLD)[0]
    _assert_same(got, boxes.tolist(), scores.tolist(), frame.shape[1], frame.shape[0])
