"""Detection datasets in the tutorial's two layouts, with boxes validated on load.

- ``OpenImagesDataset``: ``<root>/sub-<split>-annotations-bbox.csv`` + ``<root>/<split>/<ImageID>.jpg``
  (what ``training.download_openimages`` and ``training.autolabel`` write).
- ``VOCDataset``: Pascal VOC (``Annotations/*.xml``, ``JPEGImages/``, ``ImageSets/Main/*.txt``).

Both keep, per image, boxes as normalized (x1, y1, x2, y2) and int64 labels (0 = BACKGROUND), and
return ``(image, boxes, labels)`` with the image RGB uint8 and boxes in pixels before
``transform``/``target_transform`` are applied, as pytorch-ssd's datasets do.
"""

from __future__ import annotations

import logging
import os
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Callable, Sequence

import cv2
import numpy as np
import pandas as pd
import torch

from .box_validation import BoxReport, validate_boxes

log = logging.getLogger(__name__)

VOC_CLASSES = ("BACKGROUND", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat",
               "chair", "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant",
               "sheep", "sofa", "train", "tvmonitor")


class DetectionDataset(torch.utils.data.Dataset):
    """Records ``{"image_id", "path", "boxes", "labels"}`` plus the pytorch-ssd item protocol."""

    def __init__(self, class_names: Sequence[str], records: list[dict], report: BoxReport,
                 transform: Callable | None = None, target_transform: Callable | None = None,
                 balance_data: bool = False, seed: int = 0):
        self.class_names = list(class_names)
        self.class_dict = {name: i for i, name in enumerate(self.class_names)}
        self.transform = transform
        self.target_transform = target_transform
        self.report = report
        self.data = _balance(records, len(self.class_names), seed) if balance_data else records
        self.ids = [r["image_id"] for r in self.data]
        level = logging.INFO if report.clean else logging.WARNING
        log.log(level, "%s: %d images, %s", type(self).__name__, len(self.data), report.summary())

    def __len__(self) -> int:
        return len(self.data)

    def read_image(self, index: int) -> np.ndarray:
        """The image as BGR uint8 (cv2's order, what ``Detector.detect`` takes)."""
        path = self.data[index]["path"]
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise OSError(f"cannot decode image {path}: the file is corrupt or not an image; "
                          "delete it and download again")
        return image

    def get_annotation(self, index: int) -> tuple[str, np.ndarray, np.ndarray]:
        """(image_id, boxes float32[N, 4] normalized corners, labels int64[N])."""
        record = self.data[index]
        return record["image_id"], record["boxes"].copy(), record["labels"].copy()

    def __getitem__(self, index: int) -> tuple:
        image = cv2.cvtColor(self.read_image(index), cv2.COLOR_BGR2RGB)
        _, boxes, labels = self.get_annotation(index)
        height, width = image.shape[:2]
        boxes = boxes * np.array([width, height, width, height], dtype=np.float32)
        if self.transform:
            image, boxes, labels = self.transform(image, boxes, labels)
        if self.target_transform:
            boxes, labels = self.target_transform(boxes, labels)
        return image, boxes, labels


def _balance(records: list[dict], num_classes: int, seed: int) -> list[dict]:
    """pytorch-ssd's ``_balance_data``: as many images per class as the rarest class has."""
    rng = np.random.default_rng(seed)
    per_class = [[i for i, r in enumerate(records) if c in r["labels"]] for c in range(1, num_classes)]
    sizes = [len(ids) for ids in per_class if ids]
    if not sizes:
        return records
    keep: set[int] = set()
    for ids in per_class:
        if ids:
            keep.update(rng.choice(ids, size=min(sizes), replace=False).tolist())
    log.info("balanced to %d images (%d per class)", len(keep), min(sizes))
    return [records[i] for i in sorted(keep)]


def _add_record(records: list[dict], report: BoxReport, image_id: str, path: Path,
                boxes: np.ndarray, labels: np.ndarray) -> None:
    boxes, labels = validate_boxes(boxes, labels, report)
    if len(boxes) == 0:
        report.images_dropped["no_valid_box"] += 1
        return
    records.append({"image_id": image_id, "path": path, "boxes": boxes, "labels": labels.astype(np.int64)})


