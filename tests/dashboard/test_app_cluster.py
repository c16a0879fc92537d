"""The dashboard page (Streamlit's AppTest) on a real Redis Cluster (``tests/cluster.py``): its
Health view reads the cluster; its Replay view says replays need ``CCTV_QUEUE_URL``, and with it
enqueues on that standalone Redis."""

from __future__ import annotations

from pathlib import Path

import pytest
import streamlit as st
from cluster import cluster_client, redis_cluster  # noqa: F401 (fixtures)
from streamlit.testing.v1 import AppTest

from common.cameras import CameraConfig
from replay.queue import queue
from runtime.camera_list import store_camera
from runtime.settings import CommonSettings, from_env

APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")


@pytest.fixture
def page(monkeypatch, redis_cluster, cluster_client, media_dir, tmp_path):
    """An AppTest of the page on the cluster, with one camera stored; caches cleared around it."""
    st.cache_resource.clear()
    for name in ("CCTV_DASHBOARD_PASSWORD", "CCTV_QUEUE_URL", "CCTV_HASH_TAGS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("REDIS_URL", redis_cluster.url)
    monkeypatch.setenv("CCTV_DASHBOARD_MEDIA_DIR", str(media_dir))
    monkeypatch.setenv("CCTV_REPLAY_DIR", str(tmp_path / "replays"))
    keys = from_env(CommonSettings, {"REDIS_URL": redis_cluster.url}).keys
    store_camera(cluster_client, keys, CameraConfig(name="lobby", url="rtsp://cam/s"))
    yield lambda: AppTest.from_file(APP, default_timeout=60)
    st.cache_resource.clear()


def show(at: AppTest, view: str) -> AppTest:
    at.sidebar.radio(key="view").set_value(view)
    return at.run()


def test_health_and_replays_without_a_queue(page):
    at = show(page().run(), "Health")
    assert not at.exception and not at.error
    assert "lobby" in at.dataframe[0].value.to_string()
    at = show(at, "Replay")
    assert not at.exception
    assert any("CCTV_QUEUE_URL" in w.value for w in at.warning)


def test_replay_enqueues_on_the_standalone_queue(page, monkeypatch, redis_url, redis_client):
    monkeypatch.setenv("CCTV_QUEUE_URL", redis_url)
    at = show(page().run(), "Replay")
    at.text_input[0].set_value("lobby-replay")
    at.button[0].click().run()
    assert not at.exception
    assert len(queue(redis_client).job_ids) == 1
