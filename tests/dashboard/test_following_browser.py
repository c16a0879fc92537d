"""Pages that follow Redis without a reload, in headless Chromium against ``cctv dashboard``:
cameras added elsewhere appear in Live within 5 s, a finished replay's tile and a removed
camera's leave, and a new event appears in Events within 5 s."""

from __future__ import annotations

from pathlib import Path

import pytest
from running import dashboard
from test_browser import CHROMIUM
from test_events_view import store

from common.cameras import parse_camera
from common.keys import KEYS
from common.records import CameraState
from runtime.camera_list import remove_camera, store_camera

WITHIN_MS = 5_000


def set_state(client, camera: str, state: str) -> None:
    client.hset(KEYS.state(camera), mapping=CameraState(state).to_fields())
    client.sadd(KEYS.camera_names, camera)


@pytest.mark.slow
def test_live_and_events_follow_redis_without_a_reload(redis_url, redis_client, tmp_path):
    if not Path(CHROMIUM).exists():
        pytest.skip("no chromium: scripts/test installs Debian's chromium when run as root")
    from playwright.sync_api import sync_playwright

    media = tmp_path / "media"
    with dashboard({"REDIS_URL": redis_url, "CCTV_MEDIA_DIR": str(media),
                    "CCTV_RUN_DIR": str(tmp_path)}) as base:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(base + "/")
            page.get_by_text("No cameras yet").first.wait_for(timeout=60_000)

            def tile(camera: str):
                return page.locator(f'canvas[data-cctv-camera="{camera}"]').first

            store_camera(redis_client, KEYS, parse_camera({"name": "gate", "url": "/v/g.mp4"},
                                                          "test"))
            set_state(redis_client, "replay", "online")  # a replay job's camera, running
            tile("gate").wait_for(timeout=WITHIN_MS)
            tile("replay").wait_for(timeout=WITHIN_MS)
            set_state(redis_client, "replay", "finished")
            tile("replay").wait_for(state="detached", timeout=WITHIN_MS)
            remove_camera(redis_client, KEYS, "gate")
            set_state(redis_client, "gate", "stopped")
            tile("gate").wait_for(state="detached", timeout=WITHIN_MS)

            page.get_by_text("Events", exact=True).first.click()
            page.get_by_text("No events match").first.wait_for(timeout=30_000)
            store(redis_client, media, "gate", 1, "person", clip=False)
            page.get_by_text("gate · person", exact=False).first.wait_for(timeout=WITHIN_MS)
            browser.close()
