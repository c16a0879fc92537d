"""Each object's counting state in the tracker's snapshot: named in memory, lists on the wire
(``lines``: ``[side, candidate, frames]``; ``zones``: ``[inside, frames, since, first]``), so a
snapshot written by a running tracker loads and is written back unchanged."""

import json

from common.counting_rules import CountingConfig, LineConfig, ZoneConfig
from common.tracks import TrackedObject
from tracking.counting import CameraCounting, LineState, ZoneState

STORED = {
    "3": {"label": "person", "frames": 7, "counted": True, "last_ts": 12.5,
          "lines": {"gate": [-1, 1, 2]}, "zones": {"pen": [1, 0, 10.0, 0.0]}},
    "4": {"label": "car", "frames": 1, "counted": False, "last_ts": 12.5,
          "lines": {"gate": [0, 0, 0]}, "zones": {"pen": [0, 2, 0.0, 12.0]}},
}


def test_a_stored_snapshot_loads_named_and_is_written_back_the_same():
    counting = CameraCounting.load(json.loads(json.dumps(STORED)))
    person = counting.states[3]
    assert person.lines["gate"] == LineState(side=-1, candidate=1, frames=2)
    assert person.zones["pen"] == ZoneState(inside=1, frames=0, since=10.0, first=0.0)
    assert json.dumps(counting.to_dict()) == json.dumps(STORED)


def test_occupied_zones_of_a_track():
    counting = CameraCounting.load(STORED)
    assert counting.occupied_zones(3) == ["pen"]
    assert counting.occupied_zones(4) == [] and counting.occupied_zones(99) == []


def test_state_after_counting_is_plain_json_lists():
    gate = LineConfig(name="gate", points=[(0.5, 0.1), (0.5, 0.9)])
    pen = ZoneConfig(name="pen", points=[(0.0, 0.5), (0.3, 0.5), (0.3, 1.0), (0.0, 1.0)])
    counting = CameraCounting()
    box = (10.0, 60.0, 30.0, 80.0)  # anchor (0.1, 0.8): in the pen, left of the gate
    for ts in range(4):
        counting.count([TrackedObject(1, "person", 1, 0.9, box)], 200, 100, float(ts), [gate],
                       [pen], CountingConfig())
    assert counting.to_dict() == {"1": {
        "label": "person", "frames": 4, "counted": True, "last_ts": 3.0,
        "lines": {"gate": [1, 0, 0]}, "zones": {"pen": [1, 0, 0.0, 0.0]}}}
