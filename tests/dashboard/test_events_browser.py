"""The Events view in headless Chromium (Debian's, driven by Playwright) against ``cctv
dashboard``: thumbnails appear, and the selected event's clip plays in the page."""

from __future__ import annotations

from pathlib import Path

import pytest

from running import dashboard
from test_browser import ARTIFACTS, CHROMIUM
from test_events_view import store


@pytest.mark.slow
def test_events_view_shows_thumbnails_and_plays_a_clip(redis_url, redis_client, tmp_path):
    if not Path(CHROMIUM).exists():
        pytest.skip("no chromium: scripts/test installs Debian's chromium when run as root")
    from playwright.sync_api import sync_playwright

    media = tmp_path / "media"
    event = store(redis_client, media, "gate", 1, "person", clip=True)
    store(redis_client, media, "gate", 2, "car", clip=False)
    with dashboard({"REDIS_URL": redis_url, "CCTV_MEDIA_DIR": str(media),
                    "CCTV_RUN_DIR": str(tmp_path)}) as base:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(base + "/")
            page.get_by_text("Events", exact=True).first.click()
            thumbs = page.locator('[data-testid="stImage"] img')
            thumbs.nth(1).wait_for(timeout=60_000)
            assert thumbs.count() == 2
            assert page.evaluate("""() => [...document.querySelectorAll(
                '[data-testid="stImage"] img')].every(i => i.complete && i.naturalWidth > 0)""")
            page.get_by_role("button", name="Show").nth(1).click()  # newest first: the car, then the person
            page.locator("video").wait_for(timeout=30_000)
            played = page.evaluate("""async () => {
                const v = document.querySelector("video");
                v.muted = true;
                await v.play();
                await new Promise(r => setTimeout(r, 600));
                return v.currentTime;
            }""")
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "events.png"))
            assert played > 0.2, f"the clip did not play ({played}s)"
            assert page.get_by_text(f"id {event.id}", exact=False).count() >= 1
            browser.close()
