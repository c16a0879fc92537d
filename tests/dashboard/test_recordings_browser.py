"""The Recordings view in headless Chromium (Debian's, driven by Playwright) against ``cctv
dashboard``: a click on the day's timeline plays the recording, and at every video time the box
drawn over the video is the one ``/api/recordings/{camera}/objects`` gives for that time (also
after a seek, while paused and at double speed)."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest
from recorded import T0, encode_h264, log_objects, record
from running import dashboard
from test_browser import ARTIFACTS, CHROMIUM

from common.events import Event, event_id
from common.keys import KEYS
from runtime.event_store import save_event

DRAWN = """() => JSON.parse(document.querySelector('[data-cctv-overlay="gate"]').dataset.drawn
                        || 'null')"""


def api_frame_at(base: str, start_ts: float, video_time: float) -> dict | None:
    """The frame the API gives for the video's time: the newest captured at or before it."""
    ts = start_ts + video_time
    with urllib.request.urlopen(f"{base}/api/recordings/gate/objects?start={ts - 0.5}"
                                f"&end={ts + 0.001}", timeout=10) as reply:
        frames = json.loads(reply.read())["objects"]
    return frames[-1] if frames else None


@pytest.mark.slow
def test_boxes_are_drawn_in_step_with_the_video(redis_url, redis_client, tmp_path, sample_video):
    if not Path(CHROMIUM).exists():
        pytest.skip("no chromium: scripts/test installs Debian's chromium when run as root")
    from playwright.sync_api import sync_playwright

    folder = tmp_path / "recordings"
    record(redis_client, encode_h264(sample_video, tmp_path / "gop25.mp4"), folder)
    log_objects(redis_client, folder)
    redis_client.sadd(KEYS.camera_names, "gate")
    save_event(redis_client, KEYS, Event(event_id("gate", 7, T0 + 4), "gate", "person", T0 + 4,
                                         T0 + 6, 0.9))
    with dashboard({"REDIS_URL": redis_url, "CCTV_RECORDINGS_DIR": str(folder),
                    "CCTV_RUN_DIR": str(tmp_path)}) as base:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(base + "/")
            page.get_by_text("Recordings", exact=True).first.click()
            timeline = page.locator('[data-cctv-timeline="gate"]')
            timeline.wait_for(timeout=60_000)
            box = timeline.bounding_box()
            day = page.evaluate("""() => JSON.parse(document.querySelector(
                '[data-cctv-recording]').dataset.cctvRecording).day""")
            x = (T0 + 4 - day[0]) / (day[1] - day[0]) * box["width"]
            timeline.click(position={"x": x, "y": 18})  # on the event's marker
            page.wait_for_function("() => window.cctvRecordings.gate.drawn", timeout=30_000)
            start_ts = page.evaluate("() => window.cctvRecordings.gate.startTs")
            assert start_ts <= T0 + 2 and page.evaluate(
                "() => document.querySelector('video').currentTime") > 0
            checks = [("playing", None), ("seek", 1.3), ("paused", 2.71), ("fast", None)]
            for what, seek in checks:
                if seek is not None:
                    page.evaluate(f"""async () => {{
                        const v = document.querySelector('video');
                        v.pause();
                        v.currentTime = {seek};
                        await new Promise(r => v.addEventListener('seeked', r, {{once: true}}));
                    }}""")
                if what == "fast":
                    page.evaluate("() => { const v = document.querySelector('video');"
                                  " v.playbackRate = 2; v.play(); }")
                page.wait_for_timeout(300)
                drawn = page.evaluate(DRAWN)
                expected = api_frame_at(base, start_ts, drawn["video_time"])
                assert drawn["frame"] == expected, (what, drawn, expected)
                assert drawn["frame"]["boxes"][0]["track_id"] == 7
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "recordings.png"))
            browser.close()
