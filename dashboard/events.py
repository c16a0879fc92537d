"""The Events view: events newest first, a page at a time ("More"), with filters (camera, time
range, and a class and zone chosen from those present), a thumbnail each, and for the one
selected its snapshot, its clip playing in the page, its zones and lines. Records come from
Redis through :mod:`common.events`, files from ``media_dir``; a clip cut from the camera's
recording is cut here on first view as ``/api/events/{id}/clip.mp4`` does
(:class:`api.event_clips.EventClips`)."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import redis
import streamlit as st

from api.event_clips import EventClips
from common.events import Event
from runtime.camera_list import list_cameras
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
    else:
        why = event.media_errors.get("clip")
        right.info("No clip yet." if event.end_ts is None or event.clip
                   else f"No clip: {why}." if why else "No clip.")
    zones = ", ".join(event.zones) or "none"
    lines = ", ".join(f"{c.name} {c.direction}" for c in event.lines) or "none"
    st.caption(f"zones entered: {zones} · lines crossed: {lines} · id {event.id}")


def configured_zones(client: redis.Redis, settings: DashboardSettings,
                     camera: str | None) -> set[str]:
    """The zone names of ``camera`` (None: of every camera) in the camera list."""
    cameras = list_cameras(client, settings.keys)
    chosen = cameras.values() if camera is None else [c for n, c in cameras.items() if n == camera]
    return {zone.name for config in chosen for zone in config.zones}


def pages(client: redis.Redis, settings: DashboardSettings, query: Query,
          count: int) -> tuple[list[Event], str | None]:
    """The first ``count`` pages of ``query``, following the store's cursor, and the cursor of
    the page after them (None: nothing more)."""
    events: list[Event] = []
    cursor = None
    for _ in range(count):
        page, cursor = query_events(client, settings.keys, replace(query, cursor=cursor))
        events += page
        if cursor is None:
            break
    return events, cursor


def events_view(client: redis.Redis, settings: DashboardSettings, cameras: list[str]) -> None:
    camera, label, zone, since, limit = st.columns([2, 2, 2, 2, 1])
    chosen = camera.selectbox("Camera", ["all", *cameras], key="ev_camera")
    window = SINCE[since.selectbox("Time", list(SINCE), key="ev_since")]
    count = limit.number_input("Show", 4, 200, 24, 4, key="ev_limit")
    unfiltered = Query(None if chosen == "all" else chosen,
                       after=time.time() - window if window else None, limit=int(count))
    # The choices: classes of the events listed without class or zone filter, the camera's
    # configured zones and those the listed events entered; a current choice stays offered.
    present = query_events(client, settings.keys, unfiltered)[0]
    labels = {e.label for e in present} | {st.session_state.get("ev_label", "all")}
    zones = (configured_zones(client, settings, unfiltered.camera)
             | {z for e in present for z in e.zones} | {st.session_state.get("ev_zone", "all")})
    label_choice = label.selectbox("Class", ["all", *sorted(labels - {"all"})], key="ev_label")
    zone_choice = zone.selectbox("Zone", ["all", *sorted(zones - {"all"})], key="ev_zone")
    query = replace(unfiltered, label=None if label_choice == "all" else label_choice,
                    zone=None if zone_choice == "all" else zone_choice)
    filters = (chosen, label_choice, zone_choice, window, int(count))
    if st.session_state.get("ev_filters") != filters:  # new filters start at the first page
        st.session_state.ev_filters, st.session_state.ev_pages = filters, 1
    shown_pages = st.session_state.ev_pages

    def listed() -> list[Event]:
        return pages(client, settings, query, shown_pages)[0]

    events, more = pages(client, settings, query, shown_pages)
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
    if more is not None and st.button("More", key="ev_more"):
        st.session_state.ev_pages = shown_pages + 1
        st.rerun()
