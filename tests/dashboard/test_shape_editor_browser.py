"""The Cameras view's line, zone and mask editor in headless Chromium (Debian's, driven by
Playwright) against ``cctv dashboard``: points clicked on the camera's latest frame, named and
saved, read back through the API; a point dragged, a shape deleted; the rest of the camera kept."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest
from test_browser import ARTIFACTS, CHROMIUM

from common.cameras import CameraConfig
from common.keys import KEYS
from common.messages import FrameMessage
from running import dashboard
from runtime.camera_list import store_camera

GATE = CameraConfig.model_validate({
    "name": "gate", "url": "rtsp://viewer:${GATE_PW}@192.0.2.1/s", "fps": 5, "max_width": 800,
    "counting": {"min_frames": 4, "masks": [{"name": "tree", "points": [[0, 0], [0.2, 0],
                                                                        [0, 0.2]]}]},
    "events": {"clips": False},
    "webhooks": [{"url": "https://hooks.example/${HOOK_TOKEN}"}]})
WIDTH, HEIGHT = 320, 180


def stored_camera(base: str) -> dict:
    with urllib.request.urlopen(f"{base}/api/cameras", timeout=10) as reply:
        return json.loads(reply.read())["cameras"]["gate"]


def assert_points(shape: dict, name: str, points: list[tuple[float, float]]) -> None:
    assert shape["name"] == name and len(shape["points"]) == len(points), shape
    for got, want in zip(shape["points"], points):
        assert abs(got[0] - want[0]) <= 0.02 and abs(got[1] - want[1]) <= 0.02, (shape, points)


@pytest.mark.slow
def test_draw_save_move_and_delete_shapes(redis_url, redis_client, tmp_path):
    if not Path(CHROMIUM).exists():
        pytest.skip("no chromium: scripts/test installs Debian's chromium when run as root")
    from playwright.sync_api import expect, sync_playwright

    store_camera(redis_client, KEYS, GATE)
    jpeg = cv2.imencode(".jpg", np.full((HEIGHT, WIDTH, 3), 90, np.uint8))[1].tobytes()
    redis_client.xadd(KEYS.frames("gate"), FrameMessage("gate", 0, time.time(), WIDTH, HEIGHT,
                                                        jpeg).to_fields())
    kept = {key: value for key, value in GATE.model_dump(mode="json").items()
            if key not in ("lines", "zones", "counting", "url")}
    with dashboard({"REDIS_URL": redis_url, "CCTV_RUN_DIR": str(tmp_path)}) as base:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(base + "/")
            page.get_by_text("Cameras", exact=True).first.click()
            editor = page.locator("[data-cctv-editor=gate]")
            canvas = editor.locator("canvas")
            canvas.wait_for(timeout=60_000)
            page.wait_for_function(f"""() => document.querySelector(
                '[data-cctv-editor=gate] canvas').width === {WIDTH}""", timeout=30_000)
            canvas.scroll_into_view_if_needed()
            box = canvas.bounding_box()

            def at(x: float, y: float) -> tuple[float, float]:
                return box["x"] + x * box["width"], box["y"] + y * box["height"]

            def save() -> None:
                editor.get_by_role("button", name="Save shapes").click()
                expect(editor.locator(".cctv-editor-status")).to_contain_text("saved:")

            editor.locator("select").select_option("lines")
            editor.locator("input").fill("door")
            for point in [(0.2, 0.3), (0.8, 0.3)]:
                page.mouse.click(*at(*point))
            editor.locator("select").select_option("zones")
            editor.locator("input").fill("desk")
            for point in [(0.1, 0.5), (0.5, 0.5), (0.5, 0.9)]:
                page.mouse.click(*at(*point))
            editor.get_by_role("button", name="Close shape").click()
            save()
            camera = stored_camera(base)
            assert_points(camera["lines"][0], "door", [(0.2, 0.3), (0.8, 0.3)])
            assert_points(camera["zones"][0], "desk", [(0.1, 0.5), (0.5, 0.5), (0.5, 0.9)])
            assert camera["counting"]["masks"] == GATE.model_dump(mode="json")["counting"]["masks"]

            page.mouse.move(*at(0.8, 0.3))  # drag the line's second point
            page.mouse.down()
            page.mouse.move(*at(0.7, 0.6), steps=5)
            page.mouse.up()
            editor.locator('li[data-shape="zones:desk"] button').click()
            editor.locator('li[data-shape="masks:tree"] button').click()
            save()
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "shape-editor.png"))
            camera = stored_camera(base)
            assert_points(camera["lines"][0], "door", [(0.2, 0.3), (0.7, 0.6)])
            assert camera["zones"] == [] and camera["counting"]["masks"] == []
            assert camera["counting"]["min_frames"] == 4
            assert {key: camera[key] for key in kept} == kept
            assert "${GATE_PW}" in camera["url"]

            editor.locator("select").select_option("zones")
            editor.locator("input").fill("no good")  # refused as in a cameras file
            for point in [(0.1, 0.1), (0.3, 0.1), (0.3, 0.3)]:
                page.mouse.click(*at(*point))
            editor.get_by_role("button", name="Close shape").click()
            editor.get_by_role("button", name="Save shapes").click()
            expect(editor.locator(".cctv-editor-status")).to_contain_text("zones.0.name")
            assert stored_camera(base)["zones"] == []
            browser.close()
