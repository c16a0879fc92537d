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
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import redis

from common.keys import KEYS

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


CHANGES_PER_S = """async (seconds) => {
  // Pictures per second on the first camera's canvas, told apart by a checksum of its pixels.
  const canvas = document.querySelector("canvas[data-cctv-src]");
  const context = canvas.getContext("2d", { willReadFrequently: true });
  let last = null, changes = 0;
  const end = performance.now() + seconds * 1000;
  while (performance.now() < end) {
    await new Promise((resolve) => requestAnimationFrame(resolve));
    const pixels = context.getImageData(0, 0, canvas.width, canvas.height).data;
    let sum = 0;
    for (let i = 0; i < pixels.length; i += 97) sum = (sum * 31 + pixels[i]) | 0;
    if (last !== null && sum !== last) changes += 1;
    last = sum;
  }
  return changes / seconds;
}"""


def order(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq)


def frame_ids_published(client: redis.Redis, after: str, seconds: float) -> list[str]:
    """The ids of the frames added to the sample camera's stream after ``after`` in ``seconds``."""
    ids, end = [], time.monotonic() + seconds
    while time.monotonic() < end:
        for _, entries in client.xread({KEYS.frames("bikes"): after}, count=100, block=200):
            ids += [entry_id.decode() for entry_id, _ in entries]
            after = ids[-1]
    return ids


def mjpeg_frame_ids(url: str, seconds: float) -> list[str]:
    """The frame ids of the fresh parts a plain HTTP client reads from ``url`` in ``seconds``."""
    ids = []
    with urllib.request.urlopen(url, timeout=10) as reply:
        assert reply.headers["Content-Type"].startswith("multipart/x-mixed-replace")
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if not reply.readline().startswith(b"--frame"):
                continue
            headers = dict(line.decode().split(": ", 1) for line in
                           iter(lambda: reply.readline().strip(), b""))
            body = reply.read(int(headers["Content-Length"]))
            assert body.startswith(b"\xff\xd8") and headers["Content-Type"] == "image/jpeg"
            if headers["X-Stale"] == "0":
                ids.append(headers["X-Frame-Id"])
    return ids


@pytest.mark.slow
def test_live_view_plays_the_sample_camera_as_video_with_people_counted(redis_url, tmp_path):
    if not Path(CHROMIUM).exists():
        pytest.skip("no chromium: scripts/test installs Debian's chromium when run as root")
    from playwright.sync_api import sync_playwright

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = dict(os.environ, REDIS_URL=redis_url, CCTV_DASHBOARD_PORT=str(port),
               CCTV_RUN_DIR=str(tmp_path / "run"), CCTV_NUM_THREADS="1")
    log_path = tmp_path / "up.log"
    log = log_path.open("w")
    up = subprocess.Popen([sys.executable, "-m", "cctv", "up"], env=env, stdout=log,
                          stderr=subprocess.STDOUT, cwd=tmp_path)
    client = redis.Redis.from_url(redis_url)
    try:
        wait_http(f"{base}/_stcore/health", 90, up, log_path)
        # The MJPEG route with a plain HTTP client: parts at the rate frames are published.
        deadline = time.monotonic() + 120
        while not client.xlen(KEYS.tracks("bikes")) and time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(2)
        first = client.xrevrange(KEYS.frames("bikes"), count=1)[0][0].decode()
        published: list[str] = []  # read as they come: the capped stream trims them soon
        watcher = threading.Thread(target=lambda: published.extend(
            frame_ids_published(client, first, 6.0)))
        watcher.start()
        ids = mjpeg_frame_ids(f"{base}/cameras/bikes/live.mjpg", 5.0)
        watcher.join()
        assert len(set(ids)) == len(ids), "a frame was sent twice"
        # frames published while reading, against the parts that showed them (a pipeline that
        # lags also delivers frames published before: those are left out of both)
        published = [i for i in published if order(i) <= order(ids[-1])]
        shown = [i for i in ids if order(first) < order(i)]
        assert len(shown) >= 0.9 * len(published) and len(published) >= 50, \
            f"{len(shown)} parts for {len(published)} frames published"
        assert urllib.request.urlopen(f"{base}/cameras/bikes/latest.jpg").read(2) == b"\xff\xd8"
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(f"{base}/cameras/nope/live.mjpg")
        assert missing.value.code == 404 and missing.value.read() == b"unknown camera: nope\n"
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(base + "/")
            page.wait_for_function("(window.cctvStats || {}).bikes?.frames > 10",
                                   timeout=120_000)
            changes = page.evaluate(CHANGES_PER_S, 5)
            assert changes >= 10, f"the Live view changed {changes:.1f} times a second"
            deadline = time.monotonic() + 90  # pedestrians pass every few seconds of the loop
            while person_count(page) == 0 and time.monotonic() < deadline:
                page.wait_for_timeout(200)
            people = person_count(page)
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "dashboard.png"))
            assert people > 0, "no person counted on the live page within 90 s"
            assert page.get_by_text("bikes · online").count() >= 1
            browser.close()
    finally:
        up.send_signal(signal.SIGTERM)
        try:
            status = up.wait(60)
        except subprocess.TimeoutExpired:
            up.kill()
            status = None
        client.close()
        log.close()
    assert status == 0, log_path.read_text()[-3000:]
