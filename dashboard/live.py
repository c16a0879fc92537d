"""The Live view: every camera as video, with what is in view now.

Every camera plays on a canvas through a small script (``live_player.js``) that reads one
multipart stream of all the page's cameras (``/cameras.mjpg``, api/routes.py): the server draws
each frame once for every viewer, the page never redraws the video, and Streamlit reruns only the counts and camera lines above it (one fragment).
"""

from __future__ import annotations

import html
import time
from pathlib import Path
from urllib.parse import quote, urlencode

import redis
import streamlit as st

from api.auth import stream_token
from api.scene import count_labels, newest_messages, newest_scene, visible
from runtime.outage import REDIS_DOWN
from runtime.status import camera_status, lag_line

from . import data
from .settings import DashboardSettings

PLAYER_JS = Path(__file__).with_name("live_player.js").read_text(encoding="utf-8")


def stream_url(settings: DashboardSettings, cameras: list[str], labels: list[str] | None,
               min_score: float) -> str:
    """The page's URL of one annotated stream of all its ``cameras`` for this class filter and
    score (browsers open at most six connections to a server: one stream serves them all)."""
    query = {"names": ",".join(cameras), "min_score": f"{min_score:g}"}
    if labels:
        query["classes"] = ",".join(sorted(labels))
    if settings.dashboard_password is not None:
        query["token"] = stream_token(settings.dashboard_password.get_secret_value())
    return f"/cameras.mjpg?{urlencode(query, safe=',')}"


def player(camera: str, url: str) -> None:
    """A canvas that plays ``camera``'s parts of the stream ``url`` (fetched once a page)."""
    st.html(f'<canvas data-cctv-src="{html.escape(url)}" data-cctv-camera="{html.escape(camera)}"'
            f' style="width:100%;background:#111;border-radius:4px"></canvas>'
            f"<script>{PLAYER_JS}</script>", unsafe_allow_javascript=True)


def in_view(client: redis.Redis, settings: DashboardSettings, camera: str,
            labels: list[str] | None, min_score: float) -> tuple[dict[str, int], float | None,
                                                                 bool]:
    """Objects per label in view now, counted on the frame the picture shows (the newest tracked
    frame when the tracker is current, else the newest detected one, whose frame is still in
    Redis: :func:`api.scene.newest_scene`; none once the camera ended or that frame is older than
    ``dashboard_stale_s``), that frame's capture time, and whether a worker processed any frame
    yet."""
    scene = newest_scene(client, settings.keys, camera)
    if scene is None or scene.kind == "raw":
        detected = bool(newest_messages(client, settings.keys, camera))
        return {}, scene.ts if scene else None, detected
    state = data.ingest_state(client, settings.keys, camera)
    if not data.in_view_now(state, scene.ts, settings.dashboard_stale_s):
        return {}, scene.ts, True
    return count_labels(visible(scene.objects, labels, min_score)), scene.ts, True


def caption(client: redis.Redis, settings: DashboardSettings, camera: str,
            view: tuple[dict[str, int], float | None, bool]) -> str:
    """``name · state · age · what is in view · lag`` of one camera, with its :func:`in_view`."""
    status = camera_status(client, settings.keys, camera, True, None)
    counts, ts, detected = view
    ts = ts or status.last_frame_ts or None
    age = f"{time.time() - ts:.1f}s ago" if ts else "no frame yet"
    summary = ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or (
        "nothing in view now" if detected else "waiting for a worker")
    ongoing = client.scard(settings.keys.open_events(camera))
    lag = lag_line(status)
    return f"{camera} · {status.state} · {age} · {summary}" + (f" · {lag}" if lag else "") + (
        f" · 🔴 {ongoing} event{'s' * (ongoing > 1)} in progress" if ongoing else "")


def live_view(client: redis.Redis, settings: DashboardSettings, names: list[str],
              labels: list[str] | None, min_score: float, known: list[str], empty: str) -> None:
    if not names:
        st.info(empty)
        return

    @st.fragment(run_every=settings.dashboard_refresh_s)
    def now_in_view() -> None:
        """What is in view now: per-class totals over running cameras with a fresh frame, and a
        line per camera."""
        totals: dict[str, int] = {}
        lines = []
        try:
            for name in names:
                view = in_view(client, settings, name, labels, min_score)
                for label, n in view[0].items():
                    totals[label] = totals.get(label, 0) + n
                lines.append(caption(client, settings, name, view))
        except REDIS_DOWN:
            st.warning("Redis is unreachable; the counts come back with it.")
            return
        shown = labels or sorted(set(known) | set(totals))
        if shown:
            for column, label in zip(st.columns(len(shown)), shown):
                column.metric(f"{label} now", totals.get(label, 0))
        for line in lines:
            st.caption(line)

    now_in_view()
    url = stream_url(settings, names, labels, min_score)
    focus = st.session_state.get("focus", "(none)")
    if focus in names:
        player(focus, url)
    columns = st.columns(min(len(names), 3))
    for i, name in enumerate(names):
        with columns[i % len(columns)]:
            player(name, url)
            st.markdown(f"**{name}** · [live.mjpg](/cameras/{quote(name, safe='')}/live.mjpg)")
