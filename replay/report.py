"""A replay's recording as files: what the replay job writes and the dashboard lists.

A replay with an output folder (``cctv replay FILE --camera NAME --out DIR``) leaves three files
that share one name: ``NAME.mp4`` (every frame annotated, H.264), ``NAME.csv`` (per second of video
and class: :data:`CSV_COLUMNS`, then ``in:<line>``, ``out:<line>`` per counting line and
``peak:<zone>``, ``dwell_mean_s:<zone>``, ``dwell_max_s:<zone>`` per zone) and ``NAME.json``
(:class:`ReplayReport`). A taken name becomes ``NAME-1.*``, ``NAME-2.*``, ...
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

CSV_COLUMNS = ("second", "label", "detections", "tracked")
"""``second`` of video (frame index / the file's fps, rounded down), ``label``, ``detections``
(at the class's ``count_min_score``, summed over that second's processed frames), ``tracked``
(distinct objects in view: tracks that count)."""


@dataclass(frozen=True)
class ReplayReport:
    """What a replay found: what the tracker counted while it ran (for a fresh camera, the
    counts of ``cctv status --json``)."""

    camera: str
    source: str
    """The replayed file."""
    frames: int
    """Frames of the file (all of them are in the video)."""
    frames_processed: int
    """Frames ingest published and the workers processed (fewer with ``--fps``)."""
    fps: float
    """The file's frame rate."""
    duration_s: float
    started: float
    """When the job started (Unix seconds)."""
    processing_s: float
    """From the job's start until the recording was written."""
    detections: dict[str, int] = field(default_factory=dict)
    """Detections per label over all processed frames (status ``detections_total``)."""
    tracked: bool = False
    """Whether a tracker followed the camera; the tracking fields are empty otherwise."""
    unique: dict[str, int] = field(default_factory=dict)
    """Objects given a track id, per label (status ``tracking.unique``)."""
    lines: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)
    """``line -> {"in": {label: n}, "out": {label: n}}`` crossings (status ``tracking.lines``)."""
    zones: dict[str, dict[str, int]] = field(default_factory=dict)
    """``zone -> {label: n}`` in the last tracked frame (status ``tracking.zones``)."""
    zones_peak: dict[str, dict[str, int]] = field(default_factory=dict)
    """``zone -> {label: n}``: most in the zone in one frame."""
    dwell: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    """``zone -> {label: {"objects", "mean_s", "max_s"}}``: stays that ended (status
    ``tracking.dwell``)."""
    models: list[str] = field(default_factory=list)
    """Detector specs of the workers that processed the frames (from their heartbeats)."""
    workers: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> "ReplayReport":
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("a replay report is a JSON object")
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class ReplayFiles:
    """The three files of one replay's recording, with its report read back."""

    report: ReplayReport
    json: Path
    video: Path
    csv: Path


def list_recordings(folder: Path) -> list[ReplayFiles]:
    """Finished recordings in ``folder`` (reports whose video and CSV are there), newest first."""
    found = []
    for path in Path(folder).glob("*.json") if Path(folder).is_dir() else ():
        video, csv = path.with_suffix(".mp4"), path.with_suffix(".csv")
        if path.name.startswith(".") or not (video.is_file() and csv.is_file()):
            continue
        try:
            report = ReplayReport.from_json(path.read_bytes())
        except (ValueError, TypeError, OSError):
            continue
        found.append(ReplayFiles(report, path, video, csv))
    return sorted(found, key=lambda r: r.report.started, reverse=True)
