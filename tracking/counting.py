"""Counting rules: which detections count, when a track is an object, line crossings with
hysteresis, zone occupancy with inertia, and dwell time in zones, per class.

Each rule is one class that reads a frame's tracks and the per-track :class:`ObjectState`, and
adds to the frame's :class:`Counted`; its counters are named by :mod:`common.counts`. An object's
anchor is the bottom centre of its box (where it stands), as a fraction of the frame, so lines,
zones and masks drawn on the camera image keep their meaning at any frame size.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from common.counting_rules import CountingConfig, CountRules, LineConfig, ZoneConfig
from common.messages import DetectedObject
from common.tracks import Crossing, Stay, TrackedObject

from .geometry import Point, anchor, inside


def kept(objects: Sequence[DetectedObject], width: int, height: int,
         counting: CountingConfig) -> list[DetectedObject]:
    """The detections the object filters keep: box area within ``min_area``..``max_area`` and
    width / height at most ``max_ratio``, anchor outside every mask."""
    found = []
    for obj in objects:
        rules = counting.rules(obj.label)
        x1, y1, x2, y2 = obj.box
        w, h = max(0.0, x2 - x1), max(0.0, y2 - y1)
        area = w * h / (width * height)
        if not rules.min_area <= area <= rules.max_area:
            continue
        if rules.max_ratio is not None and (h == 0 or w / h > rules.max_ratio):
            continue
        point = anchor(obj.box, width, height)
        if any(inside(mask.points, point) for mask in rules.masks):
            continue
        found.append(obj)
    return found


@dataclass(slots=True)
class LineState:
    """One object's side of one line. In the snapshot: ``[side, candidate, frames]``."""

    side: int = 0
    """Confirmed side: -1 in, +1 out, 0 not known yet."""
    candidate: int = 0
    """The other side the object is on now (0: none)."""
    frames: int = 0
    """Frames in a row on ``candidate``."""

    def to_list(self) -> list[int]:
        return [self.side, self.candidate, self.frames]


@dataclass(slots=True)
class ZoneState:
    """One object's stay in one zone. In the snapshot: ``[inside, frames, since, first]``."""

    inside: int = 0
    """1 while the object occupies the zone, else 0."""
    frames: int = 0
    """Frames in a row on the other side (inside when out, outside when in)."""
    since: float = 0.0
    """Capture time the object entered (its stay's start)."""
    first: float = 0.0
    """Capture time of the first of those ``frames`` (when the object entered or left)."""

    def to_list(self) -> list[float]:
        return [self.inside, self.frames, self.since, self.first]


@dataclass(slots=True)
class ObjectState:
    """What the rules remember of one track; :meth:`to_dict` is its JSON in the tracker's
    snapshot."""

    label: str
    frames: int = 0
    """Frames seen at or above ``count_min_score``."""
    counted: bool = False
    last_ts: float = 0.0
    lines: dict[str, LineState] = field(default_factory=dict)
    zones: dict[str, ZoneState] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "frames": self.frames, "counted": self.counted,
                "last_ts": self.last_ts,
                "lines": {name: sides.to_list() for name, sides in self.lines.items()},
                "zones": {name: stay.to_list() for name, stay in self.zones.items()}}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ObjectState":
        return cls(data["label"], data["frames"], data["counted"], data["last_ts"],
                   {name: LineState(*sides) for name, sides in data["lines"].items()},
                   {name: ZoneState(*stay) for name, stay in data["zones"].items()})


@dataclass
class Counted:
    """One frame's counts: the objects in view (tracks that count), objects that first
    counted, crossings, zone occupancy and the stays in zones that ended."""

    objects: list[TrackedObject] = field(default_factory=list)
    new: list[TrackedObject] = field(default_factory=list)
    crossings: list[Crossing] = field(default_factory=list)
    occupancy: dict[str, dict[str, int]] = field(default_factory=dict)
    stays: list[Stay] = field(default_factory=list)


class Objects:
    """A track is an object once seen ``min_frames`` frames at or above ``count_min_score``;
    a track that never gets there counts nowhere."""

    def update(self, track: TrackedObject, state: ObjectState, rules: CountRules,
               out: Counted) -> None:
        if track.score >= rules.count_min_score:
            state.frames += 1
        if not state.counted and state.frames >= rules.min_frames:
            state.counted = True
            out.new.append(track)
        if state.counted:
            out.objects.append(track)


