"""The Replay view: replay a file as a camera (an RQ job that records it into ``replay_dir``), the
replay jobs, and the finished recordings: annotated video, counts per second, the three files."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import redis
import streamlit as st

from common.cameras import parse_camera
from common.schema import SettingsError
from dashboard import data
from media.video import VideoError, probe
from replay.queue import enqueue, recent_jobs
from replay.report import ReplayFiles, list_recordings
from runtime.redis_conn import connect_queue

from .refresh import follow
from .settings import DashboardSettings

JOB_TIMEOUT_S = 3600
MAX_VIDEO_WIDTH = 960
"""Widest a recording plays (its own width when narrower)."""


def pick_file(folder: Path) -> Path | None:
    """A video on the server (in ``folder``) or an upload stored there."""
    source = st.radio("File", ["on the server", "upload"], horizontal=True)
    if source == "upload":
        upload = st.file_uploader("Video file", type=[s[1:] for s in data.VIDEO_SUFFIXES])
        if upload is None:
            return None
        try:
            path = data.save_upload(folder, upload.name, upload.getvalue())
        except (ValueError, OSError) as exc:
            st.error(f"Upload not stored: {exc}")
            return None
        st.success(f"Stored as {path}")
        return path
    files = data.media_files(folder)
    if not files:
        st.info(f"No video files in {folder.resolve()} yet: upload one, or copy files there "
                "(setting CCTV_DASHBOARD_MEDIA_DIR).")
        return None
    return st.selectbox("Video in " + str(folder), files, format_func=lambda p: p.name)


@st.cache_resource
def queue_client(_settings: DashboardSettings) -> redis.Redis:
    """The Redis of replay jobs (``CCTV_QUEUE_URL``, else Redis itself unless a cluster)."""
    return connect_queue(_settings)


def replay_view(client: redis.Redis, settings: DashboardSettings) -> None:
    try:
        client = queue_client(settings)
    except SettingsError as exc:
        st.warning(str(exc))
        return
    path = pick_file(settings.dashboard_media_dir)
    out = settings.replay_dir.resolve()
    with st.form("replay"):
        camera = st.text_input("Camera name", "replay")
        fps = st.number_input("Frames per second to take (0 = every frame)", 0.0, 120.0, 0.0)
        realtime = st.checkbox("Real time (paced by the file's timestamps)")
        record = st.checkbox(f"Record the annotated video, counts CSV and report in {out}",
                             value=True)
        if st.form_submit_button("Enqueue replay", disabled=path is None):
            try:
                parse_camera({"name": camera, "url": str(path)}, "replay")
                job = enqueue(client, str(Path(path).resolve()), camera, fps or None, realtime,
                              JOB_TIMEOUT_S, str(out) if record else None)
            except SettingsError as exc:
                st.error(str(exc))
            else:
                st.success(f"Replay job {job.id} queued: camera {camera} appears in Live once "
                           "an RQ worker (`cctv rq-worker`) takes it"
                           + (", and below once every frame is processed." if record else "."))
    st.subheader("Replay jobs")
    # A job that starts, ends or fails, and a recording that is finished: shown within seconds.
    jobs, _ = follow(lambda: (recent_jobs(client), [r.json for r in list_recordings(out)]))
    if jobs:
        st.dataframe(pd.DataFrame(jobs), hide_index=True)
        for job in jobs:
            if job.get("error"):
                st.error(f"Replay job {job['id']} failed: {job['error']}")
    else:
        st.caption("No replay jobs yet.")
    recordings_section(out)


def video_width(path: Path) -> int:
    """A recording's own width in pixels (a 176x144 video is not stretched to the page)."""
    try:
        return probe(path).width
    except VideoError:
        return MAX_VIDEO_WIDTH


def recording_name(recording: ReplayFiles) -> str:
    started = time.strftime("%Y-%m-%d %H:%M", time.localtime(recording.report.started))
    return f"{recording.video.stem} · camera {recording.report.camera} · {started}"


def recordings_section(folder: Path) -> None:
    """Pick a finished recording: play its video, chart its counts, download its files."""
    st.subheader("Recordings")
    recordings = list_recordings(folder)
    if not recordings:
        st.caption(f"No finished recordings in {folder} yet (setting CCTV_REPLAY_DIR).")
        return
    recording = st.selectbox("Recording", recordings, format_func=recording_name)
    report = recording.report
    st.video(str(recording.video), width=min(video_width(recording.video), MAX_VIDEO_WIDTH))
    a, b, c, d = st.columns(4)
    a.metric("frames", report.frames)
    b.metric("seconds", round(report.duration_s, 1))
    c.metric("detections", sum(report.detections.values()))
    d.metric("tracked objects", sum(report.unique.values()))
    table = pd.read_csv(recording.csv)
    if not table.empty:
        st.caption("Detections per second of video, by class")
        st.bar_chart(table.pivot_table(index="second", columns="label", values="detections",
                                       aggfunc="sum", fill_value=0))
    st.caption(f"Model: {', '.join(report.models) or 'unknown'} · processed in "
               f"{report.processing_s:.1f} s · source {report.source}")
    for column, path, mime in zip(st.columns(3), (recording.video, recording.csv, recording.json),
                                  ("video/mp4", "text/csv", "application/json")):
        column.download_button(f"Download {path.name}", path.read_bytes(), path.name, mime,
                               key=f"download-{path.name}")
