"""A replay's recording: annotated H.264 video, per-second CSV and JSON report of one file.

Once the workers (and the camera's tracker, when one owns it) processed every frame, the file is
decoded again and each frame drawn with its own objects (a frame skipped by ``fps`` gets the
latest earlier frame's), the camera's lines and zones with their running totals; the counts come
from the same messages the workers and the tracker counted, so they agree with ``cctv status``.
The three files appear together, under one free name, only when all are complete.
"""

from __future__ import annotations

import csv
import logging
import math
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import redis

from common.cameras import CameraConfig, CountingConfig, LineConfig, ZoneConfig
from common.counts import Dwell, counted_detections
from common.fields import MessageError
from common.keys import Keys
from common.records import WorkerHeartbeat
from common.replay_report import CSV_COLUMNS, ReplayReport
from media.draw import draw_scene, place_overlays
from media.files import PendingFiles
from media.video import VideoError, VideoInfo, VideoWriter, probe, read_frames

from .follower import Follower, last_id
from .queue import processed_through

log = logging.getLogger("ingest.recorder")

TRACKS_WAIT_S = 30.0
"""Longest wait for the camera's tracker to reach the last frame once the workers are done."""
POLL_S = 0.1


def check_video(path: str | Path) -> VideoInfo:
    """The file's header, or VideoError when it is not a video or is cut short."""
    info = probe(path)
    if not info.packets:
        raise VideoError(f"{path} holds no video frames")
    if info.frames and info.packets < info.frames:
        raise VideoError(f"{path} is cut short: {info.packets} of the {info.frames} frames it "
                         "declares are there")
    return info


def until(check: Callable[[], bool]) -> None:
    """Poll ``check`` until it holds, riding out a Redis that goes away meanwhile."""
    while True:
        try:
            if check():
                return
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            log.warning("waiting for the replay's results: %s; retrying", exc)
        time.sleep(POLL_S)


def wait_for_results(client: redis.Redis, keys: Keys, camera: str, last_frame_id: str,
                     follower: Follower) -> bool:
    """Block until the workers processed every frame up to ``last_frame_id`` and the follower read
    their messages, then (when a tracker owns the camera, at most :data:`TRACKS_WAIT_S`) until
    its tracks reach the last detected frame. Returns whether a tracker owns the camera."""
    until(lambda: processed_through(client, keys, camera, last_frame_id))
    end = last_id(client, keys.detections(camera))  # written before each frame was acked
    until(lambda: follower.read_past(keys.detections(camera), end))
    if not client.exists(keys.tracker_lock(camera)):
        return False
    last_seq = max(follower.detections, default=-1)
    deadline = time.monotonic() + TRACKS_WAIT_S
    while max(follower.tracks, default=-1) < last_seq and time.monotonic() < deadline:
        time.sleep(POLL_S)
    if max(follower.tracks, default=-1) < last_seq:
        log.warning("camera %s: the tracker did not reach frame %d within %.0f s; recording "
                    "the frames it tracked", camera, last_seq, TRACKS_WAIT_S)
    return True