class OpenImagesDataset(DetectionDataset):
    """The tutorial's ``OpenImagesDataset``: ``dataset_type`` is the split (train, test, validation).

    The class list is ``BACKGROUND`` + the sorted class names of the CSV unless ``class_names``
    is given (pass the training set's to a validation set); rows of other classes are dropped and
    counted. Images whose file is missing are dropped with a message.
    """

    def __init__(self, root: str | os.PathLike, transform: Callable | None = None,
                 target_transform: Callable | None = None, dataset_type: str = "train",
                 balance_data: bool = False, class_names: Sequence[str] | None = None):
        self.root = Path(root)
        self.dataset_type = dataset_type.lower()
        csv = self.root / f"sub-{self.dataset_type}-annotations-bbox.csv"
        if not csv.is_file():
            raise FileNotFoundError(f"{csv} not found: download the data with "
                                    f"`python -m training.download_openimages --data={self.root}`")
        annotations = pd.read_csv(csv, dtype={"ImageID": str, "ClassName": str})
        if class_names is None:
            class_names = ["BACKGROUND"] + sorted(annotations["ClassName"].unique())
        class_dict = {name: i for i, name in enumerate(class_names)}
        report = BoxReport()
        known = annotations["ClassName"].isin(class_dict.keys())
        if not known.all():
            report.dropped["unknown_class"] += int((~known).sum())
            annotations = annotations[known]
        records: list[dict] = []
        for image_id, group in annotations.groupby("ImageID", sort=True):
            path = self.root / self.dataset_type / f"{image_id}.jpg"
            if not path.is_file():
                log.error("missing ImageID %s.jpg - dropping from annotations", image_id)
                report.images_dropped["missing_file"] += 1
                continue
            boxes = group[["XMin", "YMin", "XMax", "YMax"]].to_numpy(dtype=np.float64)
            labels = np.array([class_dict[name] for name in group["ClassName"]], dtype=np.int64)
            _add_record(records, report, str(image_id), path, boxes, labels)
        super().__init__(class_names, records, report, transform, target_transform, balance_data)


class VOCDataset(DetectionDataset):
    """Pascal VOC: image ids from ``ImageSets/Main/{image_set}.txt`` (``trainval`` or ``test``);
    classes from ``labels.txt`` in ``root`` when present, else VOC's 20. ``difficult`` objects
    are skipped unless ``keep_difficult``. Coordinates are 1-based pixels, as VOC writes them."""

    def __init__(self, root: str | os.PathLike, transform: Callable | None = None,
                 target_transform: Callable | None = None, is_test: bool = False,
                 keep_difficult: bool = False, balance_data: bool = False,
                 class_names: Sequence[str] | None = None):
        self.root = Path(root)
        image_set = self.root / "ImageSets" / "Main" / ("test.txt" if is_test else "trainval.txt")
        if not image_set.is_file():
            raise FileNotFoundError(f"{image_set} not found: {self.root} is not a Pascal VOC folder")
        if class_names is None:
            labels_file = self.root / "labels.txt"
            names = [n.strip() for n in labels_file.read_text().splitlines() if n.strip()] if labels_file.is_file() else []
            class_names = ["BACKGROUND"] + [n for n in names if n != "BACKGROUND"] if names else list(VOC_CLASSES)
        class_dict = {name: i for i, name in enumerate(class_names)}
        report = BoxReport()
        records: list[dict] = []
        for image_id in [line.strip() for line in image_set.read_text().splitlines() if line.strip()]:
            path = self.root / "JPEGImages" / f"{image_id}.jpg"
            xml = self.root / "Annotations" / f"{image_id}.xml"
            if not path.is_file() or not xml.is_file():
                log.error("missing %s - dropping image %s", path if not path.is_file() else xml, image_id)
                report.images_dropped["missing_file"] += 1
                continue
            boxes, labels = _read_voc_xml(xml, class_dict, keep_difficult, report)
            _add_record(records, report, image_id, path, boxes, labels)
        super().__init__(class_names, records, report, transform, target_transform, balance_data)


def _read_voc_xml(path: Path, class_dict: dict[str, int], keep_difficult: bool,
                  report: BoxReport) -> tuple[np.ndarray, np.ndarray]:
    """Boxes normalized by the XML's ``<size>`` and their labels."""
    root = ET.parse(path).getroot()
    width, height = (float(root.findtext(f"size/{k}", "nan")) for k in ("width", "height"))
    boxes, labels = [], []
    for obj in root.iter("object"):
        name = (obj.findtext("name") or "").strip()
        if name not in class_dict:
            report.dropped["unknown_class"] += 1
            continue
        if not keep_difficult and obj.findtext("difficult", "0").strip() == "1":
            report.dropped["difficult"] += 1
            continue
        bbox = obj.find("bndbox")
        x1, y1, x2, y2 = (float(bbox.findtext(k, "nan")) - 1 for k in ("xmin", "ymin", "xmax", "ymax"))
        boxes.append([x1 / width, y1 / height, x2 / width, y2 / height])
        labels.append(class_dict[name])
    return np.array(boxes, dtype=np.float64).reshape(-1, 4), np.array(labels, dtype=np.int64)

