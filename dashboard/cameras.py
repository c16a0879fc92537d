"""The Cameras view: the camera list, a form that adds a camera, a form that changes one (only
the keys edited are patched, so lines, zones, counting, events and webhooks are kept), the line,
zone and mask editor (:mod:`dashboard.shape_editor`), and removal."""

from __future__ import annotations

from typing import Any

import pandas as pd
import redis
import streamlit as st

from common.cameras import CameraConfig, parse_camera
from common.schema import SettingsError
from common.urls import mask_url
from runtime.camera_list import add_camera, list_cameras, patch_camera, remove_camera
from runtime.status import Status

from .settings import DashboardSettings
from .shape_editor import shape_editor


def camera_configs(client: redis.Redis, settings: DashboardSettings) -> dict[str, CameraConfig]:
    try:
        return list_cameras(client, settings.keys)
    except SettingsError as exc:
        st.warning(f"A stored camera is invalid: {exc}")
        return {}


def form_values(camera: CameraConfig) -> dict[str, Any]:
    """The keys the change form edits, as it shows them (URL masked, fps 0 for every frame)."""
    return {"url": mask_url(camera.url), "fps": camera.fps or 0.0, "max_width": camera.max_width,
            "jpeg_quality": camera.jpeg_quality, "max_lag_s": camera.max_lag_s,
            "loop": camera.loop, "realtime": camera.realtime}


def changed_keys(camera: CameraConfig, edited: dict[str, Any]) -> dict[str, Any]:
    """A merge patch of what the form changed (fps 0 is every frame: the key removed)."""
    shown = form_values(camera)
    patch = {key: value for key, value in edited.items() if value != shown[key]}
    if "fps" in patch and not patch["fps"]:
        patch["fps"] = None
    return patch


def add_form(client: redis.Redis, settings: DashboardSettings) -> None:
    with st.form("add-camera", clear_on_submit=True):
        st.subheader("Add a camera")
        name = st.text_input("Name")
        url = st.text_input("URL", help="rtsp://, http(s)://, a file or folder on the ingest "
                                        "machine, or a webcam index; credentials as ${VAR}")
        fps = st.number_input("Frames per second (0 = every frame)", 0.0, 120.0, 0.0)
        loop = st.checkbox("Loop (files)")
        if st.form_submit_button("Add camera"):
            try:
                options = {"fps": fps} if fps else {}
                added = add_camera(client, settings.keys, parse_camera(
                    {"name": name, "url": url, "loop": loop, **options}, "camera"))
            except SettingsError as exc:
                st.error(str(exc))
            else:
                if added:
                    st.success(f"Camera {name} saved: ingest picks it up within seconds.")
                else:
                    st.error(f"Camera {name} exists: change it under **Change a camera**.")


def change_form(client: redis.Redis, settings: DashboardSettings, camera: CameraConfig) -> None:
    shown = form_values(camera)
    with st.form(f"change-camera-{camera.name}"):
        st.subheader(f"Change {camera.name}")
        st.caption("Only what you change is saved; lines, zones, counting, events and webhooks "
                   "are kept.")
        edited = {
            "url": st.text_input("URL", shown["url"]),
            "fps": st.number_input("Frames per second (0 = every frame)", 0.0, 120.0,
                                   float(shown["fps"])),
            "max_width": st.number_input("Max width", 32, 7680, shown["max_width"]),
            "jpeg_quality": st.number_input("JPEG quality", 10, 100, shown["jpeg_quality"]),
            "max_lag_s": st.number_input("Max lag (s)", 0.1, 60.0, float(shown["max_lag_s"])),
            "loop": st.checkbox("Loop (files)", shown["loop"]),
            "realtime": st.checkbox("Real time (files)", shown["realtime"])}
        if st.form_submit_button("Save changes"):
            patch = changed_keys(camera, edited)
            if not patch:
                st.info("Nothing changed.")
                return
            try:
                patch_camera(client, settings.keys, camera.name, patch)
            except SettingsError as exc:
                st.error(str(exc))
            else:
                st.success(f"Camera {camera.name} changed ({', '.join(patch)}): applied within "
                           "seconds.")


def cameras_view(client: redis.Redis, settings: DashboardSettings, status: Status) -> None:
    configs = camera_configs(client, settings)
    if configs:
        st.dataframe(pd.DataFrame([
            {"camera": n, "url": mask_url(c.url), "fps": c.fps or "all",
             "max width": c.max_width, "loop": c.loop, "realtime": c.realtime,
             "lines": len(c.lines), "zones": len(c.zones),
             "state": status.cameras[n].state if n in status.cameras else "starting"}
            for n, c in configs.items()]), hide_index=True)
    else:
        st.info("No cameras configured.")
    add_form(client, settings)
    if not configs:
        return
    with st.form("remove-camera"):
        st.subheader("Remove a camera")
        name = st.selectbox("Camera", list(configs))
        if st.form_submit_button("Remove"):
            remove_camera(client, settings.keys, name)
            st.success(f"Camera {name} removed; its counts stay.")
            return
    name = st.selectbox("Camera to change", list(configs), key="edit-camera")
    change_form(client, settings, configs[name])
    st.subheader(f"Lines, zones and masks of {name}")
    st.caption("Click points on the latest frame: a line takes 2, a zone or mask 3 or more "
               "(then Close shape). Drag a point to move it. Save shapes applies them.")
    shape_editor(settings, configs[name])
