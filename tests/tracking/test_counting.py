from common.messages import Crossing, TrackedObject
from common.settings import LineConfig, ZoneConfig
from tracking.counting import Counter

W, H = 200, 100
GATE = LineConfig(name="gate", points=[(0.5, 0.1), (0.5, 0.9)])  # top to bottom: in = rightwards
PEN = ZoneConfig(name="pen", points=[(0.0, 0.5), (0.3, 0.5), (0.3, 1.0), (0.0, 1.0)])


def at(track_id: int, x: float, y: float, label: str = "person") -> TrackedObject:
    """A 20x20 px box whose anchor (bottom centre) is at pixel (x, y)."""
    return TrackedObject(track_id, label, 1, 0.9, (x - 10, y - 20, x + 10, y))


def run(frames):
    counter = Counter()
    crossings, zones = [], []
    for tracks in frames:
        found, occupancy = counter.count(tracks, W, H, [GATE], [PEN])
        crossings += found
        zones.append(occupancy)
    return crossings, zones


def test_back_and_forth_counts_every_crossing_with_direction():
    xs = [60, 90, 110, 130, 105, 95, 120]  # in, out, in
    crossings, _ = run([[at(7, x, 50, "car")] for x in xs])
    assert crossings == [Crossing("gate", d, "car", 7) for d in ("in", "out", "in")]


def test_passing_beside_the_line_or_standing_on_it_is_not_a_crossing():
    beside = [[at(1, x, 95)] for x in (60, 140, 60)]  # below the line's lower end (y 0.9)
    onto = [[at(2, x, 50)] for x in (80, 100, 100, 80)]  # onto the line and back: always out
    assert run(beside)[0] == [] and run(onto)[0] == []


def test_first_sighting_and_gaps():
    # a track first seen right of the line was never seen crossing it; a track missing for a
    # few frames (lost, then found) counts the crossing between its last and next anchors
    crossings, _ = run([[at(1, 150, 50)], [at(1, 160, 50), at(2, 60, 50)], [], [at(2, 150, 50)]])
    assert crossings == [Crossing("gate", "in", "person", 2)]


def test_zone_occupancy_per_class_every_zone_listed():
    frames = [[at(1, 150, 50)],
              [at(1, 30, 80), at(2, 40, 90, "dog"), at(3, 20, 70)],
              [at(1, 30, 30)]]  # above the pen
    _, zones = run(frames)
    assert zones == [{"pen": {}}, {"pen": {"person": 2, "dog": 1}}, {"pen": {}}]


def test_forget_keeps_only_live_tracks():
    counter = Counter()
    counter.count([at(1, 10, 10), at(2, 20, 20)], W, H, [GATE], [])
    counter.forget({2})
    assert set(counter.anchors) == {2}
