"""A replay job with an output folder, run by a real RQ worker against the real Redis, with a real
detection worker and tracker: its annotated video, CSV and report, and bad files that fail."""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import pandas as pd
import pytest
from ffprobe import probe_stream
from rq import SimpleWorker
from rq.serializers import JSONSerializer

from common.cameras import CameraConfig
from common.counting_rules import LineConfig, ZoneConfig
from common.keys import KEYS
from media.video import VideoWriter
from replay.queue import enqueue, job_summary, queue
from replay.report import ReplayReport
from runtime.camera_list import store_camera
from runtime.status import collect_status
from tracking.settings import TrackerSettings
from workers.settings import WorkerSettings

CLIP = range(95, 125)
"""Frames of bikes.mp4 (640x272, 25 fps): pedestrians walk by from frame ~105."""
ROAD = LineConfig(name="road", points=[(0.05, 0.85), (0.95, 0.85)])
RIGHT = ZoneConfig(name="right", points=[(0.5, 0.6), (1.0, 0.6), (1.0, 1.0), (0.5, 1.0)])


@pytest.fixture(scope="module")
def clip(tmp_path_factory, sample_video) -> Path:
    """:data:`CLIP` as an H.264 MP4 (real footage, short enough for 2 cores)."""
    path = tmp_path_factory.mktemp("clip") / "walkers.mp4"
    capture = cv2.VideoCapture(str(sample_video))
    capture.set(cv2.CAP_PROP_POS_FRAMES, CLIP.start)
    with VideoWriter(path, 25.0) as writer:
        for _ in CLIP:
            ok, image = capture.read()
            assert ok, "bikes.mp4 ended early"
            writer.write(image)
    capture.release()
    return path


def run_jobs(client) -> None:
    """Run every queued replay job in this process, as ``cctv rq-worker --burst`` would."""
    SimpleWorker([queue(client)], connection=client, serializer=JSONSerializer).work(burst=True)


@pytest.mark.timeout(300)
def test_replay_writes_video_csv_and_report_that_agree_with_status(
        redis_client, redis_url, clip, tmp_path, monkeypatch):
    from detector import load_detector
    from tracking.service import Tracker
    from workers.service import Worker

    monkeypatch.setenv("REDIS_URL", redis_url)
    store_camera(redis_client, KEYS, CameraConfig(name="walk", url=str(clip), lines=[ROAD],
                                                  zones=[RIGHT]))
    out = tmp_path / "out"
    out.mkdir()
    (out / "walk.mp4").write_bytes(b"an earlier recording")  # taken: the new one is walk-1.*
    stop = threading.Event()
    services = [Worker(redis_client, WorkerSettings(redis_url=redis_url, batch_size=4),
                       load_detector("ssdlite-person", num_threads=1)),
                Tracker(redis_client, TrackerSettings(redis_url=redis_url, tracker_poll_s=0.05))]
    threads = [threading.Thread(target=s.run, args=(stop,)) for s in services]
    for thread in threads:
        thread.start()
    try:
        job = enqueue(redis_client, str(clip), "walk", None, False, 240, str(out))
        run_jobs(redis_client)
        summary = job_summary(job)
        status = collect_status(redis_client, KEYS).to_dict()["cameras"]["walk"]
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)

    assert summary["status"] == "finished", summary.get("error")
    files = {kind: Path(path) for kind, path in summary["result"]["files"].items()}
    assert files == {"video": out / "walk-1.mp4", "csv": out / "walk-1.csv",
                     "report": out / "walk-1.json"}
    assert sorted(p.name for p in out.iterdir()) == [  # no partial files left, nothing replaced
        "walk-1.csv", "walk-1.json", "walk-1.mp4", "walk.mp4"]
    assert (out / "walk.mp4").read_bytes() == b"an earlier recording"

    stream = probe_stream(files["video"])
    assert (stream["codec_name"], stream["pix_fmt"]) == ("h264", "yuv420p")
    assert int(stream["nb_read_frames"]) == len(CLIP)
    assert (stream["width"], stream["height"]) == (640, 272)

    report = ReplayReport.from_json(files["report"].read_text())
    assert (report.camera, report.frames, report.frames_processed) == ("walk", len(CLIP), len(CLIP))
    assert report.fps == 25.0 and report.duration_s == len(CLIP) / 25.0 and report.tracked
    assert report.models == ["ssdlite-person"] and len(report.workers) == 1
    assert report.detections.get("person", 0) > 0, "pedestrians walk through the clip"
    assert report.detections == status["detections_total"]
    assert report.unique == status["tracking"]["unique"] and report.unique.get("person", 0) > 0
    assert report.lines == status["tracking"]["lines"]
    assert report.zones == status["tracking"]["zones"]
    assert report.dwell == status["tracking"]["dwell"]

    table = pd.read_csv(files["csv"])
    assert list(table.columns) == ["second", "label", "detections", "tracked", "in:road",
                                   "out:road", "peak:right", "dwell_mean_s:right",
                                   "dwell_max_s:right"]
    assert sorted(table["second"].unique()) == [0, 1]  # 30 frames at 25 fps
    assert table.groupby("label")["detections"].sum().to_dict() == report.detections
    for direction in ("in", "out"):
        assert table[f"{direction}:road"].sum() == sum(report.lines["road"][direction].values())
    assert (table["tracked"] <= table["label"].map(report.unique)).all()
    assert table["peak:right"].max() == max(report.zones_peak["right"].values(), default=0)
    assert table["dwell_max_s:right"].max() == max(
        (d["max_s"] for d in report.dwell["right"].values()), default=0)


def not_a_video(clip: Path, folder: Path) -> Path:
    path = folder / "notes.mp4"
    path.write_text("meeting notes")
    return path


def cut_short(clip: Path, folder: Path) -> Path:
    """The first half of ``clip``'s bytes: the header still declares every frame."""
    path = folder / "cut.mp4"
    data = clip.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


@pytest.mark.parametrize("make,reason", [
    (not_a_video, "is not a readable video"),
    (cut_short, "is cut short"),
])
def test_a_bad_file_fails_the_job_with_one_line_and_writes_nothing(
        redis_client, redis_url, clip, tmp_path, monkeypatch, make, reason):
    monkeypatch.setenv("REDIS_URL", redis_url)
    path = make(clip, tmp_path)
    out = tmp_path / "out"
    job = enqueue(redis_client, str(path), "bad", None, False, 60, str(out))
    good = enqueue(redis_client, str(clip), "after", 5.0, False, 60, None)  # the queue goes on
    run_jobs(redis_client)
    summary = job_summary(job)
    assert summary["status"] == "failed"
    assert reason in summary["error"] and "\n" not in summary["error"], summary["error"]
    assert not out.exists() or not any(out.iterdir())
    assert redis_client.xlen(KEYS.frames("bad")) == 0  # failed before ingesting anything
    assert job_summary(good)["status"] == "finished"


def test_an_output_folder_that_cannot_be_made_fails_before_ingesting(
        redis_client, redis_url, clip, tmp_path, monkeypatch):
    monkeypatch.setenv("REDIS_URL", redis_url)
    (tmp_path / "taken").write_text("a file, not a folder")
    job = enqueue(redis_client, str(clip), "nowhere", None, False, 60, str(tmp_path / "taken" / "x"))
    run_jobs(redis_client)
    summary = job_summary(job)
    assert summary["status"] == "failed" and "cannot create the output folder" in summary["error"]
    assert redis_client.xlen(KEYS.frames("nowhere")) == 0
