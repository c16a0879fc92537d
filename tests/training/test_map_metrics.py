"""mAP on hand-made cases: perfect, known partial values, COCO through faster_coco_eval."""

from __future__ import annotations

import math

import numpy as np
import pytest

from training.metrics import average_precision, coco_map, voc_map

GT = [(np.array([[0.1, 0.1, 0.4, 0.4], [0.5, 0.5, 0.9, 0.9]]), np.array([1, 2])),
      (np.array([[0.2, 0.2, 0.6, 0.6]]), np.array([1]))]
SIZES = [(200, 100), (200, 100)]


def _dets(*per_image):
    return [(np.array([b for b, _, _ in d], dtype=float).reshape(-1, 4), np.array([s for _, s, _ in d]),
             np.array([c for _, _, c in d], dtype=int)) for d in per_image]


def test_perfect_detections_score_one():
    dets = _dets([(GT[0][0][0], 0.9, 1), (GT[0][0][1], 0.8, 2)], [(GT[1][0][0], 0.7, 1)])
    for metric in (True, False):
        assert voc_map(GT, dets, 3, use_2007_metric=metric) == (1.0, [1.0, 1.0])
    coco, coco50, per_class = coco_map(GT, dets, 3, SIZES)
    assert coco == pytest.approx(1.0) and coco50 == pytest.approx(1.0) and per_class == pytest.approx([1, 1])


def test_known_partial_values():
    # class 1: a false positive ranked first, then both objects found -> P = 0, 1/2, 2/3 at R = 0, .5, 1
    # class 2: its object missed, one false positive -> AP 0
    dets = _dets([(GT[0][0][0], 0.8, 1), ([0.7, 0.1, 0.8, 0.2], 0.95, 1), ([0.0, 0.0, 0.1, 0.1], 0.5, 2)],
                 [(GT[1][0][0], 0.6, 1)])
    mean, per_class = voc_map(GT, dets, 3, use_2007_metric=False)
    assert per_class == pytest.approx([2 / 3, 0.0]) and mean == pytest.approx(1 / 3)
    # 11-point: precision 2/3 reachable at every recall threshold
    assert voc_map(GT, dets, 3, use_2007_metric=True)[1] == pytest.approx([2 / 3, 0.0])
    coco, coco50, per_class = coco_map(GT, dets, 3, SIZES)
    assert per_class == pytest.approx([2 / 3, 0.0], abs=0.01) and coco50 == pytest.approx(1 / 3, abs=0.01)


def test_duplicates_and_low_iou_are_false_positives():
    gt = [(np.array([[0.0, 0.0, 0.5, 0.5]]), np.array([1]))]
    dets = _dets([([0.0, 0.0, 0.5, 0.5], 0.9, 1), ([0.0, 0.0, 0.5, 0.5], 0.8, 1), ([0.0, 0.0, 0.5, 0.2], 0.95, 1)])
    # ranked: IoU 0.4 (FP), match (TP), duplicate (FP): all-point AP = 1/2
    assert voc_map(gt, dets, 2, use_2007_metric=False)[0] == pytest.approx(0.5)


def test_classes_without_ground_truth_are_left_out():
    mean, per_class = voc_map(GT[:1], _dets([(GT[0][0][0], 0.9, 1)]), 4)
    assert math.isnan(per_class[2]) and per_class[:2] == [1.0, 0.0] and mean == 0.5


def test_eleven_point_interpolation():
    precision, recall = np.array([1.0, 0.5]), np.array([0.5, 0.5])
    assert average_precision(precision, recall, True) == pytest.approx(6 / 11)
    assert average_precision(precision, recall, False) == pytest.approx(0.5)
