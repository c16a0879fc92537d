"""The Counts view: what each camera counted (objects, line crossings, zones) and the last hour
per minute, charted on a 24-hour clock in the viewer's time zone.

Lines join finished minutes only; the minute in progress is a hollow point of its own (joined,
it would end every line with a false drop). Seconds spent in zones get their own chart, apart
from counts.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import altair as alt
import pandas as pd
import redis
import streamlit as st

from common.counts import TrackingCounts
from runtime.status import Status

from . import data
from .settings import DashboardSettings

DWELL_KINDS = ("mean dwell (s)", "max dwell (s)")
"""Rows of the places table that are seconds, not counts."""

MEASURES = {"unique objects": "unique", "average in view (per frame)": "per_frame",
            "detections summed over frames": "detections"}


def minute_chart(table: pd.DataFrame, series: str, value: str, title: str,
                 now: float) -> alt.LayerChart:
    """A line per ``series`` over ``table``'s finished minutes (UTC, drawn in the viewer's time
    zone on a 24-hour axis) and a hollow point for the minute in progress at ``now``; minutes
    without a row count as 0."""
    wide = table.pivot_table(index="minute", columns=series, values=value, aggfunc="sum")
    long = wide.fillna(0).reset_index().melt(id_vars="minute", var_name=series, value_name=value)
    current = long["minute"] >= pd.Timestamp(int(now // 60) * 60, unit="s")
    long = long.assign(minute_state=current.map({True: "in progress", False: "finished"}))
    base = alt.Chart(long).encode(
        x=alt.X("minute:T", title="minute (your time zone)", axis=alt.Axis(format="%H:%M")),
        y=alt.Y(f"{value}:Q", title=title),
        color=alt.Color(f"{series}:N", title=None),
        tooltip=[alt.Tooltip("minute:T", format="%Y-%m-%d %H:%M"), "minute_state:N",
                 f"{series}:N", f"{value}:Q"])
    finished = base.transform_filter(alt.datum.minute_state == "finished")
    so_far = base.transform_filter(alt.datum.minute_state == "in progress")
    return alt.layer(finished.mark_line(point=True), so_far.mark_point(filled=False, size=80))


def tracking_rows(tracking: TrackingCounts) -> Iterator[tuple[str, str, str, float]]:
    """(kind, name, label, count) rows of a camera's tracking totals."""
    for label, n in tracking.unique.items():
        yield "unique objects", "", label, n
    for label, n in tracking.in_view.items():
        yield "in view now", "", label, n
    for line, counts in tracking.lines.items():
        for direction, labels in counts.to_dict().items():
            for label, n in labels.items():
                yield f"crossed {direction}", line, label, n
    for zone, labels in tracking.zones.items():
        for label, n in labels.items():
            yield "in zone now", zone, label, n
    for zone, labels in tracking.dwell.items():
        for label, dwell in labels.items():
            yield "mean dwell (s)", zone, label, round(dwell.mean_s, 1)
            yield "max dwell (s)", zone, label, round(dwell.max_s, 1)


def counts_view(client: redis.Redis, settings: DashboardSettings, status: Status,
                labels: list[str] | None, empty: str) -> None:
    names = list(status.cameras)
    if not names:
        st.info(empty)
        return
    st.subheader("Objects, line crossings and zones")
    objects = [{"camera": n, "kind": kind, "name": name, "label": label, "count": count}
               for n, cam in status.cameras.items()
               for kind, name, label, count in tracking_rows(cam.tracking)]
    if objects:
        st.dataframe(pd.DataFrame(objects), hide_index=True)
    else:
        st.info("No objects counted yet: the tracker (`cctv tracker`, started by `cctv up`) "
                "counts them.")
    st.subheader("Last hour, per minute")
    left, right = st.columns(2)
    camera = left.selectbox("Camera", ["all cameras", *names])
    measure = right.selectbox("Measure", list(MEASURES))
    now = time.time()
    classes, places = data.minute_tables(client, settings.keys,
                                         names if camera == "all cameras" else [camera], now=now)
    st.caption("Lines join finished minutes; a hollow point is the minute in progress so far.")
    if labels is not None:
        classes = classes[classes["label"].isin(labels)]
        places = places[places["label"].isin(labels)]
    if classes.empty:
        st.info("No counts in the last hour yet.")
    else:
        st.altair_chart(minute_chart(classes, "label", MEASURES[measure], measure, now))
        st.download_button("Download CSV", classes.to_csv(index=False).encode(),
                           "cctv-counts.csv", "text/csv")
    if not places.empty:
        st.subheader("Lines and zones, per minute")
        places = places.assign(series=places["name"] + " " + places["kind"] + " " + places["label"])
        dwell = places["kind"].isin(DWELL_KINDS)
        if not places[~dwell].empty:
            st.altair_chart(minute_chart(places[~dwell], "series", "count",
                                         "crossings, most in zone", now))
        if dwell.any():
            st.altair_chart(minute_chart(places[dwell], "series", "count",
                                         "seconds in zone", now))
        st.download_button("Download CSV", places.to_csv(index=False).encode(),
                           "cctv-lines-zones.csv", "text/csv", key="places-csv")
    st.subheader("Detail: detections summed over frames")
    st.caption("Boxes at or above each class's count_min_score, added up frame after frame: "
               "one person in view for 10 frames is 10 here.")
    st.dataframe(pd.DataFrame([{"camera": n, **cam.detections_total}
                               for n, cam in status.cameras.items()]).fillna(0),
                 hide_index=True)
