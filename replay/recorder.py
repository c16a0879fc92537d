"""A replay's recording: annotated H.264 video, per-second CSV and JSON report of one file.

Once the workers (and the camera's tracker, when one owns it) processed every frame, the file is
decoded again and each frame drawn with its own objects (a frame skipped by ``fps`` gets the
latest earlier frame's), the camera's lines and zones with their running totals. The report's
counts are what the tracker counted over the replay, the CSV's the same per second
(:mod:`replay.tally`), so they agree with ``cctv status``. The three files appear together,
under one free name, only when all are complete.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Sequence

import numpy as np
import redis

from common.cameras import CameraConfig
from common.counting_rules import CountingConfig, LineConfig, ZoneConfig
from common.counts import TrackingCounts
from common.fields import MessageError
from common.keys import Keys
from common.records import WorkerHeartbeat
from media.draw import draw_scene, place_overlays
from media.files import PendingFiles
from media.video import VideoError, VideoInfo, VideoWriter, probe, read_frames

from .report import ReplayReport
from .tally import Results, Seconds, longest_stays, peaks, per_second, write_csv


def check_video(path: str | Path) -> VideoInfo:
    """The file's header, or VideoError when it is not a video or is cut short."""
    info = probe(path)
    if not info.packets:
        raise VideoError(f"{path} holds no video frames")
    if info.frames and info.packets < info.frames:
        raise VideoError(f"{path} is cut short: {info.packets} of the {info.frames} frames it "
                         "declares are there")
    return info


@dataclass
class Recorder:
    """Turns a finished replay's messages and the tracker's counts into its three files."""

    follower: Results
    file_index: Sequence[int]
    """``file_index[seq]``: index in the file of the frame published as ``seq``."""
    info: VideoInfo
    config: CameraConfig | None
    tracker: TrackingCounts | None = None
    """What the tracker counted over the replay (:func:`~replay.tally.counts_since`); None when
    no tracker owns the camera."""
    seconds: Seconds = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.seconds = per_second(self.follower, self.file_index, self.fps, self.counting)

    @property
    def fps(self) -> float:
        return self.info.fps or 25.0

    @property
    def lines(self) -> list[LineConfig]:
        return list(self.config.lines) if self.config else []

    @property
    def zones(self) -> list[ZoneConfig]:
        return list(self.config.zones) if self.config else []

    @property
    def counting(self) -> CountingConfig:
        return self.config.counting if self.config else CountingConfig()

    def write_video(self, path: Path, source: str) -> int:
        """Every frame of ``source`` annotated into ``path``; returns the frames decoded."""
        crossed: Counter[tuple[str, str]] = Counter()
        seq, decoded = -1, 0
        with VideoWriter(path, self.fps) as writer:
            for index, image in enumerate(read_frames(source)):
                while seq + 1 < len(self.file_index) and self.file_index[seq + 1] <= index:
                    seq += 1  # the latest processed frame at or before this one
                    track = self.follower.tracks.get(seq)
                    crossed.update((c.line, c.direction)
                                   for c in (track.crossings if track else ()))
                writer.write(self.draw(image, seq, crossed))
                decoded = index + 1
        return decoded

    def draw(self, image: np.ndarray, seq: int, crossed: Counter[tuple[str, str]]) -> np.ndarray:
        """``image`` with frame ``seq``'s objects (tracked ones when it was tracked, else the
        detections at their class's ``count_min_score``), the lines with their crossings so far
        and the zones with the objects inside."""
        track, msg = self.follower.tracks.get(seq), self.follower.detections.get(seq)
        lines, zones = place_overlays(self.lines, self.zones, crossed,
                                      track.zones if track else {})
        objects = track.tracks if track else [
            o for o in (msg.objects if msg else [])
            if o.score >= self.counting.rules(o.label).count_min_score]
        shown = track or msg
        return draw_scene(image, objects, (shown.width, shown.height) if shown else None, lines,
                          zones)

    def write_csv(self, path: Path, frames: int) -> None:
        """The per-second table of the ``frames``-long video (:func:`replay.tally.write_csv`)."""
        write_csv(path, self.seconds, math.ceil(frames / self.fps),
                  [line.name for line in self.lines], [zone.name for zone in self.zones])

    @property
    def workers(self) -> list[str]:
        """Ids of the workers that processed the frames."""
        return sorted({msg.worker for msg in self.follower.detections.values()})

    def report(self, camera: str, source: str, frames: int, started: float,
               models: list[str]) -> ReplayReport:
        """The totals: what the tracker counted over the replay (without a tracker, the
        detections that count in the workers' messages), and the peaks and longest stays of
        its tracks entries; every configured line and zone is present."""
        counts = self.tracker or TrackingCounts()
        if self.tracker:
            detections = counts.detections
        else:
            detections = {}
            for place in self.seconds.values():
                for label, n in place.detections.items():
                    detections[label] = detections.get(label, 0) + n
        lines = {line.name: {"in": {}, "out": {}} for line in self.lines}
        lines |= {name: line.to_dict() for name, line in counts.lines.items()}
        zones: dict[str, dict[str, int]] = {zone.name: {} for zone in self.zones}
        zones |= {zone: {label: n for label, n in labels.items() if n}
                  for zone, labels in counts.zones.items()}
        longest = longest_stays(self.seconds)
        dwell: dict[str, dict[str, dict[str, float]]] = {zone.name: {} for zone in self.zones}
        for zone, labels in counts.dwell.items():
            dwell[zone] = {label: replace(stays, max_s=longest.get((zone, label), 0.0)).to_dict()
                           for label, stays in labels.items()}
        return ReplayReport(
            camera=camera, source=source, frames=frames, frames_processed=len(self.file_index),
            fps=self.fps, duration_s=round(frames / self.fps, 3), started=started,
            processing_s=round(time.time() - started, 3),
            detections=dict(sorted(detections.items())), tracked=self.tracker is not None,
            unique=dict(sorted(counts.unique.items())),
            lines=lines, zones=zones, zones_peak=peaks(self.seconds), dwell=dwell, models=models,
            workers=self.workers)


def worker_models(client: redis.Redis, keys: Keys, workers: list[str]) -> list[str]:
    """Detector specs of ``workers`` that are still alive (their heartbeats say)."""
    found = set()
    for worker in workers:
        fields = client.hgetall(keys.worker(worker))
        try:
            model = WorkerHeartbeat.from_fields(fields).model if fields else ""
        except MessageError:
            model = ""
        if model:
            found.add(model)
    return sorted(found)


def record(client: redis.Redis, keys: Keys, camera: str, source: str, out: Path,
           recorder: Recorder, started: float) -> dict[str, str]:
    """Write ``out/CAMERA.{mp4,csv,json}`` (or ``CAMERA-n.*``); returns the paths by kind."""
    with PendingFiles(out) as files:
        video, table, report = (files.reserve(f"{camera}{suffix}")
                                for suffix in (".mp4", ".csv", ".json"))
        frames = recorder.write_video(video, source)
        if recorder.info.frames and frames < recorder.info.frames:
            raise VideoError(f"{source} is cut short: {frames} of the {recorder.info.frames} "
                             "frames it declares decode")
        recorder.write_csv(table, frames)
        models = worker_models(client, keys, recorder.workers)
        report.write_text(recorder.report(camera, source, frames, started,
                                          models).to_json(), encoding="utf-8")
        paths = files.commit(together=True)
    return dict(zip(("video", "csv", "report"), map(str, paths)))