@dataclass
class Recorder:
    """Turns a finished replay's messages into its three files."""

    follower: Follower
    file_index: Sequence[int]
    """``file_index[seq]``: index in the file of the frame published as ``seq``."""
    info: VideoInfo
    config: CameraConfig | None

    @property
    def fps(self) -> float:
        return self.info.fps or 25.0

    @property
    def lines(self) -> list[LineConfig]:
        return list(self.config.lines) if self.config else []

    @property
    def zones(self) -> list[ZoneConfig]:
        return list(self.config.zones) if self.config else []

    def write_video(self, path: Path, source: str) -> int:
        """Every frame of ``source`` annotated into ``path``; returns the frames decoded."""
        crossed: Counter[tuple[str, str]] = Counter()
        seq, decoded = -1, 0
        with VideoWriter(path, self.fps) as writer:
            for index, image in enumerate(read_frames(source)):
                while seq + 1 < len(self.file_index) and self.file_index[seq + 1] <= index:
                    seq += 1  # the latest processed frame at or before this one
                    track = self.follower.tracks.get(seq)
                    crossed.update((c.line, c.direction) for c in (track.crossings if track else ()))
                writer.write(self.draw(image, seq, crossed))
                decoded = index + 1
        return decoded

    @property
    def counting(self) -> CountingConfig:
        return self.config.counting if self.config else CountingConfig()

    def counted(self, seq: int) -> dict[str, int]:
        """Frame ``seq``'s detections that count: the tracker's, else those at or above their
        class's ``count_min_score``."""
        track, msg = self.follower.tracks.get(seq), self.follower.detections.get(seq)
        if track:
            return track.counts
        return counted_detections(msg.objects, self.counting) if msg else {}

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
        """One row per second of the ``frames``-long video and label (:data:`CSV_COLUMNS`, then
        ``in:<line>``, ``out:<line>``, ``peak:<zone>``, ``dwell_mean_s:<zone>`` and
        ``dwell_max_s:<zone>`` of the stays that ended in that second)."""
        line_names = sorted({line.name for line in self.lines}
                            | {c.line for t in self.follower.tracks.values() for c in t.crossings})
        zone_names = sorted({zone.name for zone in self.zones}
                            | {z for t in self.follower.tracks.values() for z in t.zones})
        rows: dict[tuple[int, str], dict[str, float]] = defaultdict(lambda: defaultdict(int))
        ids: dict[tuple[int, str], set[int]] = defaultdict(set)
        for seq in self.follower.detections:
            for label, n in self.counted(seq).items():
                rows[self.second(seq), label]["detections"] += n
        for seq, track in self.follower.tracks.items():
            second = self.second(seq)
            for obj in track.tracks:
                ids[second, obj.label].add(obj.track_id)
            for c in track.crossings:
                rows[second, c.label][f"{c.direction}:{c.line}"] += 1
            for zone, counts in track.zones.items():
                for label, n in counts.items():
                    row = rows[second, label]
                    row[f"peak:{zone}"] = max(row[f"peak:{zone}"], n)
        for (second, label), labels in self.dwell(lambda seq: self.second(seq)).items():
            for zone, dwell in labels.items():
                rows[second, label][f"dwell_mean_s:{zone}"] = round(dwell.mean_s, 3)
                rows[second, label][f"dwell_max_s:{zone}"] = dwell.max_s
        for key, seen in ids.items():
            rows[key]["tracked"] = len(seen)
        labels = sorted({label for _, label in rows})
        seconds = math.ceil(frames / self.fps)
        columns = [*CSV_COLUMNS[2:], *(f"{d}:{line}" for line in line_names for d in ("in", "out")),
                   *(f"{kind}:{zone}" for zone in zone_names
                     for kind in ("peak", "dwell_mean_s", "dwell_max_s"))]
        with open(path, "w", newline="", encoding="utf-8") as f:
            out = csv.writer(f)
            out.writerow([*CSV_COLUMNS[:2], *columns])
            for second in range(seconds):
                for label in labels:
                    row = rows.get((second, label), {})
                    out.writerow([second, label, *(row.get(c, 0) for c in columns)])

    def second(self, seq: int) -> int:
        return int(self.file_index[seq] / self.fps)

    def dwell(self, key: Callable[[int], Any]) -> dict[tuple[Any, str], dict[str, Dwell]]:
        """Stays in zones that ended, by (``key(seq)``, label) and zone."""
        found: dict[tuple[Any, str], dict[str, Dwell]] = defaultdict(dict)
        for seq, track in self.follower.tracks.items():
            for stay in track.stays:
                dwell = found[key(seq), stay.label].setdefault(stay.zone, Dwell())
                dwell.objects += 1
                dwell.total_s += stay.seconds
                dwell.max_s = max(dwell.max_s, stay.seconds)
        return found

    @property
    def workers(self) -> list[str]:
        """Ids of the workers that processed the frames."""
        return sorted({msg.worker for msg in self.follower.detections.values()})

    def report(self, camera: str, source: str, frames: int, tracked: bool, started: float,
               models: list[str]) -> ReplayReport:
        """The totals: the same sums the workers' and the tracker's counters hold."""
        detections: dict[str, int] = defaultdict(int)
        for seq in self.follower.detections:
            for label, n in self.counted(seq).items():
                detections[label] += n
        ids: dict[str, set[int]] = defaultdict(set)
        lines: dict[str, dict[str, dict[str, int]]] = {
            line.name: {"in": {}, "out": {}} for line in self.lines}
        peak: dict[str, dict[str, int]] = {}
        for track in self.follower.tracks.values():
            for obj in track.tracks:
                ids[obj.label].add(obj.track_id)
            for c in track.crossings:
                counts = lines.setdefault(c.line, {"in": {}, "out": {}})[c.direction]
                counts[c.label] = counts.get(c.label, 0) + 1
            for zone, counts in track.zones.items():
                zone_peak = peak.setdefault(zone, {})
                for label, n in counts.items():
                    zone_peak[label] = max(zone_peak.get(label, 0), n)
        last = self.follower.tracks[max(self.follower.tracks)].zones if self.follower.tracks else {}
        zones: dict[str, dict[str, int]] = {zone.name: {} for zone in self.zones}
        zones.update({z: {k: n for k, n in c.items() if n} for z, c in last.items()})
        dwell: dict[str, dict[str, dict[str, float]]] = {zone.name: {} for zone in self.zones}
        for (_, label), labels in self.dwell(lambda seq: None).items():
            for zone, stays in labels.items():
                dwell.setdefault(zone, {})[label] = stays.to_dict()
        return ReplayReport(
            camera=camera, source=source, frames=frames, frames_processed=len(self.file_index),
            fps=self.fps, duration_s=round(frames / self.fps, 3), started=started,
            processing_s=round(time.time() - started, 3), detections=dict(sorted(detections.items())),
            tracked=tracked, unique={k: len(v) for k, v in sorted(ids.items())}, lines=lines,
            zones=zones, zones_peak={z: {k: n for k, n in c.items() if n} for z, c in peak.items()},
            dwell=dwell, models=models, workers=self.workers)


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
           recorder: Recorder, tracked: bool, started: float) -> dict[str, str]:
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
        report.write_text(recorder.report(camera, source, frames, tracked, started,
                                          models).to_json(), encoding="utf-8")
        paths = files.commit(together=True)
    return dict(zip(("video", "csv", "report"), map(str, paths)))
