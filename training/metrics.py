"""Detection metrics: VOC-style AP at IoU 0.5 (as pytorch-ssd's ``eval_ssd.py``) and COCO-style
mAP@[.5:.95] through ``faster_coco_eval``.

Inputs are per-image lists: ground truth ``(boxes float[G, 4], labels int[G])`` and detections
``(boxes float[D, 4], scores float[D], labels int[D])``, boxes (x1, y1, x2, y2) in one unit
(normalized or pixels) per image; label 0 is the background and never scored.
"""

from __future__ import annotations

import contextlib
import io
from typing import Sequence

import numpy as np

GroundTruth = tuple[np.ndarray, np.ndarray]
Detections = tuple[np.ndarray, np.ndarray, np.ndarray]


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    top_left = np.maximum(boxes[:, :2], box[:2])
    bottom_right = np.minimum(boxes[:, 2:], box[2:])
    inter = np.prod((bottom_right - top_left).clip(min=0), axis=1)
    union = np.prod(box[2:] - box[:2]) + np.prod(boxes[:, 2:] - boxes[:, :2], axis=1) - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def average_precision(precision: np.ndarray, recall: np.ndarray, use_2007_metric: bool) -> float:
    """Area under the precision/recall curve: VOC2007's 11-point interpolation, or the
    all-point interpolation of VOC2010+ (pytorch-ssd's ``measurements``)."""
    if use_2007_metric:
        return float(np.mean([precision[recall >= t].max(initial=0.0) for t in np.linspace(0, 1, 11)]))
    precision = np.concatenate([[0.0], precision, [0.0]])
    recall = np.concatenate([[0.0], recall, [1.0]])
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    steps = np.where(recall[1:] != recall[:-1])[0]
    return float(np.sum((recall[steps + 1] - recall[steps]) * precision[steps + 1]))


def class_average_precision(ground_truth: Sequence[GroundTruth], detections: Sequence[Detections],
                            class_id: int, iou_threshold: float = 0.5,
                            use_2007_metric: bool = True) -> float:
    """AP of one class: detections ranked by score, each a true positive when it overlaps a
    not yet matched ground truth of its image by more than ``iou_threshold``. NaN without
    ground truth of that class."""
    gt = [boxes[labels == class_id] for boxes, labels in ground_truth]
    num_gt = sum(len(g) for g in gt)
    if num_gt == 0:
        return float("nan")
    ranked = [(score, image, box) for image, (boxes, scores, labels) in enumerate(detections)
              for box, score in zip(boxes[labels == class_id], scores[labels == class_id])]
    ranked.sort(key=lambda d: -d[0])
    matched = [np.zeros(len(g), dtype=bool) for g in gt]
    true_positive = np.zeros(len(ranked))
    for i, (_, image, box) in enumerate(ranked):
        if len(gt[image]) == 0:
            continue
        overlaps = _iou(np.asarray(box, dtype=np.float64), gt[image].astype(np.float64))
        best = int(overlaps.argmax())
        if overlaps[best] > iou_threshold and not matched[image][best]:
            matched[image][best] = True
            true_positive[i] = 1
    tp = np.cumsum(true_positive)
    precision = tp / np.arange(1, len(ranked) + 1)
    return average_precision(precision, tp / num_gt, use_2007_metric)


def voc_map(ground_truth: Sequence[GroundTruth], detections: Sequence[Detections], num_classes: int,
            iou_threshold: float = 0.5, use_2007_metric: bool = True) -> tuple[float, list[float]]:
    """(mAP over the classes that have ground truth, AP per class 1..num_classes-1)."""
    per_class = [class_average_precision(ground_truth, detections, c, iou_threshold, use_2007_metric)
                 for c in range(1, num_classes)]
    scored = [ap for ap in per_class if not np.isnan(ap)]
    return (float(np.mean(scored)) if scored else float("nan")), per_class


def coco_map(ground_truth: Sequence[GroundTruth], detections: Sequence[Detections],
             num_classes: int, image_sizes: Sequence[tuple[int, int]]) -> tuple[float, float, list[float]]:
    """COCO's bbox metrics with ``faster_coco_eval``: (mAP@[.5:.95], mAP@.5, AP@[.5:.95] per
    class 1..num_classes-1, NaN where a class has no ground truth). Boxes must be normalized;
    ``image_sizes`` (width, height) turn them into pixels, which COCO's area ranges assume."""
    from faster_coco_eval import COCO, COCOeval_faster

    images, annotations, results = [], [], []
    for image_id, ((gt_boxes, gt_labels), (boxes, scores, labels), (width, height)) in enumerate(
            zip(ground_truth, detections, image_sizes)):
        images.append({"id": image_id, "width": int(width), "height": int(height)})
        scale = np.array([width, height, width, height], dtype=np.float64)
        for box, label in zip(np.asarray(gt_boxes) * scale, gt_labels):
            w, h = box[2] - box[0], box[3] - box[1]
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": int(label),
                                "bbox": [box[0], box[1], w, h], "area": w * h, "iscrowd": 0})
        for box, score, label in zip(np.asarray(boxes) * scale, scores, labels):
            results.append({"image_id": image_id, "category_id": int(label), "score": float(score),
                            "bbox": [box[0], box[1], box[2] - box[0], box[3] - box[1]]})
    categories = [{"id": c, "name": str(c)} for c in range(1, num_classes)]
    nan = float("nan")
    if not annotations:
        return nan, nan, [nan] * (num_classes - 1)
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO({"images": images, "annotations": annotations, "categories": categories})
        if not results:
            return 0.0, 0.0, [0.0 if _has_gt(ground_truth, c) else nan for c in range(1, num_classes)]
        evaluator = COCOeval_faster(coco_gt, coco_gt.loadRes(results), "bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    precision = evaluator.eval["precision"]  # [IoU thresholds, recall points, classes, areas, max dets]
    per_class = []
    for k, category in enumerate(evaluator.params.catIds):
        values = precision[:, :, k, 0, -1]
        values = values[values > -1]
        per_class.append(float(values.mean()) if values.size and _has_gt(ground_truth, category) else nan)
    return float(evaluator.stats[0]), float(evaluator.stats[1]), per_class


def _has_gt(ground_truth: Sequence[GroundTruth], class_id: int) -> bool:
    return any((labels == class_id).any() for _, labels in ground_truth)
