"""Bootstrap a training set from your own footage: a detector's confident boxes become labels.

    python -m training.autolabel cam1.mp4 clips/ --model ssdlite-person --out data/mycam --every 10

Samples every N-th frame of each video (and takes each image of a folder), keeps detections at
or above ``--min-score``, and writes the Open Images layout ``training.train`` reads:
``<out>/{train,test}/<ImageID>.jpg`` and ``<out>/sub-{train,test}-annotations-bbox.csv``.
Frames without a kept box are skipped (an image without boxes teaches nothing in this layout).
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np
import pandas as pd

from detector.api import load_detector

from .download_openimages import ANNOTATION_COLUMNS

log = logging.getLogger("training.autolabel")
VIDEO_SUFFIXES = {".mp4", ".avi", ".mkv", ".mov", ".m4v", ".webm", ".mpg", ".mpeg"}
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp"}


def iter_frames(source: Path, every: int) -> Iterator[tuple[str, np.ndarray]]:
    """(image id, BGR frame): every ``every``-th frame of a video, each image of a folder (and
    of videos inside it, sorted), or the image itself."""
    if source.is_dir():
        for path in sorted(source.iterdir()):
            if path.suffix.lower() in VIDEO_SUFFIXES | IMAGE_SUFFIXES:
                yield from iter_frames(path, every)
        return
    if source.suffix.lower() in IMAGE_SUFFIXES:
        frame = cv2.imread(str(source), cv2.IMREAD_COLOR)
        if frame is None:
            log.warning("cannot decode %s: skipped", source)
        else:
            yield source.stem, frame
        return
    capture = cv2.VideoCapture(str(source))
    if not capture.isOpened():
        raise OSError(f"cannot open video {source}: not a video file, or a codec OpenCV lacks")
    index = 0
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            if index % every == 0:
                yield f"{source.stem}_{index:06d}", frame
            index += 1
    finally:
        capture.release()


def autolabel(sources: list[Path], out: Path, model: str = "ssdlite-person", every: int = 10,
              min_score: float = 0.6, split_ratio: float = 0.2, batch_size: int = 8,
              device: str | None = None) -> dict[str, int]:
    """Label the sampled frames of ``sources`` with ``model`` into ``out``; every
    ``round(1 / split_ratio)``-th kept frame goes to the test split. Returns image and box
    counts per split plus ``skipped`` (frames without a kept box)."""
    detector = load_detector(model, device=device, score_threshold=min_score)
    test_every = max(2, round(1 / split_ratio)) if split_ratio > 0 else 0
    rows: dict[str, list[dict]] = {"train": [], "test": []}
    counts = {"train": 0, "test": 0, "skipped": 0}
    for split in rows:
        (out / split).mkdir(parents=True, exist_ok=True)

    def flush(batch: list[tuple[str, np.ndarray]]) -> None:
        for (image_id, frame), detections in zip(batch, detector.detect([f for _, f in batch])):
            if not detections:
                counts["skipped"] += 1
                continue
            kept = counts["train"] + counts["test"]
            split = "test" if test_every and kept % test_every == test_every - 1 else "train"
            counts[split] += 1
            _write_jpeg(out / split / f"{image_id}.jpg", frame)
            height, width = frame.shape[:2]
            for d in detections:
                x1, y1, x2, y2 = d.box
                rows[split].append({"ImageID": image_id, "Source": "autolabel", "LabelName": d.label,
                                    "Confidence": round(d.score, 4), "XMin": x1 / width, "XMax": x2 / width,
                                    "YMin": y1 / height, "YMax": y2 / height, "IsOccluded": 0,
                                    "IsTruncated": 0, "IsGroupOf": 0, "IsDepiction": 0, "IsInside": 0,
                                    "id": d.label, "ClassName": d.label})
        batch.clear()

    batch: list[tuple[str, np.ndarray]] = []
    for source in sources:
        for item in iter_frames(source, every):
            batch.append(item)
            if len(batch) == batch_size:
                flush(batch)
    flush(batch)
    for split, split_rows in rows.items():
        frame = pd.DataFrame(split_rows, columns=ANNOTATION_COLUMNS)
        csv = out / f"sub-{split}-annotations-bbox.csv"
        frame.to_csv(csv.with_name(csv.name + ".tmp"), index=False)
        os.replace(csv.with_name(csv.name + ".tmp"), csv)
        counts[f"{split}_boxes"] = len(split_rows)
    return counts


def _write_jpeg(path: Path, frame: np.ndarray) -> None:
    ok, data = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 95])
    if not ok:
        raise OSError(f"cannot encode {path.name} as JPEG")
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data.tobytes())
    os.replace(tmp, path)


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Auto-label frames of videos/images into an Open Images layout dataset")
    p.add_argument("sources", nargs="+", type=Path, help="videos, images, or folders of them")
    p.add_argument("--model", default="ssdlite-person", help="detector spec (see `python -m detector models`)")
    p.add_argument("--out", required=True, type=Path, help="dataset folder to write")
    p.add_argument("--every", default=10, type=int, help="take every N-th video frame")
    p.add_argument("--min-score", default=0.6, type=float, help="keep detections at or above this score")
    p.add_argument("--split-ratio", default=0.2, type=float, help="share of the kept frames for the test split")
    p.add_argument("--batch-size", default=8, type=int)
    p.add_argument("--device", default=None)
    return p


def main(args: argparse.Namespace) -> dict[str, int]:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    counts = autolabel(args.sources, args.out, args.model, args.every, args.min_score, args.split_ratio,
                       args.batch_size, args.device)
    log.info("wrote %s: %d train and %d test images (%d and %d boxes), %d frames without a box skipped",
             args.out, counts["train"], counts["test"], counts["train_boxes"], counts["test_boxes"],
             counts["skipped"])
    return counts


if __name__ == "__main__":
    main(get_args_parser().parse_args())
