"""A replay's counts: the tracker's totals over the replay, and the same counts per second of video.

The tracker keeps a camera's totals (:class:`~common.counts.TrackingCounts`, what ``cctv status``
shows); a replay's share of them is how much they grew while it ran (:func:`counts_since`). They
hold no per-second counts, no peak occupancy and only the all-time longest stay, so
:func:`per_second` derives those, once, from the tracks entries the tracker wrote; the CSV
(:func:`write_csv`) and the report's maxima (:func:`peaks`, :func:`longest_stays`) read that table.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path
from typing import Iterable, Mapping, Protocol, Sequence

from common.counting_rules import CountingConfig
from common.counts import Dwell, LineCounts, PlaceCounts, TrackingCounts, counted_detections
from common.messages import DetectionMessage
from common.tracks import TrackMessage

from .report import CSV_COLUMNS

Seconds = dict[int, PlaceCounts]
"""Counts by second of video: ``unique`` holds the distinct objects tracked in that second,
``peaks`` the most objects in each zone in one frame (every zone the tracker reported)."""


class Results(Protocol):
    """A replay's messages by ``seq`` (:class:`~replay.follower.ReplayFollower`)."""

    detections: dict[int, DetectionMessage]
    tracks: dict[int, TrackMessage]


def _growth(before: Mapping[str, int], after: Mapping[str, int]) -> dict[str, int]:
    """The labels whose count grew, by how much."""
    return {label: n - before.get(label, 0) for label, n in after.items()
            if n > before.get(label, 0)}


def counts_since(before: TrackingCounts, after: TrackingCounts) -> TrackingCounts:
    """What the tracker counted between two reads of one camera's totals: the growth of each sum
    (only the labels, lines and zones that grew) and ``after``'s occupancy and objects in view.
    A stay's ``max_s`` is ``after``'s: the tracker keeps only the all-time longest."""
    lines = {}
    for name, line in after.lines.items():
        old = before.lines.get(name, LineCounts())
        grown = LineCounts(_growth(old.into, line.into), _growth(old.out, line.out))
        if grown.into or grown.out:
            lines[name] = grown
    dwell: dict[str, dict[str, Dwell]] = {}
    for zone, labels in after.dwell.items():
        for label, stays in labels.items():
            old = before.dwell.get(zone, {}).get(label, Dwell())
            if stays.objects > old.objects:
                dwell.setdefault(zone, {})[label] = Dwell(
                    stays.objects - old.objects, stays.total_s - old.total_s, stays.max_s)
    return TrackingCounts(_growth(before.detections, after.detections),
                          _growth(before.unique, after.unique), lines, after.zones, dwell,
                          after.in_view, after.frames - before.frames)


def per_second(results: Results, file_index: Sequence[int], fps: float,
               counting: CountingConfig) -> Seconds:
    """Each second's counts (frame ``seq`` is second ``int(file_index[seq] / fps)``): detections
    that count (a tracked frame's, else those at their class's ``count_min_score``), objects
    tracked, line crossings, peak occupancy and the stays in zones that ended."""
    seconds: Seconds = defaultdict(PlaceCounts)
    ids: dict[tuple[int, str], set[int]] = defaultdict(set)

    def second(seq: int) -> int:
        return int(file_index[seq] / fps)

    for seq, msg in results.detections.items():
        track = results.tracks.get(seq)
        counts = seconds[second(seq)].detections
        for label, n in (track.counts if track else
                         counted_detections(msg.objects, counting)).items():
            counts[label] = counts.get(label, 0) + n
    for seq, track in results.tracks.items():
        place = seconds[second(seq)]
        for obj in track.tracks:
            ids[second(seq), obj.label].add(obj.track_id)
        for c in track.crossings:
            line = place.lines.setdefault(c.line, LineCounts())
            counts = line.into if c.direction == "in" else line.out
            counts[c.label] = counts.get(c.label, 0) + 1
        for zone, labels in track.zones.items():
            peak = place.peaks.setdefault(zone, {})
            for label, n in labels.items():
                peak[label] = max(peak.get(label, 0), n)
        for stay in track.stays:
            stays = place.dwell.setdefault(stay.zone, {}).setdefault(stay.label, Dwell())
            stays.objects += 1
            stays.total_s += stay.seconds
            stays.max_s = max(stays.max_s, stay.seconds)
    for (at, label), seen in ids.items():
        seconds[at].unique[label] = len(seen)
    return dict(seconds)


def peaks(seconds: Seconds) -> dict[str, dict[str, int]]:
    """``zone -> {label: n}``: most objects in the zone in one frame (every zone reported)."""
    found: dict[str, dict[str, int]] = {}
    for place in seconds.values():
        for zone, labels in place.peaks.items():
            peak = found.setdefault(zone, {})
            for label, n in labels.items():
                if n:
                    peak[label] = max(peak.get(label, 0), n)
    return found


def longest_stays(seconds: Seconds) -> dict[tuple[str, str], float]:
    """``(zone, label) -> seconds``: the longest stay that ended."""
    found: dict[tuple[str, str], float] = {}
    for place in seconds.values():
        for zone, labels in place.dwell.items():
            for label, stays in labels.items():
                found[zone, label] = max(found.get((zone, label), 0.0), stays.max_s)
    return found


def _labels(place: PlaceCounts) -> set[str]:
    return {*place.detections, *place.unique, *(label for zones in (place.peaks, place.dwell)
                                                for labels in zones.values() for label in labels),
            *(label for line in place.lines.values() for label in (*line.into, *line.out))}


def _row(place: PlaceCounts, label: str, lines: list[str], zones: list[str]) -> list[float]:
    """One (second, label) row's values after ``second`` and ``label``."""
    row: list[float] = [place.detections.get(label, 0), place.unique.get(label, 0)]
    for name in lines:
        line = place.lines.get(name, LineCounts())
        row += [line.into.get(label, 0), line.out.get(label, 0)]
    for zone in zones:
        stays = place.dwell.get(zone, {}).get(label)
        row += [place.peaks.get(zone, {}).get(label, 0),
                round(stays.mean_s, 3) if stays else 0, stays.max_s if stays else 0]
    return row


def write_csv(path: Path, seconds: Seconds, duration: int, lines: Iterable[str],
              zones: Iterable[str]) -> None:
    """One row per second of the ``duration``-second video and label (:data:`CSV_COLUMNS`, then
    ``in:<line>``, ``out:<line>`` for ``lines`` and those crossed, ``peak:<zone>``,
    ``dwell_mean_s:<zone>`` and ``dwell_max_s:<zone>`` of the stays that ended in that second,
    for ``zones`` and those reported)."""
    line_names = sorted({*lines, *(name for place in seconds.values() for name in place.lines)})
    zone_names = sorted({*zones, *(zone for place in seconds.values() for zone in place.peaks)})
    labels = sorted(set().union(*map(_labels, seconds.values())))
    columns = [*(f"{d}:{line}" for line in line_names for d in ("in", "out")),
               *(f"{kind}:{zone}" for zone in zone_names
                 for kind in ("peak", "dwell_mean_s", "dwell_max_s"))]
    empty = PlaceCounts()
    with open(path, "w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow([*CSV_COLUMNS, *columns])
        for second in range(duration):
            for label in labels:
                out.writerow([second, label, *_row(seconds.get(second, empty), label,
                                                   line_names, zone_names)])
