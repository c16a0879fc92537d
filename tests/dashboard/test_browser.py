"""The whole demo in a real browser: ``cctv up`` (sample video, worker, dashboard) on a real
Redis, the page loaded in headless Chromium (Debian's, driven by Playwright), a screenshot kept.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"cctv up exited early:\n{log.read_text()[-3000:]}"
        try:
            with urllib.request.urlopen(url, timeout=2) as reply:
                if reply.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"{url} did not answer in {timeout:.0f}s")


def person_count(page) -> int:
    """The value of the 'person now' metric on the page (0 while it is not shown)."""
    for metric in page.locator('[data-testid="stMetric"]').all():
        if "person now" in metric.inner_text():
            return int(metric.locator('[data-testid="stMetricValue"]').inner_text())
    return 0


@pytest.mark.slow
def test_dashboard_shows_the_sample_video_with_people_counted(redis_url, tmp_path):
    if not Path(CHROMIUM).exists():
        pytest.skip("no chromium: scripts/test installs Debian's chromium when run as root")
    from playwright.sync_api import sync_playwright

    port = free_port()
    env = dict(os.environ, REDIS_URL=redis_url, CCTV_DASHBOARD_PORT=str(port),
               CCTV_RUN_DIR=str(tmp_path / "run"), CCTV_NUM_THREADS="1")
    log_path = tmp_path / "up.log"
    log = log_path.open("w")
    up = subprocess.Popen([sys.executable, "-m", "cctv", "up"], env=env, stdout=log,
                          stderr=subprocess.STDOUT, cwd=tmp_path)
    try:
        wait_http(f"http://127.0.0.1:{port}/_stcore/health", 90, up, log_path)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(f"http://127.0.0.1:{port}/")
            page.locator('[data-testid="stImage"] img').first.wait_for(timeout=120_000)
            deadline = time.monotonic() + 90  # pedestrians pass every few seconds of the loop
            while person_count(page) == 0 and time.monotonic() < deadline:
                page.wait_for_timeout(200)
            people = person_count(page)
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "dashboard.png"))
            assert people > 0, "no person counted on the live page within 90 s"
            assert "bikes" in page.locator('[data-testid="stImage"]').first.inner_text()
            browser.close()
    finally:
        up.send_signal(signal.SIGTERM)
        try:
            status = up.wait(60)
        except subprocess.TimeoutExpired:
            up.kill()
            status = None
        log.close()
    assert status == 0, log_path.read_text()[-3000:]
