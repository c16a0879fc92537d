"""The Cameras view's forms: adding refuses an existing name; changing patches only the keys
edited, so lines, zones, counting and webhooks are kept."""

from __future__ import annotations

from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from common.cameras import CameraConfig
from common.keys import KEYS
from dashboard.cameras import changed_keys, form_values
from runtime.camera_list import list_cameras, store_camera

APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")
GATE = CameraConfig.model_validate({
    "name": "gate", "url": "rtsp://viewer:${GATE_PW}@192.0.2.1/s", "fps": 5,
    "lines": [{"name": "door", "points": [[0.1, 0.5], [0.9, 0.5]]}],
    "zones": [{"name": "desk", "points": [[0.1, 0.1], [0.5, 0.1], [0.5, 0.5]]}],
    "counting": {"min_frames": 4}, "webhooks": [{"url": "https://hooks.example/${TOKEN}"}]})


def test_changed_keys_is_what_the_form_changed():
    shown = form_values(GATE)
    assert changed_keys(GATE, shown) == {}
    assert changed_keys(GATE, shown | {"fps": 0.0, "loop": True}) == {"fps": None, "loop": True}
    assert changed_keys(GATE, shown | {"url": "other.mp4"}) == {"url": "other.mp4"}


@pytest.fixture
def at(redis_url, monkeypatch) -> AppTest:
    st.cache_resource.clear()
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.delenv("CCTV_DASHBOARD_PASSWORD", raising=False)
    page = AppTest.from_file(APP, default_timeout=60).run()
    yield page
    st.cache_resource.clear()


def test_the_change_form_keeps_lines_zones_and_the_rest(redis_client, at):
    store_camera(redis_client, KEYS, GATE)
    at.sidebar.radio(key="view").set_value("Cameras").run()
    form = [n for n in at.number_input if n.label.startswith("Max width")][0]
    form.set_value(800)
    [b for b in at.button if b.label == "Save changes"][0].click().run()
    assert not at.exception
    assert list_cameras(redis_client, KEYS)["gate"] == GATE.model_copy(update={"max_width": 800})
    assert any("max_width" in s.value for s in at.success)


def test_adding_an_existing_name_is_refused(redis_client, at):
    store_camera(redis_client, KEYS, GATE)
    at.sidebar.radio(key="view").set_value("Cameras").run()
    at.text_input[0].set_value("gate")
    at.text_input[1].set_value("other.mp4")
    [b for b in at.button if b.label == "Add camera"][0].click().run()
    assert any("exists" in e.value for e in at.error)
    assert list_cameras(redis_client, KEYS)["gate"] == GATE
