"""The Open Images downloader against a local HTTP server serving fixture CSVs and JPEGs."""

from __future__ import annotations

import http.server
import threading
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from training.datasets import OpenImagesDataset
from training.download_openimages import get_args_parser, main

CLASSES = "/m/01g317,Person\n/m/0k4j,Car\n/m/01bjv,Bus\n/m/0dog,Dog\n"


def _jpeg(seed: int) -> bytes:
    image = np.random.default_rng(seed).integers(0, 255, (32, 48, 3), dtype=np.uint8)
    return cv2.imencode(".jpg", image)[1].tobytes()


def _annotations(image_classes: dict[str, list[str]]) -> bytes:
    ids = {"Person": "/m/01g317", "Car": "/m/0k4j", "Bus": "/m/01bjv", "Dog": "/m/0dog"}
    rows = [{"ImageID": i, "Source": "xclick", "LabelName": ids[c], "Confidence": 1, "XMin": 0.1, "XMax": 0.5,
             "YMin": 0.2, "YMax": 0.8, "IsOccluded": 0, "IsTruncated": 0, "IsGroupOf": 0, "IsDepiction": 0,
             "IsInside": 0} for i, classes in image_classes.items() for c in classes]
    return pd.DataFrame(rows).to_csv(index=False).encode()


@pytest.fixture
def server():
    """127.0.0.1 server: ``files`` maps paths to bytes; ``fail_first`` paths answer 500 once;
    ``requests`` counts requests per path."""
    state = {"files": {}, "fail_first": set(), "requests": Counter()}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            state["requests"][self.path] += 1
            if self.path in state["fail_first"] and state["requests"][self.path] == 1:
                self.send_error(500, "flaky")
                return
            body = state["files"].get(self.path)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    state["url"] = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield state
    httpd.shutdown()
    httpd.server_close()


def _args(server, data: Path, *extra: str):
    url = server["url"]
    return get_args_parser().parse_args([
        "--class-names", "Person, Car, Bus", f"--data={data}", "--num-workers=2", "--splits", "train", "test",
        "--class-descriptions-url", f"{url}/classes.csv", "--annotations-url", url + "/{split}-bbox.csv",
        "--images-url", url + "/img/{split}/{image_id}.jpg", "--retries=2", "--backoff=0.01", *extra])


def test_download_selects_balances_retries_and_resumes(server, tmp_path):
    train = {f"p{i}": ["Person"] for i in range(6)} | {"c0": ["Car"], "c1": ["Car", "Person"], "b0": ["Bus"],
                                                       "d0": ["Dog"]}
    test = {"t0": ["Person"], "t1": ["Bus"], "t2": ["Dog"]}
    files = server["files"]
    files["/classes.csv"] = CLASSES.encode()
    files["/train-bbox.csv"], files["/test-bbox.csv"] = _annotations(train), _annotations(test)
    for split, images in (("train", train), ("test", test)):
        for n, image_id in enumerate(images):
            files[f"/img/{split}/{image_id}.jpg"] = _jpeg(n)
    files["/img/train/c0.jpg"] = b"\xff\xd8 not really a jpeg"  # corrupt: retried, then reported
    server["fail_first"].add("/img/train/b0.jpg")                # flaky: a retry succeeds
    data = tmp_path / "cctv"

    assert main(_args(server, data, "--max-images=8")) == 1  # one image failed
    sub = pd.read_csv(data / "sub-train-annotations-bbox.csv")
    chosen = set(sub["ImageID"])
    # 11 images hold a wanted class (9 train, 2 test): 8 shared in proportion, 7 and 1
    assert len(chosen) == 7 and len(set(pd.read_csv(data / "sub-test-annotations-bbox.csv")["ImageID"])) == 1
    assert {"c0", "c1", "b0"} <= chosen  # balanced: every rare class image taken before more persons
    assert set(sub["ClassName"]) == {"Person", "Car", "Bus"} and "d0" not in chosen
    assert server["requests"]["/img/train/b0.jpg"] == 2 and (data / "train" / "b0.jpg").is_file()
    assert server["requests"]["/img/train/c0.jpg"] == 3 and not (data / "train" / "c0.jpg").exists()
    assert not list(data.rglob("*.tmp"))
    assert OpenImagesDataset(data, dataset_type="train").report.images_dropped == {"missing_file": 1}

    # Resume: only the failed image is fetched again, CSVs are not re-downloaded.
    files["/img/train/c0.jpg"] = _jpeg(99)
    before = server["requests"].copy()
    assert main(_args(server, data, "--max-images=8")) == 0
    fetched = {p for p in server["requests"] if server["requests"][p] > before[p]}
    assert fetched == {"/img/train/c0.jpg"}
    assert len(OpenImagesDataset(data, dataset_type="train")) == 7


def test_unknown_class_is_a_clear_error(server, tmp_path):
    server["files"]["/classes.csv"] = CLASSES.encode()
    args = _args(server, tmp_path)
    args.class_names = "Person, Unicorn"
    with pytest.raises(SystemExit, match="unknown Open Images class.*Unicorn"):
        main(args)
