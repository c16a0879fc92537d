from tracking.geometry import anchor, inside


def test_anchor_is_bottom_centre_as_fractions():
    assert anchor((10, 20, 30, 60), 100, 120) == (0.2, 0.5)


def test_inside_polygon():
    square = [(0.2, 0.2), (0.8, 0.2), (0.8, 0.8), (0.2, 0.8)]
    assert inside(square, (0.5, 0.5)) and not inside(square, (0.9, 0.5))
    concave = [(0, 0), (1, 0), (1, 1), (0.5, 0.3), (0, 1)]
    assert inside(concave, (0.2, 0.5)) and not inside(concave, (0.5, 0.6))
