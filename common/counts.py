"""Count fields: the one module that names, builds and parses the counters kept in Redis hashes.

A counter's field name says what it counts: :class:`CountField` builds and parses it (``det:<label>``,
``unique:<label>``, ``in|out:<line>:<label>``, ``peak:<zone>:<label>``, ``dwell_n|dwell_ms|
dwell_max_ms:<zone>:<label>``), and the readers below turn whole hashes into typed counts. Workers
write only :data:`FRAMES_PROCESSED`, :data:`FRAMES_SKIPPED`, :data:`LAG_MS` and
:data:`DEAD_LETTERS`; the tracker writes everything else.
Line and zone names never hold ``:`` (settings' ``SHAPE_NAME_PATTERN``); a label may.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Literal, Mapping, Sequence

from .counting_rules import CountingConfig
from .fields import text
from .messages import DetectedObject

FRAMES_PROCESSED = "frames_processed"
"""Workers' ``cctv:stats:{cam}``: frames processed."""
DEAD_LETTERS = "dead_letters"
"""Workers' ``cctv:stats:{cam}``: frame entries dead-lettered."""
FRAMES_SKIPPED = "frames_skipped"
"""Workers' ``cctv:stats:{cam}``: frames of a live camera older than its ``max_lag_s`` when read,
published with the last objects carried instead of detected (also a minute bucket's field)."""
LAG_MS = "lag_ms"
"""A minute bucket's (``cctv:minute``) recent median of capture to detection by the workers,
milliseconds (a value, not a counter)."""
FRAMES = "_frames"
"""A minute bucket's frames (processed, in ``cctv:minute``; tracked, in ``cctv:track-minute``)."""
FRAMES_TRACKED = "frames_tracked"
"""Tracker's ``cctv:track-stats:{cam}``: frames tracked."""

Kind = Literal["det", "unique", "in", "out", "peak", "dwell_n", "dwell_ms", "dwell_max_ms"]
LABEL_KINDS = ("det", "unique")
"""Kinds whose field is ``<kind>:<label>``; the others are ``<kind>:<line or zone>:<label>``."""
PLACE_KINDS = ("in", "out", "peak", "dwell_n", "dwell_ms", "dwell_max_ms")
KINDS = LABEL_KINDS + PLACE_KINDS

Fields = Mapping[Any, Any]


@dataclass(frozen=True)
class CountField:
    """One counter: what (``kind``), of which class (``label``), where (line or zone)."""

    kind: Kind
    label: str
    place: str = ""

    @property
    def name(self) -> str:
        """The hash field name."""
        if self.kind in LABEL_KINDS:
            return f"{self.kind}:{self.label}"
        return f"{self.kind}:{self.place}:{self.label}"

    @classmethod
    def parse(cls, name: bytes | str) -> "CountField | None":
        """The field named ``name``, or None for any other field (``_frames``, totals...)."""
        kind, _, rest = text(name).partition(":")
        if kind in LABEL_KINDS and rest:
            return cls(kind, rest)  # type: ignore[arg-type]
        place, _, label = rest.partition(":")
        if kind in PLACE_KINDS and place and label:
            return cls(kind, label, place)  # type: ignore[arg-type]
        return None


def counted_detections(objects: Sequence[DetectedObject],
                       counting: CountingConfig) -> dict[str, int]:
    """Detections per label at or above their class's ``count_min_score`` (what the tracker
    adds to ``det:<label>``)."""
    counts: dict[str, int] = {}
    for obj in objects:
        if obj.score >= counting.rules(obj.label).count_min_score:
            counts[obj.label] = counts.get(obj.label, 0) + 1
    return counts


def occupancy_field(zone: str, label: str) -> str:
    """A field of ``cctv:zones:{cam}``: objects of ``label`` in ``zone`` now."""
    return f"{zone}:{label}"


def parse_occupancy(fields: Fields) -> dict[str, dict[str, int]]:
    """``cctv:zones:{cam}`` as zone -> label -> objects inside."""
    zones: dict[str, dict[str, int]] = {}
    for key, n in sorted((text(k), int(v)) for k, v in fields.items()):
        zone, _, label = key.partition(":")
        zones.setdefault(zone, {})[label] = n
    return zones


