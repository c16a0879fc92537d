"""Plane geometry on normalized points (fractions of the frame, y down)."""

from __future__ import annotations

from typing import Sequence

Point = tuple[float, float]


def anchor(box: Sequence[float], width: int, height: int) -> Point:
    """Bottom centre of a pixel box (x1, y1, x2, y2) as a fraction of the frame: where the
    object stands."""
    return ((box[0] + box[2]) / 2 / width, box[3] / height)


def inside(polygon: Sequence[Point], p: Point) -> bool:
    """Even-odd rule: True when ``p`` is inside ``polygon`` (a list of corners)."""
    x, y = p
    result = False
    for (x1, y1), (x2, y2) in zip(polygon, [*polygon[1:], polygon[0]]):
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            result = not result
    return result
