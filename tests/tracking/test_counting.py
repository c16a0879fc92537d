"""The counting rules on hand-made tracks: objects after min_frames, crossings with hysteresis,
zone inertia, dwell, and the object filters."""

import pytest

from common.counting_rules import CountingConfig, LineConfig, ZoneConfig
from common.counts import counted_detections
from common.messages import DetectedObject
from common.tracks import Crossing, Stay, TrackedObject
from tracking.counting import CameraCounting, Counted, kept

W, H = 200, 100
GATE = LineConfig(name="gate", points=[(0.5, 0.1), (0.5, 0.9)])  # top to bottom: in = rightwards
PEN = ZoneConfig(name="pen", points=[(0.0, 0.5), (0.3, 0.5), (0.3, 1.0), (0.0, 1.0)])
RULES = CountingConfig()  # min_frames 3, line_margin 0.02 (4 px here), count_min_score 0.5


def at(track_id: int, x: float, y: float, label: str = "person",
       score: float = 0.9) -> TrackedObject:
    """A 20x20 px box whose anchor (bottom centre) is at pixel (x, y)."""
    return TrackedObject(track_id, label, 1, score, (x - 10, y - 20, x + 10, y))


def run(frames, rules: CountingConfig = RULES) -> list[Counted]:
    """Each frame's counts, frames 1 s apart."""
    counter = CameraCounting()
    return [counter.count(tracks, W, H, float(i), [GATE], [PEN], rules)
            for i, tracks in enumerate(frames)]


def crossings(frames, rules: CountingConfig = RULES) -> list[Crossing]:
    return [c for counted in run(frames, rules) for c in counted.crossings]


def hold(track_id: int, xs, y: float = 50, frames: int = 3, **kw) -> list[list[TrackedObject]]:
    """The track at each x for ``frames`` frames."""
    return [[at(track_id, x, y, **kw)] for x in xs for _ in range(frames)]


def test_back_and_forth_past_the_margin_counts_every_crossing_with_direction():
    assert crossings(hold(7, [60, 130, 60, 130], label="car")) == [
        Crossing("gate", d, "car", 7) for d in ("in", "out", "in")]


def test_jitter_on_the_line_counts_once_per_real_crossing():
    # track 1 stands on the line; its box jitters across it 10 times (within the margin, and
    # past it for fewer than min_frames frames); track 2 walks across once
    jitter = [97, 103, 98, 102, 96, 104, 90, 110, 99, 101, 95, 106, 100, 93, 107, 101, 99, 100]
    walker = [60, 70, 80, 90, 100, 110, 120, 130, 140, 150, 160, 170, 180, 180, 180, 180, 180, 180]
    frames = [[at(1, j, 40), at(2, w, 60)] for j, w in zip(jitter, walker)]
    assert crossings(frames) == [Crossing("gate", "in", "person", 2)]


@pytest.mark.parametrize("xs, y, expected", [
    ([60, 140, 60], 95, []),                          # beside the line's lower end
    ([60, 98, 102, 98], 50, []),                      # onto the line and back, within the margin
    ([150, 160], 50, []),                             # first seen right of the line
    ([60, 100, 140], 50, [("in", 1)]),
    ([140, 100, 60], 50, [("out", 1)]),
])
def test_sides(xs, y, expected):
    assert [(c.direction, c.track_id) for c in crossings(hold(1, xs, y))] == expected


def test_a_track_below_min_frames_counts_nowhere():
    short = [[at(1, 60, 80)], [at(1, 140, 80)]]  # two frames, crossing the line into... nothing
    counted = run(short, CountingConfig(min_frames=1, line_margin=0.0))[1]
    assert counted.crossings == [Crossing("gate", "in", "person", 1)]
    assert all(not c.objects and not c.new and not c.crossings for c in run(short))


def test_only_frames_at_count_min_score_make_an_object():
    weak = hold(1, [60], frames=5, score=0.3)
    assert not any(c.new for c in run(weak))
    counted = run(weak + hold(1, [60], frames=3))
    assert [len(c.new) for c in counted] == [0] * 7 + [1] and counted[-1].objects


def test_zone_inertia_and_dwell():
    flicker = [[at(1, 150, 50)]] * 3 + [[at(1, 30, 80)]] * 2 + [[at(1, 150, 50)]] * 3
    assert all(c.occupancy == {"pen": {}} for c in run(flicker))
    stay = [[at(1, 150, 50)]] * 3 + [[at(1, 30, 80)]] * 5 + [[at(1, 150, 50)]] * 4
    counted = run(stay)
    assert [c.occupancy["pen"].get("person", 0) for c in counted] == \
        [0] * 5 + [1] * 3 + [1, 1, 0, 0]
    assert [s for c in counted for s in c.stays] == [Stay("pen", "person", 1, 5.0)]  # 3 in, 8 out


def test_a_stay_ends_with_the_track():
    counter = CameraCounting()
    for t in range(5):
        counter.count([at(1, 30, 80), at(2, 150, 50)], W, H, float(t), [GATE], [PEN], RULES)
    out = Counted()
    counter.forget({2}, [PEN], out)
    assert set(counter.states) == {2} and out.stays == [Stay("pen", "person", 1, 4.0)]


def test_rules_per_class_and_filters():
    rules = CountingConfig(
        min_area=0.01, masks=[ZoneConfig(name="poster", points=[(0.8, 0.0), (1.0, 0.0),
                                                                  (1.0, 0.5), (0.8, 0.5)])],
        classes={"car": {"count_min_score": 0.7, "max_ratio": 2.0}})
    assert rules.rules("car").min_area == 0.01 and rules.rules("person").count_min_score == 0.5
    objects = [DetectedObject("person", 1, 0.9, (10, 10, 30, 40)),   # kept
               DetectedObject("person", 1, 0.9, (10, 10, 13, 13)),   # too small
               DetectedObject("person", 1, 0.9, (170, 10, 190, 40)),  # in the mask
               DetectedObject("car", 3, 0.6, (50, 50, 90, 70)),       # kept, below car's score
               DetectedObject("car", 3, 0.9, (50, 50, 110, 70))]      # 3 times wider than high
    found = kept(objects, W, H, rules)
    assert found == [objects[0], objects[3]]
    assert counted_detections(found, rules) == {"person": 1}
