"""Datasets: tutorial semantics, box validation counted in a report, VOC XML, balancing."""

from __future__ import annotations

import math

import numpy as np
import pytest

from training.box_validation import BoxReport, validate_boxes
from training.datasets import OpenImagesDataset, VOCDataset

from openimages_fixtures import write_open_images


def test_validate_boxes_fixes_and_drops_with_counts():
    boxes = np.array([[0.1, 0.1, 0.5, 0.5],      # fine
                      [0.6, 0.7, 0.2, 0.3],      # inverted -> swapped
                      [-0.2, 0.1, 1.3, 0.9],     # out of range -> clipped
                      [0.3, 0.3, 0.3, 0.8],      # zero width -> dropped
                      [math.nan, 0.1, 0.2, 0.2],  # non-finite -> dropped
                      [0.2, math.inf, 0.4, 0.5]])
    report = BoxReport()
    kept, labels = validate_boxes(boxes, np.arange(6), report)
    assert labels.tolist() == [0, 1, 2]
    np.testing.assert_allclose(kept, [[0.1, 0.1, 0.5, 0.5], [0.2, 0.3, 0.6, 0.7], [0, 0.1, 1, 0.9]], atol=1e-6)
    assert report.fixed == {"inverted": 1, "out_of_range": 1}
    assert report.dropped == {"zero_area": 1, "non_finite": 2}
    assert report.boxes_seen == 6 and not report.clean
    assert "dropped 2 non_finite, 1 zero_area" in report.summary()


def test_open_images_dataset_reports_every_fix_and_drop(tmp_path, caplog):
    write_open_images(tmp_path, "train", {
        "a": [("Person", 0.1, 0.1, 0.5, 0.9), ("Car", 0.6, 0.5, 0.9, 0.2)],  # second inverted in y
        "b": [("Car", 0.4, 0.4, 0.4, 0.6)],                                  # only a zero-area box
        "c": [("Person", 0.2, 0.2, 0.7, 0.7)],
    })
    (tmp_path / "train" / "c.jpg").unlink()  # missing image: dropped with a message
    dataset = OpenImagesDataset(tmp_path, dataset_type="train")
    assert dataset.class_names == ["BACKGROUND", "Car", "Person"]
    assert dataset.ids == ["a"]
    assert "missing ImageID c.jpg" in caplog.text
    report = dataset.report
    assert report.fixed == {"inverted": 1}
    assert report.dropped == {"zero_area": 1}
    assert report.images_dropped == {"missing_file": 1, "no_valid_box": 1}
    image, boxes, labels = dataset[0]
    assert image.shape == (96, 128, 3)
    np.testing.assert_allclose(boxes, [[12.8, 9.6, 64.0, 86.4], [76.8, 19.2, 115.2, 48.0]], rtol=1e-5)
    assert labels.tolist() == [2, 1]


def test_validation_set_takes_the_training_classes(tmp_path):
    write_open_images(tmp_path, "train", {"a": [("Person", 0.1, 0.1, 0.5, 0.9)], "b": [("Car", 0.1, 0.1, 0.5, 0.9)]})
    write_open_images(tmp_path, "test", {"c": [("Car", 0.1, 0.1, 0.5, 0.9), ("Bus", 0.2, 0.2, 0.6, 0.6)]})
    train = OpenImagesDataset(tmp_path, dataset_type="train")
    test = OpenImagesDataset(tmp_path, dataset_type="test", class_names=train.class_names)
    assert test.class_names == ["BACKGROUND", "Car", "Person"]
    assert test.get_annotation(0)[2].tolist() == [1]
    assert test.report.dropped == {"unknown_class": 1}


def test_balance_data_keeps_as_many_images_per_class_as_the_rarest(tmp_path):
    images = {f"p{i}": [("Person", 0.1, 0.1, 0.5, 0.9)] for i in range(6)}
    images |= {f"c{i}": [("Car", 0.1, 0.1, 0.5, 0.9)] for i in range(2)}
    write_open_images(tmp_path, "train", images)
    dataset = OpenImagesDataset(tmp_path, dataset_type="train", balance_data=True)
    labels = [dataset.get_annotation(i)[2][0] for i in range(len(dataset))]
    assert sorted(labels) == [1, 1, 2, 2]


def _voc(root, objects_xml: str) -> None:
    for folder in ("Annotations", "JPEGImages", "ImageSets/Main"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    (root / "ImageSets/Main/trainval.txt").write_text("img1\n")
    (root / "JPEGImages/img1.jpg").write_bytes((root.parent / "src.jpg").read_bytes())
    (root / "Annotations/img1.xml").write_text(
        f"<annotation><size><width>200</width><height>100</height><depth>3</depth></size>{objects_xml}</annotation>")


def test_voc_dataset_reads_xml_and_validates(tmp_path):
    import cv2

    cv2.imwrite(str(tmp_path / "src.jpg"), np.zeros((100, 200, 3), np.uint8))
    obj = "<object><name>{}</name><difficult>{}</difficult><bndbox><xmin>{}</xmin><ymin>{}</ymin><xmax>{}</xmax><ymax>{}</ymax></bndbox></object>"
    _voc(tmp_path / "voc", obj.format("person", 0, 21, 11, 101, 51) + obj.format("car", 1, 1, 1, 50, 50)
         + obj.format("dog", 0, 30, 30, 30, 60) + obj.format("car", 0, 150, 20, 250, 80))
    dataset = VOCDataset(tmp_path / "voc")
    _, boxes, labels = dataset.get_annotation(0)
    assert [dataset.class_names[i] for i in labels] == ["person", "car"]
    np.testing.assert_allclose(boxes, [[0.1, 0.1, 0.5, 0.5], [0.745, 0.19, 1.0, 0.79]], atol=1e-6)
    assert dataset.report.dropped == {"difficult": 1, "zero_area": 1}
    assert dataset.report.fixed == {"out_of_range": 1}


def test_missing_annotations_file_says_how_to_get_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="download_openimages"):
        OpenImagesDataset(tmp_path)
