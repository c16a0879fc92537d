"""Live video benchmark: what the dashboard's streams and page deliver, printed as JSON.

``cctv up`` runs on a private embedded Redis with ``--cameras`` cameras (the sample video, looped
in real time at ``--fps``), one worker, the tracker and the dashboard. Then, for 1 and 5 viewers,
for ``--seconds`` each:
- ``mjpeg``: every viewer reads every camera's ``live.mjpg`` with a plain HTTP client;
- ``page``: every viewer is a headless Chromium page on the Live view (Debian's chromium);
and the bench reports the share of published frames delivered (the worst camera), the
capture-to-screen latency (p50/p95 over all frames shown: parts read, or frames drawn on the
page's canvases) beside the pipeline's own lag (capture to the tracker's message), the dashboard
process's CPU per viewer (percent of one core) and the browsers' CPU per viewer. Published frames
are read from the frame streams, so nothing is estimated. The browsers share the 2 cores with
the pipeline and the dashboard here; a viewer's browser is normally on another machine.
Goals (issue 12): delivered >= 0.9, p95 <= 0.5 s, CPU per viewer <= 15%.
Usage: ``.venv/bin/python bench/live_video.py [--cameras 4] [--fps 10] [--seconds 30]``.

``--overload`` (issue 25): 8 cameras at the sample's own 25 fps against the one worker, read by
one ``live.mjpg`` viewer each, measured after a fixed warm-up (detection never catches up):
per camera the published fps, the share of them ``live.mjpg`` delivered, and ``cctv status``'s
``detected_ratio``, ``lag_s`` and skipped frames; capture-to-screen p95 over all frames shown.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import psutil
import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common.keys import KEYS  # noqa: E402
from common.messages import FrameMessage  # noqa: E402
from common.stream_ids import StreamId  # noqa: E402
from common.tracks import TrackMessage  # noqa: E402

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


OVERLOAD_CAMERAS, OVERLOAD_WARM_UP_S = 8, 20.0


def cameras_file(folder: Path, cameras: int, fps: float | None) -> Path:
    """The sample looped in real time as ``cameras`` cameras (``fps`` None: all its frames)."""
    from cctv.up import sample_video

    path = folder / "cameras.yaml"
    rate = f", fps: {fps}" if fps else ""
    lines = ["cameras:"] + [f"  - {{name: cam{i}, url: '{sample_video()}', loop: true, "
                            f"realtime: true{rate}}}" for i in range(cameras)]
    path.write_text("\n".join(lines) + "\n")
    return path


class Published:
    """Capture times of the frames published to each camera's stream, and the pipeline's own lag
    (capture to the tracker's message in Redis), read every second (the capped streams hold many
    seconds)."""

    def __init__(self, client: redis.Redis, cameras: list[str]):
        self.client, self.cameras = client, cameras
        self.last: dict[str, str] = {}
        self.ts: dict[str, list[float]] = {c: [] for c in cameras}
        self.lags: list[float] = []

    def start(self) -> None:
        self.lags = []
        for stream in [KEYS.frames(c) for c in self.cameras] + [KEYS.tracks(c)
                                                                for c in self.cameras]:
            newest = self.client.xrevrange(stream, count=1)
            self.last[stream] = newest[0][0].decode() if newest else "0-0"

    def poll(self) -> None:
        for camera in self.cameras:
            for stream, message in ((KEYS.frames(camera), FrameMessage),
                                    (KEYS.tracks(camera), TrackMessage)):
                for entry_id, fields in self.client.xrange(stream, f"({self.last[stream]}", "+"):
                    self.last[stream] = entry_id = entry_id.decode()
                    ts = message.from_fields(fields).ts
                    if message is FrameMessage:
                        self.ts[camera].append(ts)
                    else:
                        self.lags.append(StreamId.parse(entry_id).ms / 1000 - ts)

    def within(self, camera: str, start: float, end: float) -> int:
        return sum(start <= t < end for t in self.ts[camera])


def steady(published: Published, deadline: float) -> None:
    """Wait until the pipeline has caught up with its start (the tracker's lag under 0.5 s for
    5 s): the figures are for a running pipeline, not for its warm-up backlog."""
    while time.monotonic() < deadline:
        published.start()
        time.sleep(5)
        published.poll()
        if published.lags and percentile(published.lags, 0.95) < 0.5:
            return


def read_mjpeg(url: str, stop: threading.Event, shown: dict[str, tuple[float, float]]) -> None:
    """Read parts until ``stop``; ``shown``: frame id -> (capture ts, latency) of fresh parts."""
    with urllib.request.urlopen(url, timeout=10) as reply:
        while not stop.is_set():
            line = reply.readline()
            if not line:
                return
            if not line.startswith(b"--frame"):
                continue
            headers = {}
            while (header := reply.readline().strip()):
                name, _, value = header.decode().partition(":")
                headers[name.lower()] = value.strip()
            reply.read(int(headers["content-length"]))
            if headers.get("x-stale") != "1":
                ts = float(headers["x-frame-ts"])
                shown.setdefault(headers["x-frame-id"], (ts, time.time() - ts))


def percentile(values: list[float], q: float) -> float | None:
    ordered = sorted(values)
    return round(ordered[min(int(q * len(ordered)), len(ordered) - 1)], 3) if ordered else None


def cpu_seconds(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return times.user + times.system


def browsers_cpu_seconds() -> float:
    """CPU seconds of the Chromium processes this bench started (alive now)."""
    total = 0.0
    for proc in psutil.Process().children(recursive=True):
        try:
            if "chromium" in proc.exe():
                total += cpu_seconds(proc)
        except psutil.Error:
            pass
    return total


def measure(kind: str, viewers: int, base: str, cameras: list[str], seconds: float,
            published: Published, dashboard: psutil.Process) -> dict:
    stop = threading.Event()
    latencies: list[float] = []
    delivered: dict[str, list[int]] = {c: [] for c in cameras}
    browser = playwright = None
    if kind == "mjpeg":
        shown = [{c: {} for c in cameras} for _ in range(viewers)]
        threads = [threading.Thread(target=read_mjpeg, daemon=True,
                                    args=(f"{base}/cameras/{c}/live.mjpg", stop, shown[v][c]))
                   for v in range(viewers) for c in cameras]
        for thread in threads:
            thread.start()
        time.sleep(3)  # connected and playing
    else:
        from playwright.sync_api import sync_playwright

        playwright = sync_playwright().start()
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        pages = []
        for _ in range(viewers):
            # a context per viewer: its own connections, as another person's browser has
            page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
            page.goto(base + "/")
            page.wait_for_function(f"Object.keys(window.cctvStats || {{}}).length >= "
                                   f"{len(cameras)}", timeout=120_000)
            pages.append(page)
        for page in pages:
            page.evaluate("Object.values(window.cctvStats).forEach(s => "
                          "{ s.frames = 0; s.latencies = []; })")
    published.start()
    start, cpu0, browsers0 = time.time(), cpu_seconds(dashboard), browsers_cpu_seconds()
    while time.time() - start < seconds:
        time.sleep(1)
        published.poll()
    end, cpu1, browsers1 = time.time(), cpu_seconds(dashboard), browsers_cpu_seconds()
    if kind == "mjpeg":
        stop.set()
        for viewer in shown:
            for camera, frames in viewer.items():
                # readers may still add a part after stop: a copy of what they have
                fresh = [lat for ts, lat in list(frames.values()) if start <= ts < end]
                delivered[camera].append(len(fresh))
                latencies += fresh
    else:
        for page in pages:
            stats = page.evaluate("window.cctvStats")
            for camera in cameras:
                delivered[camera].append(stats[camera]["frames"])
                latencies += stats[camera]["latencies"]
        browser.close()
        playwright.stop()
    ratios = {c: min(counts) / max(published.within(c, start, end), 1)
              for c, counts in delivered.items()}
    return {"viewers": viewers, "delivered_min": round(min(ratios.values()), 3),
            "delivered": {c: round(r, 3) for c, r in ratios.items()},
            "published_fps_per_camera": {c: round(published.within(c, start, end) / (end - start),
                                                  2) for c in cameras},
            "latency_p50_s": percentile(latencies, 0.5),
            "latency_p95_s": percentile(latencies, 0.95),
            "pipeline_lag_p50_s": percentile(published.lags, 0.5),
            "pipeline_lag_p95_s": percentile(published.lags, 0.95),
            "published_fps": round(sum(published.within(c, start, end) for c in cameras)
                                   / len(cameras) / (end - start), 2),
            "dashboard_cpu_per_viewer_pct": round(100 * (cpu1 - cpu0) / (end - start) / viewers,
                                                  1),
            "browser_cpu_per_viewer_pct": round(100 * (browsers1 - browsers0) / (end - start)
                                                / viewers, 1)}


def detection_figures(client: redis.Redis, cameras: list[str]) -> dict[str, dict]:
    """``cctv status``'s view of how detection keeps up with each camera."""
    from runtime.status import camera_status

    figures = {}
    for camera in cameras:
        status = camera_status(client, KEYS, camera, True, None)
        figures[camera] = {"detected_ratio": status.detected_ratio, "lag_s": status.lag_s,
                           "frames_skipped": status.frames_skipped,
                           "frames_dropped": status.frames_dropped}
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, default=4)
    parser.add_argument("--fps", type=float, default=10.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--viewers", default="1,5")
    parser.add_argument("--kinds", default="mjpeg,page")
    parser.add_argument("--overload", action="store_true",
                        help=f"{OVERLOAD_CAMERAS} cameras at 25 fps, one live.mjpg viewer")
    args = parser.parse_args()
    if args.overload:
        args.cameras, args.fps, args.kinds, args.viewers = OVERLOAD_CAMERAS, None, "mjpeg", "1"
    cameras = [f"cam{i}" for i in range(args.cameras)]
    with tempfile.TemporaryDirectory(prefix="cctv-live-bench-") as folder:
        folder = Path(folder)
        port = free_port()
        env = dict(os.environ, CCTV_DASHBOARD_PORT=str(port), CCTV_RUN_DIR=str(folder / "run"),
                   CCTV_MEDIA_DIR=str(folder / "events"),
                   CCTV_RECORDINGS_DIR=str(folder / "recordings"),
                   CCTV_EMBEDDED_PORT=str(free_port()), CCTV_LOG_LEVEL="WARNING")
        env.pop("REDIS_URL", None)
        up = subprocess.Popen([sys.executable, "-m", "cctv", "up", "--cameras-file",
                               str(cameras_file(folder, args.cameras, args.fps))], env=env,
                              cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            base = f"http://127.0.0.1:{port}"
            client = redis.Redis(port=int(env["CCTV_EMBEDDED_PORT"]))
            deadline = time.monotonic() + 180
            while not all(client.xlen(KEYS.tracks(c)) for c in cameras):
                if up.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("the pipeline did not start")
                time.sleep(1)
            dashboard = next(p for p in psutil.Process(up.pid).children(recursive=True)
                             if "dashboard/server.py" in " ".join(p.cmdline()))
            published = Published(client, cameras)
            if args.overload:
                time.sleep(OVERLOAD_WARM_UP_S)
            else:
                steady(published, deadline)
            results = []
            for kind in args.kinds.split(","):
                if kind == "page" and not Path(CHROMIUM).exists():
                    continue
                for viewers in (int(v) for v in args.viewers.split(",")):
                    results.append({"kind": kind, **measure(kind, viewers, base, cameras,
                                                            args.seconds, published, dashboard)})
                    time.sleep(12)  # feeds of the last round linger, then stop
            detection = detection_figures(client, cameras)
        finally:
            up.send_signal(signal.SIGINT)
            up.wait(60)
    goals = {f"{r['kind']}_{r['viewers']}": r["delivered_min"] >= 0.9
             and (r["latency_p95_s"] or 99) <= 0.5 and r["dashboard_cpu_per_viewer_pct"] <= 15
             for r in results}
    print(json.dumps({"cameras": args.cameras, "fps": args.fps, "seconds": args.seconds,
                      "results": results, "detection": detection, "goals_met": goals},
                     indent=1))


if __name__ == "__main__":
    main()
