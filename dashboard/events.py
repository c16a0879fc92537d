"""The Events view: events newest first with filters (camera, class, zone, time range), a
thumbnail each, and for the one selected its snapshot, its clip playing in the page, its zones
and lines. Records come from Redis through :mod:`common.events`, files from ``media_dir``; a clip
cut from the camera's recording is cut here on first view as ``/api/events/{id}/clip.mp4`` does
(:class:`api.event_clips.EventClips`)."""

from __future__ import annotations

import time
from pathlib import Path

import redis
import streamlit as st

from api.event_clips import EventClips
from common.events import Event
from runtime.event_store import Query, query_events

from .refresh import follow
from .settings import DashboardSettings

COLUMNS = 4
SINCE = {"last hour": 3600, "last day": 86_400, "last week": 7 * 86_400, "all": None}


def media_file(settings: DashboardSettings, name: str | None) -> Path | None:
    """An event file under the media folder, None when absent."""
    if not name:
        return None
    root = settings.media_dir.resolve()
    path = (root / name).resolve()
    return path if path.is_relative_to(root) and path.is_file() else None


def describe(event: Event) -> str:
    """``2026-12-06 14:05:03 UTC · gate · person 0.91 · 4.2s`` (24-hour clock, the server's time
    zone named); how long runs from first to last sight, so far while the event is open."""
    start = time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(event.start_ts))
    seen = (event.end_ts if event.end_ts is not None else event.last_ts) - event.start_ts
    length = f"{seen:.1f}s" if event.end_ts is not None else f"in progress, {seen:.1f}s so far"
    return f"{start} · {event.camera} · {event.label} {event.top_score:.2f} · {length}"


def details(client: redis.Redis, settings: DashboardSettings, event: Event) -> None:
    """The selected event: snapshot, clip (a recorded one cut if need be), zones and lines."""
    event = EventClips(client, settings.keys, settings.media_dir,
                       settings.recordings_dir).cached(event)
    st.subheader(describe(event))
    left, right = st.columns(2)
    snapshot = media_file(settings, event.snapshot)
    clip = media_file(settings, event.clip)
    if snapshot:
        left.image(str(snapshot), caption="best snapshot")
    else:
        left.info("No snapshot.")
    if clip:
        right.video(str(clip))
        if not event.clip_complete:
            right.caption("Frames before or after were already gone: the clip is shorter.")
    else:
        why = event.media_errors.get("clip")
        right.info("No clip yet." if event.end_ts is None or event.clip
                   else f"No clip: {why}." if why else "No clip.")
    zones = ", ".join(event.zones) or "none"
    lines = ", ".join(f"{c.name} {c.direction}" for c in event.lines) or "none"
    st.caption(f"zones entered: {zones} · lines crossed: {lines} · id {event.id}")


def events_view(client: redis.Redis, settings: DashboardSettings, cameras: list[str]) -> None:
    camera, label, zone, since, limit = st.columns([2, 2, 2, 2, 1])
    chosen = camera.selectbox("Camera", ["all", *cameras], key="ev_camera")
    label_text = label.text_input("Class", key="ev_label").strip()
    zone_text = zone.text_input("Zone", key="ev_zone").strip()
    window = SINCE[since.selectbox("Time", list(SINCE), key="ev_since")]
    count = limit.number_input("Show", 4, 200, 24, 4, key="ev_limit")
    query = Query(None if chosen == "all" else chosen, label_text or None, zone_text or None,
                  time.time() - window if window else None, limit=int(count))
    def listed() -> list[Event]:
        return query_events(client, settings.keys, query)[0]

    events = listed()
    # A new event, one that ended or whose clip is ready: shown within seconds.
    follow(lambda: [(e.id, e.end_ts, e.clip) for e in listed()])
    if not events:
        st.info("No events match. An event is made of every object the tracker counts "
                "(`cctv tracker`, or `cctv up`).")
        return
    selected = st.session_state.get("ev_selected")
    by_id = {e.id: e for e in events}
    if selected in by_id:
        details(client, settings, by_id[selected])
        st.divider()
    for start in range(0, len(events), COLUMNS):
        for column, event in zip(st.columns(COLUMNS), events[start:start + COLUMNS]):
            thumb = media_file(settings, event.crop) or media_file(settings, event.snapshot)
            if thumb:
                column.image(str(thumb), width=160)
            column.caption(describe(event))
            if column.button("Show", key=f"ev_show_{event.id}"):
                st.session_state.ev_selected = event.id
                st.rerun()
