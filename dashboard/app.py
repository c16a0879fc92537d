"""The Streamlit page that ``cctv dashboard`` serves: live cameras, events, counts, health, replay,
cameras.

Streamlit runs this file top to bottom on every interaction; the camera grid and the health
tables are fragments that refresh themselves without reloading the page. Everything comes from
Redis through :mod:`common` and :mod:`dashboard.data`.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import redis
import streamlit as st

from common.counts import KEEPS_UP_RATIO
from common.schema import SettingsError
from common.urls import mask_text
from dashboard import auth, data
from dashboard.cameras import cameras_view
from dashboard.counts import counts_view
from dashboard.events import events_view
from dashboard.live import lag_line, live_view
from dashboard.recordings import recordings_view
from dashboard.refresh import follow
from dashboard.replays import replay_view
from dashboard.settings import DashboardSettings
from runtime.outage import REDIS_DOWN
from runtime.redis_conn import connect
from runtime.settings import CommonSettings, from_env
from runtime.status import Status, collect_status

log = logging.getLogger("cctv.dashboard")

VIEWS = ("Live", "Events", "Recordings", "Counts", "Health", "Replay", "Cameras")
EMPTY = ("No cameras yet. Add one in **Cameras** (or `cctv camera add NAME URL`), replay a file "
         "in **Replay**, or run `cctv up` for the sample video.")


@st.cache_resource
def redis_client(url: str | None, run_dir: Path, port: int, cluster: bool = False) -> redis.Redis:
    """One client (and connection pool) per Redis for every session of this server."""
    return connect(CommonSettings(redis_url=url, run_dir=run_dir, embedded_port=port,
                                  redis_cluster=cluster))


@st.cache_resource
def outage() -> dict[str, bool]:
    """Whether this server logged the current Redis outage (one line an outage, not a traceback
    a page)."""
    return {"logged": False}


def redis_down(exc: Exception) -> None:
    why = mask_text(str(exc))
    if not outage()["logged"]:
        outage()["logged"] = True
        log.warning("Redis is unreachable (%s); pages wait for it", why)
    st.error(f"Redis is unreachable ({why}). The page recovers by itself when it is back.",
             icon="⚠️")


def redis_up() -> None:
    if outage()["logged"]:
        outage()["logged"] = False
        log.info("Redis is back")


@st.fragment(run_every=2)
def wait_for_redis(client: redis.Redis) -> None:
    """Shown while Redis is down: reload the whole page as soon as it answers again."""
    try:
        client.ping()
    except REDIS_DOWN:
        return
    st.rerun(scope="app")


def sign_in(settings: DashboardSettings) -> None:
    """Stop the page here until the password is given, when one is required."""
    if not auth.password_required(settings, settings.dashboard_host) \
            or st.session_state.get("signed_in"):
        return
    st.title("CCTV analytics")
    with st.form("sign-in"):
        given = st.text_input("Password", type="password")
        if st.form_submit_button("Sign in"):
            if auth.password_ok(settings, given):
                st.session_state.signed_in = True
                st.rerun()
            time.sleep(1)  # slows guessing
            st.error("Wrong password.")
    st.stop()


# -- views ---------------------------------------------------------------------------------------
def health_view(client: redis.Redis, settings: DashboardSettings) -> None:
    @st.fragment(run_every=2)
    def tables() -> None:
        try:
            status = collect_status(client, settings.keys)
        except REDIS_DOWN as exc:
            redis_down(exc)
            return
        queues = status.queues
        workers = data.worker_health(status, settings.dashboard_stale_s)
        alive = int((workers["state"] == "alive").sum()) if not workers.empty else 0
        a, b, c = st.columns(3)
        a.metric("live workers", alive)
        b.metric("queued replays", queues.replays)
        c.metric("dead letters", queues.dead_letters)
        st.subheader("Cameras")
        if status.cameras:
            st.dataframe(data.camera_health(status, settings.dashboard_stale_s), hide_index=True)
            for name, camera in status.cameras.items():
                lag = lag_line(camera)
                if lag:
                    (st.caption if camera.detected_ratio >= KEEPS_UP_RATIO else st.warning)(
                        f"{name}: {lag}")
                for what, error in (("tracking", camera.tracker_error),
                                    ("recording", camera.recording_error)):
                    if error:
                        st.error(f"{name}: {what} stopped: {error}")
        else:
            st.info(EMPTY)
        st.subheader("Workers")
        if not workers.empty:
            st.dataframe(workers, hide_index=True)
        if not alive:
            st.warning("No live workers: frames wait in their streams. Start one with "
                       "`cctv worker`.")
        if status.redis_losses:
            st.subheader("Redis outages (each service's last)")
            st.dataframe(data.redis_losses(status), hide_index=True)

    tables()


# -- page ----------------------------------------------------------------------------------------
def main() -> None:
    st.set_page_config(page_title="CCTV analytics", page_icon="📹", layout="wide")
    try:
        settings = from_env(DashboardSettings)
    except SettingsError as exc:
        st.error(f"Invalid settings: {exc}")
        st.stop()
    sign_in(settings)
    client = redis_client(settings.redis_url, settings.run_dir, settings.embedded_port,
                          settings.redis_cluster)
    try:
        status = collect_status(client, settings.keys)
    except REDIS_DOWN as exc:
        st.title("CCTV analytics")
        redis_down(exc)
        wait_for_redis(client)
        st.stop()
    redis_up()
    with st.sidebar:
        st.title("CCTV analytics")
        view = st.radio("View", VIEWS, key="view")
        known = status.labels()
        chosen = st.multiselect("Classes", known, placeholder="all classes", key="classes")
        labels = chosen or None
        min_score = st.slider("Minimum score", 0.0, 1.0, 0.5, 0.05, key="min_score")
        st.selectbox("Large view", ["(none)", *status.cameras], key="focus")
    st.header(view)
    try:
        show_view(view, client, settings, status, labels, min_score)
    except REDIS_DOWN as exc:  # lost while the view read it
        redis_down(exc)
        wait_for_redis(client)


def show_view(view: str, client: redis.Redis, settings: DashboardSettings, status: Status,
              labels: list[str] | None, min_score: float) -> None:
    """The chosen view, rerun as soon as what it lists changes elsewhere (:mod:`.refresh`)."""
    def states() -> dict[str, tuple[bool, str]]:
        return data.camera_states(client, settings.keys)

    if view == "Live":
        names = follow(lambda: data.live_cameras(states()))
        live_view(client, settings, names, labels, min_score, status.labels(), EMPTY)
    elif view == "Events":
        events_view(client, settings, list(status.cameras))
    elif view == "Recordings":
        recordings_view(client, settings)
    elif view == "Counts":
        follow(lambda: list(states()))
        counts_view(client, settings, status, labels, EMPTY)
    elif view == "Health":
        health_view(client, settings)
    elif view == "Replay":
        replay_view(client, settings)
    else:
        follow(states)
        cameras_view(client, settings, status)


main()
