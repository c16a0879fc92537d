"""Evaluate a detector on a dataset: VOC mAP@0.5 (pytorch-ssd's ``eval_ssd.py``) and COCO
mAP@[.5:.95] (``faster_coco_eval``), with a per-class table.

    python -m training.eval --model mb1-ssd:models/cctv/mb1-ssd-Epoch-4-Loss-3.2.pth --dataset data/cctv

The model runs through ``detector.load_detector`` exactly as the pipeline serves it. Its classes
are matched to the dataset's by name (case-insensitive); a dataset class the model lacks scores 0.
"""

from __future__ import annotations

import argparse
import json
import math

import numpy as np
from tqdm import tqdm

from detector.api import Detector, load_detector

from .datasets import DetectionDataset, OpenImagesDataset, VOCDataset
from .metrics import coco_map, voc_map


def predict(detector: Detector, dataset: DetectionDataset, batch_size: int = 8
            ) -> tuple[list, list, list[tuple[int, int]]]:
    """Run ``detector`` over ``dataset``: (ground truth, detections in the dataset's class ids,
    image sizes), boxes normalized."""
    by_name = {name.lower(): i for i, name in enumerate(dataset.class_names)}
    ground_truth, detections, sizes = [], [], []
    for start in tqdm(range(0, len(dataset), batch_size), desc="evaluate", unit="batch", leave=False):
        indexes = range(start, min(start + batch_size, len(dataset)))
        frames = [dataset.read_image(i) for i in indexes]
        for i, frame, found in zip(indexes, frames, detector.detect(frames)):
            height, width = frame.shape[:2]
            ground_truth.append(dataset.get_annotation(i)[1:])
            sizes.append((width, height))
            found = [d for d in found if d.label.lower() in by_name]
            scale = np.array([width, height, width, height], dtype=np.float32)
            detections.append((np.array([d.box for d in found], dtype=np.float32).reshape(-1, 4) / scale,
                               np.array([d.score for d in found], dtype=np.float32),
                               np.array([by_name[d.label.lower()] for d in found], dtype=np.int64)))
    return ground_truth, detections, sizes


def evaluate_model(detector: Detector, dataset: DetectionDataset, use_2007_metric: bool = True,
                   iou_threshold: float = 0.5) -> dict:
    """``{"map50", "coco_map", "coco_map50", "classes": [{"name", "ap50", "coco_ap", "objects"}]}``
    (NaN for a class without ground truth)."""
    ground_truth, detections, sizes = predict(detector, dataset)
    num_classes = len(dataset.class_names)
    map50, ap50 = voc_map(ground_truth, detections, num_classes, iou_threshold, use_2007_metric)
    coco, coco50, coco_ap = coco_map(ground_truth, detections, num_classes, sizes)
    objects = np.bincount(np.concatenate([labels for _, labels in ground_truth] + [np.zeros(0, np.int64)]),
                          minlength=num_classes)
    classes = [{"name": name, "ap50": a, "coco_ap": c, "objects": int(n)}
               for name, a, c, n in zip(dataset.class_names[1:], ap50, coco_ap, objects[1:])]
    return {"map50": map50, "coco_map": coco, "coco_map50": coco50, "images": len(dataset), "classes": classes}


def format_table(result: dict) -> str:
    def num(x: float) -> str:
        return "   -  " if math.isnan(x) else f"{x:6.4f}"

    lines = [f"{'class':<20} {'objects':>7} {'AP@0.5':>7} {'AP@[.5:.95]':>11}"]
    lines += [f"{c['name']:<20} {c['objects']:>7} {num(c['ap50']):>7} {num(c['coco_ap']):>11}" for c in result["classes"]]
    lines.append(f"{'mAP':<20} {'':>7} {num(result['map50']):>7} {num(result['coco_map']):>11}")
    return "\n".join(lines)


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="mAP of a detector on an Open Images or VOC dataset")
    p.add_argument("--model", required=True, help="detector spec: mb1-ssd:PATH, ssdlite:PATH, ssdlite-person")
    p.add_argument("--dataset", required=True, help="dataset folder")
    p.add_argument("--dataset-type", default="open_images", choices=["open_images", "voc"])
    p.add_argument("--split", default="test", help="Open Images split to evaluate")
    p.add_argument("--use-2007-metric", default=True, action=argparse.BooleanOptionalAction,
                   help="VOC2007 11-point AP (pytorch-ssd's default); --no-use-2007-metric for all-point")
    p.add_argument("--iou-threshold", default=0.5, type=float)
    p.add_argument("--device", default=None)
    p.add_argument("--json", action="store_true", help="print the result as JSON instead of a table")
    return p


def main(args: argparse.Namespace) -> dict:
    detector = load_detector(args.model, device=args.device, score_threshold=0.01)
    if args.dataset_type == "voc":
        dataset = VOCDataset(args.dataset, is_test=True)
    else:
        dataset = OpenImagesDataset(args.dataset, dataset_type=args.split)
    result = evaluate_model(detector, dataset, args.use_2007_metric, args.iou_threshold)
    print(json.dumps(_json_safe(result)) if args.json else format_table(result))
    return result


def _json_safe(value):
    """NaN (a class without ground truth) -> null, so the output is strict JSON."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


if __name__ == "__main__":
    main(get_args_parser().parse_args())
