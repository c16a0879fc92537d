import pytest

from tracking.geometry import anchor, crossing, inside, segments_intersect, side

DOWN = ((0.5, 0.0), (0.5, 1.0))  # a line drawn top to bottom: its right side is "in"
RIGHT = ((0.0, 0.5), (1.0, 0.5))  # drawn left to right: "in" is upwards on screen


def test_anchor_is_bottom_centre_as_fractions():
    assert anchor((10, 20, 30, 60), 100, 120) == (0.2, 0.5)


@pytest.mark.parametrize("point, expected", [((0.7, 0.5), -1), ((0.3, 0.5), 1), ((0.5, 0.2), 0)])
def test_side(point, expected):
    assert side(*DOWN, point) == expected


@pytest.mark.parametrize("p, q, expected", [
    ((0.4, 0.5), (0.6, 0.5), True),
    ((0.4, 0.5), (0.5, 0.5), True),   # touching counts
    ((0.4, 1.2), (0.6, 1.2), False),  # crosses the extension below the segment
    ((0.5, 1.1), (0.5, 1.3), False),  # collinear, beyond the end
    ((0.5, 0.8), (0.5, 1.3), True),   # collinear, overlapping
])
def test_segments_intersect(p, q, expected):
    assert segments_intersect(p, q, *DOWN) is expected


@pytest.mark.parametrize("line, before, after, expected", [
    (DOWN, (0.4, 0.5), (0.6, 0.5), "in"),
    (DOWN, (0.6, 0.5), (0.4, 0.5), "out"),
    (DOWN, (0.4, 0.5), (0.45, 0.5), None),
    (DOWN, (0.4, 1.2), (0.6, 1.2), None),  # passes beside the line's end
    (DOWN, (0.4, 0.5), (0.5, 0.5), None),  # onto the line: still out
    (DOWN, (0.5, 0.5), (0.6, 0.5), "in"),  # off the line into the in side
    (RIGHT, (0.5, 0.6), (0.5, 0.4), "in"),
    (RIGHT, (0.5, 0.4), (0.5, 0.6), "out"),
])
def test_crossing_direction(line, before, after, expected):
    assert crossing(*line, before, after) == expected


def test_inside_polygon():
    square = [(0.2, 0.2), (0.8, 0.2), (0.8, 0.8), (0.2, 0.8)]
    assert inside(square, (0.5, 0.5)) and not inside(square, (0.9, 0.5))
    concave = [(0, 0), (1, 0), (1, 1), (0.5, 0.3), (0, 1)]
    assert inside(concave, (0.2, 0.5)) and not inside(concave, (0.5, 0.6))
