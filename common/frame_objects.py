"""The tracker's objects of one frame as kept beside the recordings (one compact JSON line per
frame, ``runtime/object_log.py``) and as ``GET /api/recordings/{camera}/objects`` answers them.

A line is ``[ts, frame_id, [[track_id, label, score, x1, y1, x2, y2], ...]]``: capture time (Unix
seconds), the frame's stream id, and each box as fractions of the frame (0..1), so a playback
draws it on the video at any size.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from .tracks import TrackMessage

BOX_DIGITS = 4
"""Decimals of a box fraction: a fifth of a pixel on a 1920 px wide frame."""


class ObjectLineError(ValueError):
    """A line that is not a frame's objects (cut short by a crash, or not ours)."""


@dataclass(frozen=True)
class ObjectBox:
    """One tracked object: its id, class, score and box (x1, y1, x2, y2) as fractions."""

    track_id: int
    label: str
    score: float
    box: tuple[float, float, float, float]

    def to_dict(self) -> dict[str, Any]:
        return {"track_id": self.track_id, "label": self.label, "score": self.score,
                "box": list(self.box)}


@dataclass(frozen=True)
class FrameObjects:
    """The objects of one tracked frame at capture time ``ts``."""

    ts: float
    frame_id: str
    boxes: list[ObjectBox] = field(default_factory=list)

    @classmethod
    def of_message(cls, message: TrackMessage) -> "FrameObjects":
        """The objects of a tracked frame, its pixel boxes made fractions of its size."""
        scale = (message.width or 1, message.height or 1) * 2
        return cls(message.ts, message.frame_id, [
            ObjectBox(t.track_id, t.label, round(t.score, 3),
                      tuple(round(min(1.0, max(0.0, v / s)), BOX_DIGITS)  # type: ignore[misc]
                            for v, s in zip(t.box, scale)))
            for t in message.tracks])

    def to_line(self) -> str:
        """The stored line (no newline)."""
        return json.dumps([round(self.ts, 3), self.frame_id,
                           [[b.track_id, b.label, b.score, *b.box] for b in self.boxes]],
                          separators=(",", ":"))

    @classmethod
    def from_line(cls, line: str | bytes) -> "FrameObjects":
        """Parse a stored line; :class:`ObjectLineError` when it is not one."""
        try:
            ts, frame_id, rows = json.loads(line)
            boxes = [ObjectBox(int(r[0]), str(r[1]), float(r[2]),
                               (float(r[3]), float(r[4]), float(r[5]), float(r[6])))
                     for r in rows]
            ts = float(ts)
        except (ValueError, TypeError, IndexError, KeyError) as exc:
            raise ObjectLineError(f"bad objects line {str(line)[:80]!r}: {exc}") from None
        if not math.isfinite(ts):
            raise ObjectLineError(f"bad objects line {str(line)[:80]!r}: ts not finite")
        return cls(ts, str(frame_id), boxes)

    def to_dict(self) -> dict[str, Any]:
        """As the API answers it."""
        return {"ts": self.ts, "frame_id": self.frame_id,
                "boxes": [b.to_dict() for b in self.boxes]}
