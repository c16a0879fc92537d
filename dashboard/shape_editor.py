"""The line, zone and mask editor of a camera: its latest frame on a canvas where points are
clicked to draw a line (2 points), a zone or a mask (3 or more, then closed), points dragged to
move them, and shapes deleted; Save sends them as one merge patch (``PATCH /api/cameras/{name}``
with ``lines``, ``zones`` and ``counting.masks``), validated as the cameras file is, its error
shown. The drawing is ``shape_editor.js``, in the page (as the Live view's player)."""

from __future__ import annotations

import html
import json
from pathlib import Path
from urllib.parse import quote, urlencode

import streamlit as st

from api.auth import stream_token
from common.cameras import CameraConfig

from .settings import DashboardSettings

EDITOR_JS = Path(__file__).with_name("shape_editor.js").read_text(encoding="utf-8")


def token_query(settings: DashboardSettings) -> str:
    """``?token=...`` that lets the page's script use the routes (empty without a password)."""
    if settings.dashboard_password is None:
        return ""
    return "?" + urlencode({"token": stream_token(settings.dashboard_password.get_secret_value())})


def shapes_of(camera: CameraConfig) -> dict[str, list[dict]]:
    """The camera's lines, zones and masks as the editor draws them (points as fractions)."""
    return {"lines": [line.model_dump(mode="json") for line in camera.lines],
            "zones": [zone.model_dump(mode="json") for zone in camera.zones],
            "masks": [mask.model_dump(mode="json") for mask in camera.counting.masks]}


def shape_editor(settings: DashboardSettings, camera: CameraConfig) -> None:
    """The editor of ``camera``'s shapes, as stored now."""
    path = quote(camera.name)
    query = token_query(settings)
    attributes = {"data-cctv-editor": camera.name,
                  "data-image": f"/cameras/{path}/latest.jpg{query}",
                  "data-patch": f"/api/cameras/{path}{query}",
                  "data-shapes": json.dumps(shapes_of(camera))}
    div = " ".join(f'{name}="{html.escape(value)}"' for name, value in attributes.items())
    st.html(f"<div {div}></div><script>{EDITOR_JS}</script>", unsafe_allow_javascript=True)