class LineCrossings:
    """A crossing counts once the object has been ``line_margin`` past the line, beside the
    segment, for ``min_frames`` frames; jitter on the line never counts and a return counts
    only once it is as far on the other side. Walking round an end is not a crossing."""

    def __init__(self, line: LineConfig):
        self.line = line

    def side(self, point: Point, margin: float) -> int | None:
        """-1 (in side), +1 (out side), 0 (within ``margin`` of the line), None (past an end)."""
        (ax, ay), (bx, by) = self.line.points
        dx, dy = bx - ax, by - ay
        length2 = dx * dx + dy * dy
        t = ((point[0] - ax) * dx + (point[1] - ay) * dy) / length2
        if not 0.0 <= t <= 1.0:
            return None
        distance = (dx * (point[1] - ay) - dy * (point[0] - ax)) / length2 ** 0.5
        return 0 if abs(distance) <= margin else (1 if distance > 0 else -1)

    def update(self, track: TrackedObject, point: Point, state: ObjectState, rules: CountRules,
               out: Counted) -> None:
        sides = state.lines.setdefault(self.line.name, LineState())
        now = self.side(point, rules.line_margin)
        if now is None:
            sides.side = sides.candidate = sides.frames = 0
        elif now == 0:
            return
        elif sides.side == 0:
            sides.side, sides.candidate, sides.frames = now, 0, 0
        elif now == sides.side:
            sides.candidate = sides.frames = 0
        else:
            sides.frames = sides.frames + 1 if sides.candidate == now else 1
            sides.candidate = now
            if sides.frames >= rules.min_frames:
                sides.side, sides.candidate, sides.frames = now, 0, 0
                if state.counted:
                    out.crossings.append(Crossing(self.line.name, "in" if now < 0 else "out",
                                                  track.label, track.track_id))


class ZoneOccupancy:
    """An object occupies a zone once its anchor has been inside for ``min_frames`` frames,
    and leaves it after as many frames outside; its stay (first frame in to first frame out, or
    to its last sighting when the track ends) is the dwell time."""

    def __init__(self, zone: ZoneConfig):
        self.zone = zone

    def update(self, track: TrackedObject, point: Point, ts: float, state: ObjectState,
               rules: CountRules, out: Counted) -> None:
        stay = state.zones.setdefault(self.zone.name, ZoneState())
        if inside(self.zone.points, point) == bool(stay.inside):
            stay.frames = 0
        else:
            stay.first = stay.first if stay.frames else ts
            stay.frames += 1
            if stay.frames >= rules.min_frames:
                if stay.inside and state.counted:
                    out.stays.append(Stay(self.zone.name, track.label, track.track_id,
                                          round(stay.first - stay.since, 3)))
                stay.inside, stay.since = (0, 0.0) if stay.inside else (1, stay.first)
                stay.frames, stay.first = 0, 0.0
        if stay.inside and state.counted:
            labels = out.occupancy[self.zone.name]
            labels[track.label] = labels.get(track.label, 0) + 1

    def end(self, track_id: int, state: ObjectState, out: Counted) -> None:
        """A track the tracker dropped: a stay it had in the zone ends at its last sighting."""
        stay = state.zones.get(self.zone.name)
        if stay and stay.inside and state.counted:
            out.stays.append(Stay(self.zone.name, state.label, track_id,
                                  round(state.last_ts - stay.since, 3)))


class CameraCounting:
    """The counting rules of one camera run over its tracks, with each track's
    :class:`ObjectState`; :meth:`count` gives one frame's counts."""

    def __init__(self, states: dict[int, ObjectState] | None = None):
        self.states: dict[int, ObjectState] = dict(states or {})

    def count(self, tracks: Sequence[TrackedObject], width: int, height: int, ts: float,
              lines: Sequence[LineConfig], zones: Sequence[ZoneConfig],
              counting: CountingConfig) -> Counted:
        """This frame's counts; every zone is present in ``occupancy``."""
        out = Counted(occupancy={zone.name: {} for zone in zones})
        objects, crossings = Objects(), [LineCrossings(line) for line in lines]
        occupancy = [ZoneOccupancy(zone) for zone in zones]
        for track in tracks:
            state = self.states.setdefault(track.track_id, ObjectState(track.label))
            rules, point = counting.rules(track.label), anchor(track.box, width, height)
            state.last_ts = ts
            objects.update(track, state, rules, out)
            for line in crossings:
                line.update(track, point, state, rules, out)
            for zone in occupancy:
                zone.update(track, point, ts, state, rules, out)
        return out

    def forget(self, keep: set[int], zones: Sequence[ZoneConfig], out: Counted) -> None:
        """Drop the state of tracks the tracker no longer keeps, ending their stays in ``out``."""
        for track_id in [i for i in self.states if i not in keep]:
            for zone in zones:
                ZoneOccupancy(zone).end(track_id, self.states[track_id], out)
            del self.states[track_id]

    def occupied_zones(self, track_id: int) -> list[str]:
        """The zones the track occupies now (none for a track without counting state)."""
        state = self.states.get(track_id)
        return [name for name, stay in state.zones.items() if stay.inside] if state else []

    def to_dict(self) -> dict[str, Any]:
        """Every track's state, as the snapshot's ``objects``."""
        return {str(i): s.to_dict() for i, s in self.states.items()}

    @classmethod
    def load(cls, data: dict[str, Any]) -> "CameraCounting":
        return cls({int(i): ObjectState.from_dict(s) for i, s in data.items()})
