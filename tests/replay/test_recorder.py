"""replay.recorder on hand-made messages: frames skipped by fps show the latest earlier frame's
objects, the CSV's seconds come from the file's frame index, the report holds what the tracker
counted over the replay (its totals' growth) and the peaks and longest stays of the messages."""

from __future__ import annotations

import csv
from types import SimpleNamespace

import numpy as np

from common.cameras import CameraConfig
from common.counting_rules import LineConfig, ZoneConfig
from common.counts import TrackingCounts
from common.messages import DetectedObject, DetectionMessage
from common.tracks import Crossing, Stay, TrackedObject, TrackMessage
from media.video import VideoInfo, VideoWriter, probe, read_frames
from replay.recorder import Recorder
from replay.tally import counts_since

BOX = (40.0, 40.0, 120.0, 160.0)


def detection(seq: int, objects: list[DetectedObject]) -> DetectionMessage:
    return DetectionMessage("cam", f"{seq + 1}-0", seq, 0.0, 0.0, "w1", 320, 240, objects)


def tracked(seq: int, objects: list[TrackedObject], crossings=(), inside=0,
            stays=()) -> TrackMessage:
    """The tracker's message; its counted detections: one per object."""
    return TrackMessage("cam", f"{seq + 1}-0", seq, 0.0, 320, 240, objects, list(crossings),
                        {"z": {"person": inside} if inside else {}},
                        {"person": len(objects)} if objects else {}, list(stays))


def test_skipped_frames_seconds_and_totals(tmp_path):
    source = tmp_path / "six.mp4"  # 6 frames at 2 fps: 3 seconds; fps=1 publishes 0, 2, 4
    with VideoWriter(source, 2.0) as writer:
        for _ in range(6):
            writer.write(np.full((240, 320, 3), 90, np.uint8))
    person = DetectedObject("person", 1, 0.9, BOX)
    weak = DetectedObject("person", 1, 0.2, BOX)  # below count_min_score: counted nowhere
    follower = SimpleNamespace(
        detections={0: detection(0, [person]), 1: detection(1, [weak]),
                    2: detection(2, [person] * 2)},
        tracks={0: tracked(0, [TrackedObject(7, "person", 1, 0.9, BOX)], inside=1),
                1: tracked(1, [], [Crossing("l", "in", "person", 7)],
                           stays=[Stay("z", "person", 6, 4.0), Stay("z", "person", 5, 2.0)]),
                2: tracked(2, [TrackedObject(7, "person", 1, 0.9, BOX),
                               TrackedObject(8, "person", 1, 0.8, BOX)], inside=2)})
    config = CameraConfig(name="cam", url=str(source),
                          lines=[LineConfig(name="l", points=[(0.0, 0.9), (1.0, 0.9)])],
                          zones=[ZoneConfig(name="z", points=[(0.6, 0.6), (1, 0.6), (1, 1)])])
    earlier = {"det:person": 5, "unique:person": 3, "out:l:person": 2, "dwell_n:z:person": 1,
               "dwell_ms:z:person": 9000, "dwell_max_ms:z:person": 9000}  # a replay before
    before = TrackingCounts.parse(earlier, {}, {})
    after = TrackingCounts.parse(  # what the tracker wrote for these messages
        earlier | {"det:person": 8, "unique:person": 5, "in:l:person": 1, "dwell_n:z:person": 3,
                   "dwell_ms:z:person": 15000}, {"z:person": 2}, {"person": 2})
    recorder = Recorder(follower, [0, 2, 4], probe(source), config, counts_since(before, after))

    assert recorder.write_video(tmp_path / "out.mp4", str(source)) == 6
    frames = [f.astype(int) for f in read_frames(tmp_path / "out.mp4")]

    def change(a: int, b: int) -> float:
        return float(np.abs(frames[a] - frames[b]).mean())
    assert change(1, 0) < change(2, 0) / 3  # frame 1 (skipped) shows frame 0's box
    assert change(3, 2) < change(2, 0) / 3  # frame 3 (skipped) shows frame 2's: no box

    recorder.write_csv(tmp_path / "out.csv", 6)
    with open(tmp_path / "out.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["second"], r["detections"], r["tracked"], r["in:l"], r["peak:z"],
             r["dwell_mean_s:z"], r["dwell_max_s:z"]) for r in rows] == [
        ("0", "1", "1", "0", "1", "0", "0"), ("1", "0", "0", "1", "0", "3.0", "4.0"),
        ("2", "2", "2", "0", "2", "0", "0")]

    report = recorder.report("cam", str(source), 6, 0.0, ["ssdlite-person"])
    assert report.tracked
    assert (report.frames, report.frames_processed, report.duration_s) == (6, 3, 3.0)
    assert report.detections == {"person": 3} and report.unique == {"person": 2}
    assert report.lines == {"l": {"in": {"person": 1}, "out": {}}}
    assert report.zones == {"z": {"person": 2}} and report.zones_peak == {"z": {"person": 2}}
    assert report.dwell == {"z": {"person": {"objects": 2, "mean_s": 3.0, "max_s": 4.0}}}
    assert report.workers == ["w1"] and report.models == ["ssdlite-person"]


def test_without_a_tracker_the_report_sums_the_detections_that_count():
    person = DetectedObject("person", 1, 0.9, BOX)
    weak = DetectedObject("person", 1, 0.2, BOX)
    follower = SimpleNamespace(detections={0: detection(0, [person, weak]),
                                           1: detection(1, [person] * 2)}, tracks={})
    config = CameraConfig(name="cam", url="cam.mp4",
                          lines=[LineConfig(name="l", points=[(0.0, 0.9), (1.0, 0.9)])],
                          zones=[ZoneConfig(name="z", points=[(0.6, 0.6), (1, 0.6), (1, 1)])])
    info = VideoInfo("h264", "yuv420p", 320, 240, 2.0, 2, 2)
    report = Recorder(follower, [0, 1], info, config).report("cam", "cam.mp4", 2, 0.0, [])
    assert not report.tracked and report.detections == {"person": 3} and report.unique == {}
    assert report.lines == {"l": {"in": {}, "out": {}}} and report.zones == {"z": {}}
    assert report.zones_peak == {} and report.dwell == {"z": {}}