def _ints(fields: Fields) -> dict[str, int]:
    return {text(k): int(v) for k, v in fields.items()}


@dataclass
class LineCounts:
    """Crossings of one line per label, each way."""

    into: dict[str, int] = field(default_factory=dict)
    out: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, dict[str, int]]:
        return {"in": dict(self.into), "out": dict(self.out)}


@dataclass
class Dwell:
    """Time objects of one class spent in one zone: ``objects`` that left it, their total and
    longest stay (seconds)."""

    objects: int = 0
    total_s: float = 0.0
    max_s: float = 0.0

    @property
    def mean_s(self) -> float:
        return self.total_s / self.objects if self.objects else 0.0

    def to_dict(self) -> dict[str, float | int]:
        return {"objects": self.objects, "mean_s": round(self.mean_s, 3),
                "max_s": round(self.max_s, 3)}


@dataclass
class PlaceCounts:
    """Counts by line and zone, read from one hash's fields."""

    detections: dict[str, int] = field(default_factory=dict)
    unique: dict[str, int] = field(default_factory=dict)
    lines: dict[str, LineCounts] = field(default_factory=dict)
    peaks: dict[str, dict[str, int]] = field(default_factory=dict)
    dwell: dict[str, dict[str, Dwell]] = field(default_factory=dict)

    def add(self, count: CountField, n: int) -> None:
        """Take one counter's value."""
        if count.kind == "det":
            self.detections[count.label] = n
        elif count.kind == "unique":
            self.unique[count.label] = n
        elif count.kind in ("in", "out"):
            line = self.lines.setdefault(count.place, LineCounts())
            (line.into if count.kind == "in" else line.out)[count.label] = n
        elif count.kind == "peak":
            self.peaks.setdefault(count.place, {})[count.label] = n
        else:
            dwell = self.dwell.setdefault(count.place, {}).setdefault(count.label, Dwell())
            if count.kind == "dwell_n":
                dwell.objects = n
            elif count.kind == "dwell_ms":
                dwell.total_s = n / 1000
            else:
                dwell.max_s = n / 1000

    @classmethod
    def parse(cls, fields: Fields, lines: Iterable[str] = (), zones: Iterable[str] = ()
              ) -> "PlaceCounts":
        """Every count field of a hash; ``lines`` and ``zones`` are present even when zero."""
        counts = cls(lines={name: LineCounts() for name in lines})
        for zone in zones:
            counts.dwell.setdefault(zone, {})
        for key, n in sorted(_ints(fields).items()):
            parsed = CountField.parse(key)
            if parsed is not None:
                counts.add(parsed, n)
        return counts


@dataclass
class TrackingCounts:
    """A camera's totals from the tracker: ``detections`` (at or above its class's
    ``count_min_score``, summed over frames), ``unique`` objects, line crossings, objects in each
    zone in the last tracked frame (``zones``), ``dwell`` per zone and class, and the objects
    in view in the last tracked frame (``in_view``)."""

    detections: dict[str, int] = field(default_factory=dict)
    unique: dict[str, int] = field(default_factory=dict)
    lines: dict[str, LineCounts] = field(default_factory=dict)
    zones: dict[str, dict[str, int]] = field(default_factory=dict)
    dwell: dict[str, dict[str, Dwell]] = field(default_factory=dict)
    in_view: dict[str, int] = field(default_factory=dict)
    frames: int = 0

    @classmethod
    def parse(cls, stats: Fields, occupancy: Fields, in_view: Fields,
              lines: Iterable[str] = (), zones: Iterable[str] = ()) -> "TrackingCounts":
        """From ``cctv:track-stats:{cam}``, ``cctv:zones:{cam}`` and ``cctv:in-view:{cam}``;
        configured ``lines`` and ``zones`` are present even when zero."""
        zones = list(zones)
        places = PlaceCounts.parse(stats, lines, zones)
        now = {zone: {} for zone in zones} | parse_occupancy(occupancy)
        return cls(places.detections, places.unique, places.lines, now, places.dwell,
                   dict(sorted(_ints(in_view).items())), _ints(stats).get(FRAMES_TRACKED, 0))

    def to_dict(self) -> dict[str, Any]:
        """The ``"tracking"`` entry of ``cctv status --json``."""
        return {"unique": dict(self.unique), "in_view": dict(self.in_view),
                "lines": {name: line.to_dict() for name, line in self.lines.items()},
                "zones": {zone: dict(labels) for zone, labels in self.zones.items()},
                "dwell": {zone: {label: d.to_dict() for label, d in labels.items()}
                          for zone, labels in self.dwell.items()}}


