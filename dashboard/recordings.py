"""The Recordings view: a camera's day as a timeline of recorded ranges, gaps and event markers;
click a time or an event and it plays there with the tracker's boxes, ids, lines and zones drawn
over the video in step with its time (``recording_player.js``; video and objects from the
``/api/recordings`` routes, api/recordings.py), and "Download" gives the range as MP4."""

from __future__ import annotations

import datetime
import html
import json
import time
from pathlib import Path

import redis
import streamlit as st

from api.auth import stream_token
from runtime.camera_list import (
    UnknownCamera,
    camera_names,
    camera_of,
    published_camera_names,
)
from runtime.event_store import Query, query_events
from runtime.recordings import Segment, list_segments, oldest_segment

from .settings import DashboardSettings

PLAYER_JS = Path(__file__).with_name("recording_player.js").read_text(encoding="utf-8")
GAP_S = 1.0
"""Segments further apart than this show as a gap."""
MAX_EVENTS = 500
"""Most event markers on one day."""


def recorded_ranges(segments: list[Segment]) -> list[tuple[float, float]]:
    """The segments joined into ranges (start, end), a gap where they are over :data:`GAP_S`
    apart."""
    ranges: list[tuple[float, float]] = []
    for segment in segments:
        if ranges and segment.start_ts - ranges[-1][1] <= GAP_S:
            ranges[-1] = (ranges[-1][0], max(ranges[-1][1], segment.end_ts))
        else:
            ranges.append((segment.start_ts, segment.end_ts))
    return ranges


def day_bounds(day: datetime.date) -> tuple[float, float]:
    """Unix seconds of the day's start and end in the server's time zone."""
    start = time.mktime(day.timetuple())
    return start, time.mktime((day + datetime.timedelta(days=1)).timetuple())


def newest_day(client: redis.Redis, settings: DashboardSettings, camera: str) -> datetime.date:
    """The day of the camera's newest segment (today when it has none)."""
    newest = client.zrevrange(settings.keys.recordings(camera), 0, 0)
    if not newest:
        return datetime.date.today()
    return datetime.date.fromtimestamp(Segment.from_json(newest[0]).start_ts)


def recordings_view(client: redis.Redis, settings: DashboardSettings) -> None:
    names = sorted(set(camera_names(client, settings.keys))
                   | set(published_camera_names(client, settings.keys)))
    recorded = [n for n in names if oldest_segment(client, settings.keys, n) is not None]
    if not recorded:
        st.info("No recordings yet: ingest records live H.264/H.265 cameras (`record:` in the "
                "cameras file), into CCTV_RECORDINGS_DIR.")
        return
    left, right = st.columns(2)
    camera = left.selectbox("Camera", recorded, key="recordings_camera")
    day = right.date_input("Day", newest_day(client, settings, camera),
                           key=f"recordings_day_{camera}")
    start, end = day_bounds(day)
    ranges = recorded_ranges(list_segments(client, settings.keys, camera, start, end))
    events, _ = query_events(client, settings.keys,
                             Query(camera, after=start, before=end, limit=MAX_EVENTS))
    try:
        config = camera_of(client, settings.keys, camera)
        lines = [line.points for line in config.lines]
        zones = [zone.points for zone in config.zones]
    except UnknownCamera:  # removed since: its recordings stay
        lines, zones = [], []
    token = stream_token(settings.dashboard_password.get_secret_value()) \
        if settings.dashboard_password else ""
    state = {"camera": camera, "day": [start, end], "ranges": ranges, "token": token,
             "events": [{"ts": e.start_ts, "label": e.label, "id": e.id} for e in events],
             "lines": lines, "zones": zones}
    st.caption(f"{len(ranges)} recorded ranges, {len(events)} events on {day:%Y-%m-%d} "
               f"({time.strftime('%Z')}). Click the timeline or an event to play there.")
    st.html(f'<div data-cctv-recording="{html.escape(json.dumps(state))}"></div>'
            f"<script>{PLAYER_JS}</script>", unsafe_allow_javascript=True)
