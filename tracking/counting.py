"""Line crossings and zone occupancy of tracked objects, per class, from their anchors.

An object's anchor is the bottom centre of its box (where it stands), as a fraction of the frame,
so lines and zones drawn on the camera image keep their meaning at any frame size.
"""

from __future__ import annotations

from typing import Sequence

from common.messages import Crossing, TrackedObject
from common.settings import LineConfig, ZoneConfig

from .geometry import Point, anchor, crossing, inside


class Counter:
    """Remembers each track's last anchor; :meth:`count` gives one frame's crossings and zone
    occupancy."""

    def __init__(self, anchors: dict[int, Point] | None = None):
        self.anchors: dict[int, Point] = dict(anchors or {})

    def count(self, tracks: Sequence[TrackedObject], width: int, height: int,
              lines: Sequence[LineConfig], zones: Sequence[ZoneConfig]
              ) -> tuple[list[Crossing], dict[str, dict[str, int]]]:
        """(crossings in this frame, zone -> label -> objects inside), every zone present."""
        crossings: list[Crossing] = []
        occupancy: dict[str, dict[str, int]] = {zone.name: {} for zone in zones}
        for track in tracks:
            point = anchor(track.box, width, height)
            before = self.anchors.get(track.track_id)
            self.anchors[track.track_id] = point
            for line in lines if before is not None else ():
                direction = crossing(*line.points, before, point)
                if direction:
                    crossings.append(Crossing(line.name, direction, track.label, track.track_id))
            for zone in zones:
                if inside(zone.points, point):
                    counts = occupancy[zone.name]
                    counts[track.label] = counts.get(track.label, 0) + 1
        return crossings, occupancy

    def forget(self, keep: set[int]) -> None:
        """Drop the anchors of tracks the tracker no longer keeps."""
        self.anchors = {i: p for i, p in self.anchors.items() if i in keep}