@dataclass
class MinuteCounts:
    """One camera's minute (by capture time): frames processed by the workers, and the
    tracker's detections, unique objects, crossings, peak occupancy and dwell."""

    minute: int
    """Unix minute (seconds // 60)."""
    frames: int = 0
    frames_tracked: int = 0
    counts: PlaceCounts = field(default_factory=PlaceCounts)

    @classmethod
    def parse(cls, minute: int, workers: Fields, tracker: Fields) -> "MinuteCounts":
        """From ``cctv:minute:{cam}:{minute}`` and ``cctv:track-minute:{cam}:{minute}``."""
        return cls(minute, _ints(workers).get(FRAMES, 0), _ints(tracker).get(FRAMES, 0),
                   PlaceCounts.parse(tracker))


KEEPS_UP_RATIO = 0.9
"""Below this ``detected_ratio`` detection falls behind a camera (the page says what to do)."""


@dataclass(frozen=True)
class DetectionPace:
    """How detection keeps up with one camera over its recent minute buckets: ``lag_s``, the
    workers' recent median of capture to detection (None: nothing detected lately), and
    ``detected_ratio``, the share of frames processed that were not skipped for lag (detected,
    or carried because nothing moved; 1.0 without frames)."""

    lag_s: float | None = None
    detected_ratio: float = 1.0

    @classmethod
    def parse(cls, minutes: Sequence[Fields]) -> "DetectionPace":
        """From the ``cctv:minute:{cam}:{minute}`` hashes of recent minutes, oldest first."""
        counts = [_ints(fields) for fields in minutes]
        lag_ms = next((c[LAG_MS] for c in reversed(counts) if LAG_MS in c), None)
        frames = sum(c.get(FRAMES, 0) for c in counts)
        skipped = sum(c.get(FRAMES_SKIPPED, 0) for c in counts)
        return cls(None if lag_ms is None else lag_ms / 1000,
                   round(1 - skipped / frames, 3) if frames else 1.0)


@dataclass
class FrameCounts:
    """What one tracked frame adds to the counters (built by the tracker, written by its Lua
    script): increments of the totals and of the minute, maxima of the totals and of the minute,
    the ``(member, field)`` pairs of the minute's seen set (the field is incremented when the
    member is new), the zone occupancy now (``cctv:zones:{cam}``, replaced) and the objects in
    view now per label (``cctv:in-view:{cam}``, replaced)."""

    totals: dict[str, int] = field(default_factory=dict)
    minute: dict[str, int] = field(default_factory=dict)
    totals_max: dict[str, int] = field(default_factory=dict)
    minute_max: dict[str, int] = field(default_factory=dict)
    seen: list[tuple[str, str]] = field(default_factory=list)
    occupancy: dict[str, int] = field(default_factory=dict)
    in_view: dict[str, int] = field(default_factory=dict)

    def add(self, count: CountField, n: int = 1, minute: bool = True) -> None:
        """Add ``n`` to a counter's total (and with ``minute`` to the minute's)."""
        for into in (self.totals, self.minute) if minute else (self.totals,):
            into[count.name] = into.get(count.name, 0) + n

    def most(self, count: CountField, n: int, totals: bool = True) -> None:
        """Raise the minute's (and with ``totals`` the all-time) maximum of a counter to ``n``."""
        for into in (self.totals_max, self.minute_max) if totals else (self.minute_max,):
            into[count.name] = max(into.get(count.name, 0), n)

    def seen_object(self, track_id: int, label: str) -> None:
        """An object seen in this frame: it counts once per minute in ``unique:<label>``."""
        self.seen.append((f"{track_id}:{label}", CountField("unique", label).name))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
