"""Download an Open Images subset for chosen classes, in the tutorial's layout.

    python -m training.download_openimages --class-names "Person, Car, Bus" --data=data/cctv \
        --max-images=4500 --num-workers=2

Fetches the class descriptions and each split's box annotations (cached in ``--data``), keeps
the named classes, limits and balances the images across classes, and downloads them
concurrently with retries. Writes ``sub-<split>-annotations-bbox.csv`` and
``<split>/<ImageID>.jpg``. Every file is written to a temporary name and renamed when complete,
so an interrupted run leaves no half-written file and a rerun resumes where it stopped. The
URLs are settings (flags or ``OPENIMAGES_*`` environment variables).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from tqdm import tqdm

log = logging.getLogger("training.download_openimages")

SPLITS = ("train", "validation", "test")
ANNOTATION_COLUMNS = ["ImageID", "Source", "LabelName", "Confidence", "XMin", "XMax", "YMin", "YMax",
                      "IsOccluded", "IsTruncated", "IsGroupOf", "IsDepiction", "IsInside", "id", "ClassName"]
DEFAULTS = {
    "class_descriptions_url": ("OPENIMAGES_CLASS_DESCRIPTIONS_URL",
                               "https://storage.googleapis.com/openimages/2018_04/class-descriptions-boxable.csv"),
    "annotations_url": ("OPENIMAGES_ANNOTATIONS_URL",
                        "https://storage.googleapis.com/openimages/2018_04/{split}/{split}-annotations-bbox.csv"),
    "images_url": ("OPENIMAGES_IMAGES_URL", "https://open-images-dataset.s3.amazonaws.com/{split}/{image_id}.jpg"),
}


class DownloadError(Exception):
    """A file could not be fetched after all retries (the message says why)."""


def fetch(url: str, dest: Path, retries: int = 3, timeout: float = 30.0, backoff: float = 1.0,
          check_image: bool = False, progress: bool = False) -> None:
    """Download ``url`` to ``dest`` through ``dest.tmp`` + rename; retried with exponential
    backoff on network errors, HTTP errors, truncated bodies and (``check_image``) bytes that
    do not decode as an image. Raises ``DownloadError`` after the last try."""
    tmp = dest.with_name(dest.name + ".tmp")
    reason = ""
    for attempt in range(retries + 1):
        if attempt:
            time.sleep(backoff * 2 ** (attempt - 1))
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response, open(tmp, "wb") as f:
                expected = int(response.headers.get("Content-Length") or -1)
                bar = tqdm(total=expected if expected > 0 else None, unit="B", unit_scale=True,
                           desc=dest.name, disable=not progress, leave=False)
                size = 0
                while chunk := response.read(1 << 20):
                    f.write(chunk)
                    size += len(chunk)
                    bar.update(len(chunk))
                bar.close()
            if expected >= 0 and size != expected:
                reason = f"truncated: got {size} of {expected} bytes"
            elif check_image and cv2.imdecode(np.fromfile(tmp, np.uint8), cv2.IMREAD_COLOR) is None:
                reason = f"not a decodable image ({size} bytes)"
            else:
                os.replace(tmp, dest)
                return
        except urllib.error.HTTPError as exc:
            reason = f"HTTP {exc.code} {exc.reason}"
        except (urllib.error.URLError, OSError) as exc:
            reason = str(getattr(exc, "reason", exc))
        log.debug("%s: try %d failed: %s", url, attempt + 1, reason)
    tmp.unlink(missing_ok=True)
    raise DownloadError(f"{url}: {reason} (after {retries + 1} tries)")


def _is_complete_image(path: Path) -> bool:
    return path.is_file() and cv2.imread(str(path), cv2.IMREAD_REDUCED_GRAYSCALE_8) is not None


def class_ids(descriptions: pd.DataFrame, names: list[str]) -> dict[str, str]:
    """Label id (``/m/...``) of each requested class name, matched case-insensitively."""
    by_name = {name.lower(): (label, name) for label, name in zip(descriptions[0], descriptions[1])}
    missing = [n for n in names if n.lower() not in by_name]
    if missing:
        raise SystemExit(f"unknown Open Images class(es): {', '.join(missing)}; names are as in "
                         "class-descriptions-boxable.csv, e.g. Person, Car, Bus")
    return {by_name[n.lower()][0]: by_name[n.lower()][1] for n in names}


def select_images(annotations: pd.DataFrame, limit: int, seed: int = 0) -> list[str]:
    """At most ``limit`` image ids, balanced: classes take turns, each taking its next image not
    yet chosen (classes in random order each round, images in random order per class)."""
    rng = np.random.default_rng(seed)
    per_class = {c: list(rng.permutation(ids.unique())) for c, ids in annotations.groupby("ClassName")["ImageID"]}
    chosen: dict[str, None] = {}
    while len(chosen) < limit and any(per_class.values()):
        for name in rng.permutation(sorted(per_class)):
            queue = per_class[name]
            while queue and queue[-1] in chosen:
                queue.pop()
            if queue and len(chosen) < limit:
                chosen[queue.pop()] = None
    return list(chosen)


def download(args: argparse.Namespace) -> int:
    """Run the whole download; returns the number of images that failed."""
    data = Path(args.data)
    data.mkdir(parents=True, exist_ok=True)
    names = [n.strip() for n in args.class_names.split(",") if n.strip()]
    descriptions_path = data / "class-descriptions-boxable.csv"
    if not descriptions_path.is_file():
        fetch(args.class_descriptions_url, descriptions_path, args.retries, args.timeout, args.backoff)
    wanted = class_ids(pd.read_csv(descriptions_path, header=None), names)
    per_split = {}
    for split in args.splits:
        source = data / f"{split}-annotations-bbox.csv"
        if not source.is_file():
            log.info("downloading %s annotations", split)
            fetch(args.annotations_url.format(split=split), source, args.retries, args.timeout, args.backoff,
                  progress=True)
        annotations = pd.read_csv(source, dtype={"ImageID": str, "LabelName": str})
        annotations = annotations[annotations["LabelName"].isin(wanted.keys())].copy()
        annotations["id"] = annotations["LabelName"]
        annotations["ClassName"] = annotations["LabelName"].map(wanted)
        per_split[split] = annotations
    total = sum(a["ImageID"].nunique() for a in per_split.values())
    jobs = []
    for split, annotations in per_split.items():
        count = annotations["ImageID"].nunique()
        limit = count if args.max_images <= 0 or total <= args.max_images else round(args.max_images * count / total)
        image_ids = select_images(annotations, limit, args.seed)
        subset = annotations[annotations["ImageID"].isin(image_ids)]
        subset = subset.reindex(columns=ANNOTATION_COLUMNS).sort_values(["ImageID", "ClassName"])
        csv = data / f"sub-{split}-annotations-bbox.csv"
        subset.to_csv(csv.with_name(csv.name + ".tmp"), index=False)
        os.replace(csv.with_name(csv.name + ".tmp"), csv)
        counts = subset.groupby("ClassName")["ImageID"].nunique().to_dict()
        log.info("%s: %d of %d images (%s)", split, len(image_ids), count,
                 ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
        (data / split).mkdir(exist_ok=True)
        jobs += [(split, i) for i in image_ids if not _is_complete_image(data / split / f"{i}.jpg")]
    failures = []
    with ThreadPoolExecutor(max(1, args.num_workers)) as pool:
        futures = {pool.submit(fetch, args.images_url.format(split=split, image_id=image_id),
                               data / split / f"{image_id}.jpg", args.retries, args.timeout, args.backoff,
                               True): image_id for split, image_id in jobs}
        for future in tqdm(as_completed(futures), total=len(futures), desc="images", unit="img"):
            try:
                future.result()
            except DownloadError as exc:
                failures.append(str(exc))
                log.error("%s", exc)
    if failures:
        log.error("%d of %d images failed (the datasets drop missing images); rerun the same command "
                  "to retry them, finished files are kept", len(failures), len(jobs))
    else:
        log.info("done: %d images downloaded to %s", len(jobs), data)
    return len(failures)


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Download Open Images boxes and images for some classes")
    p.add_argument("--class-names", required=True, help='comma-separated, e.g. "Person, Car, Bus"')
    p.add_argument("--data", default="data", help="output folder")
    p.add_argument("--max-images", default=-1, type=int, help="at most this many images over all splits")
    p.add_argument("--num-workers", default=4, type=int, help="concurrent downloads")
    p.add_argument("--splits", default=list(SPLITS), nargs="+", choices=SPLITS)
    p.add_argument("--retries", default=3, type=int, help="retries per file")
    p.add_argument("--timeout", default=30.0, type=float, help="seconds per request")
    p.add_argument("--backoff", default=1.0, type=float, help="first retry delay (doubles each retry)")
    p.add_argument("--seed", default=0, type=int, help="for the image selection")
    for name, (env, default) in DEFAULTS.items():
        p.add_argument("--" + name.replace("_", "-"), default=os.environ.get(env, default),
                       help=f"URL template (env {env})")
    return p


def main(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    return 1 if download(args) else 0


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
