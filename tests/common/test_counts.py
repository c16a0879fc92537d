"""The count codec: field names built and parsed in one place, hashes read into typed counts, and
no other module formatting count fields."""

import re
from pathlib import Path

import pytest

from common.counts import (CountField, Dwell, FrameCounts, LineCounts, MinuteCounts,
                           TrackingCounts, occupancy_field, parse_occupancy)

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("field, name", [
    (CountField("det", "person"), "det:person"),
    (CountField("unique", "traffic light"), "unique:traffic light"),
    (CountField("in", "car", "door"), "in:door:car"),
    (CountField("out", "car", "door"), "out:door:car"),
    (CountField("peak", "person", "bench"), "peak:bench:person"),
    (CountField("dwell_n", "person", "bench"), "dwell_n:bench:person"),
    (CountField("dwell_ms", "person", "bench"), "dwell_ms:bench:person"),
    (CountField("dwell_max_ms", "person", "bench"), "dwell_max_ms:bench:person"),
    (CountField("in", "a:b", "door"), "in:door:a:b"),  # a label may hold ':'
])
def test_field_names_round_trip(field, name):
    assert field.name == name
    assert CountField.parse(name) == CountField.parse(name.encode()) == field


@pytest.mark.parametrize("name", ["_frames", "frames_tracked", "bad_entries", "det:", "in:door",
                                  "in::person", "peak:bench:", "person"])
def test_other_fields_are_not_counts(name):
    assert CountField.parse(name) is None


def test_totals_and_minutes_parse_into_typed_counts():
    stats = {b"frames_tracked": b"40", b"det:person": b"90", b"unique:person": b"3",
             b"in:door:person": b"2", b"out:door:car": b"1", b"dwell_n:bench:person": b"2",
             b"dwell_ms:bench:person": b"7000", b"dwell_max_ms:bench:person": b"5000"}
    totals = TrackingCounts.parse(stats, {b"bench:person": b"1"}, {b"person": b"2"},
                                  ["door", "gate"], ["bench", "queue"])
    assert totals == TrackingCounts(
        detections={"person": 90}, unique={"person": 3},
        lines={"door": LineCounts({"person": 2}, {"car": 1}), "gate": LineCounts()},
        zones={"bench": {"person": 1}, "queue": {}},
        dwell={"bench": {"person": Dwell(2, 7.0, 5.0)}, "queue": {}}, in_view={"person": 2},
        frames=40)
    assert totals.to_dict() == {
        "unique": {"person": 3}, "in_view": {"person": 2},
        "lines": {"door": {"in": {"person": 2}, "out": {"car": 1}}, "gate": {"in": {}, "out": {}}},
        "zones": {"bench": {"person": 1}, "queue": {}},
        "dwell": {"bench": {"person": {"objects": 2, "mean_s": 3.5, "max_s": 5.0}}, "queue": {}}}
    minute = MinuteCounts.parse(100, {b"_frames": b"12"}, {b"_frames": b"10", b"det:car": b"4",
                                                           b"peak:bench:car": b"2"})
    assert (minute.frames, minute.frames_tracked) == (12, 10)
    assert minute.counts.detections == {"car": 4} and minute.counts.peaks == {"bench": {"car": 2}}


def test_frame_counts_and_occupancy():
    counts = FrameCounts()
    counts.add(CountField("det", "person"), 2)
    counts.add(CountField("unique", "person"), minute=False)
    counts.most(CountField("peak", "person", "bench"), 3, totals=False)
    counts.most(CountField("dwell_max_ms", "person", "bench"), 1500)
    counts.seen_object(7, "person")
    assert counts.totals == {"det:person": 2, "unique:person": 1}
    assert counts.minute == {"det:person": 2}
    assert counts.minute_max == {"peak:bench:person": 3, "dwell_max_ms:bench:person": 1500}
    assert counts.totals_max == {"dwell_max_ms:bench:person": 1500}
    assert counts.seen == [("7:person", "unique:person")]
    assert parse_occupancy({occupancy_field("bench", "person"): 2}) == {"bench": {"person": 2}}


COUNT_FIELD = re.compile(r"""["'](det|unique|dwell_(n|ms|max_ms)):|["']_frames["']|"""
                         r"""["'](in|out|peak):(\{[\w.]+\}:|' \.\.)|\{[\w.]*direction\}:[^"]*:""")
"""Redis count field names (``det:<label>``, ``<kind>:<place>:<label>``...); the replay CSV's
column names (``in:<line>``, ``peak:<zone>``) are another matter."""


def test_nothing_else_formats_count_fields():
    """Every writer and reader of the count hashes goes through common/counts.py."""
    sources = [p for folder in ("common", "workers", "tracking", "dashboard", "api", "ingest",
                                "cctv") for p in (ROOT / folder).rglob("*.py")]
    found = [f"{p.relative_to(ROOT)}:{i}" for p in sources if p.name != "counts.py"
             for i, line in enumerate(p.read_text().splitlines(), 1) if COUNT_FIELD.search(line)]
    assert found == []
