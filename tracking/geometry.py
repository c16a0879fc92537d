"""Plane geometry on normalized points (fractions of the frame, y down)."""

from __future__ import annotations

from typing import Sequence

Point = tuple[float, float]


def anchor(box: Sequence[float], width: int, height: int) -> Point:
    """Bottom centre of a pixel box (x1, y1, x2, y2) as a fraction of the frame: where the
    object stands."""
    return ((box[0] + box[2]) / 2 / width, box[3] / height)


def side(a: Point, b: Point, p: Point) -> int:
    """+1 or -1 for the side of line a->b that ``p`` lies on, 0 on the line (cross product)."""
    cross = (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0])
    return (cross > 1e-12) - (cross < -1e-12)


def segments_intersect(p: Point, q: Point, a: Point, b: Point) -> bool:
    """True when segment p-q meets segment a-b (touching counts)."""
    d1, d2 = side(a, b, p), side(a, b, q)
    d3, d4 = side(p, q, a), side(p, q, b)
    if d1 * d2 > 0 or d3 * d4 > 0:
        return False
    if d1 == d2 == 0:  # collinear: overlap of the projections
        return all(min(p[i], q[i]) <= max(a[i], b[i]) and min(a[i], b[i]) <= max(p[i], q[i])
                   for i in (0, 1))
    return True


def inside(polygon: Sequence[Point], p: Point) -> bool:
    """Even-odd rule: True when ``p`` is inside ``polygon`` (a list of corners)."""
    x, y = p
    result = False
    for (x1, y1), (x2, y2) in zip(polygon, [*polygon[1:], polygon[0]]):
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            result = not result
    return result


def crossing(a: Point, b: Point, before: Point, after: Point) -> str | None:
    """``"in"``, ``"out"`` or None for an anchor moving ``before`` -> ``after`` across line a-b.

    The in side lies 90 degrees counter-clockwise of a -> b on screen (y down): for a line drawn
    top to bottom, the right side. A point on the line counts as out; a crossing needs the motion
    to meet the line segment itself, not its extension.
    """
    was_in, now_in = side(a, b, before) < 0, side(a, b, after) < 0
    if was_in == now_in or not segments_intersect(before, after, a, b):
        return None
    return "in" if now_in else "out"
