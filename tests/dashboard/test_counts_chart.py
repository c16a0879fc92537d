"""The Counts view's per-minute charts: a 24-hour axis in the viewer's zone, the minute in
progress apart from the finished ones, seconds apart from counts."""

from __future__ import annotations

import pandas as pd

from dashboard.counts import DWELL_KINDS, minute_chart


def test_the_minute_in_progress_is_not_joined_to_the_line_and_the_clock_is_24_hour():
    now = 1_800_000_000.0 + 30  # half way through a minute
    minutes = [pd.Timestamp(int(now // 60) * 60 - 60 * k, unit="s") for k in (2, 1, 0)]
    table = pd.DataFrame({"minute": minutes, "label": "person", "unique": [4, 5, 1]})
    spec = minute_chart(table, "label", "unique", "unique objects", now).to_dict()
    line, so_far = spec["layer"]
    assert line["encoding"]["x"]["axis"]["format"] == "%H:%M"  # 18:42, never 06:42
    assert line["mark"]["type"] == "line" and so_far["mark"]["type"] == "point"
    rows = next(iter(spec["datasets"].values()))
    assert [r["minute_state"] for r in rows] == ["finished", "finished", "in progress"]
    assert line["transform"][0]["filter"] != so_far["transform"][0]["filter"]
