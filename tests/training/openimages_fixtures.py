"""Small Open Images layout datasets written on the fly (shared by the training tests)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from training.download_openimages import ANNOTATION_COLUMNS


def write_open_images(root: Path, split: str, images: dict[str, list[tuple]], size=(96, 128)) -> None:
    """Write ``<root>/<split>/<id>.jpg`` (a grey image with a filled rectangle per box) and
    ``sub-<split>-annotations-bbox.csv`` from ``{image_id: [(class, x1, y1, x2, y2), ...]}``
    (normalized boxes, any values: degenerate ones included)."""
    (root / split).mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(len(images))
    rows = []
    height, width = size
    for image_id, boxes in images.items():
        image = np.full((height, width, 3), 90, np.uint8)
        for name, x1, y1, x2, y2 in boxes:
            if np.isfinite([x1, y1, x2, y2]).all():
                color = (40, 200, 240) if name == "Person" else (200, 60, 30)
                p1 = (int(min(x1, x2) * width), int(min(y1, y2) * height))
                p2 = (int(max(x1, x2) * width), int(max(y1, y2) * height))
                cv2.rectangle(image, p1, p2, color, -1)
            rows.append({"ImageID": image_id, "Source": "test", "LabelName": "/m/" + name, "Confidence": 1,
                         "XMin": x1, "XMax": x2, "YMin": y1, "YMax": y2, "ClassName": name})
        image += rng.integers(0, 12, image.shape, dtype=np.uint8)
        cv2.imwrite(str(root / split / f"{image_id}.jpg"), image)
    pd.DataFrame(rows).reindex(columns=ANNOTATION_COLUMNS).to_csv(root / f"sub-{split}-annotations-bbox.csv", index=False)
