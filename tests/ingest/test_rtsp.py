"""A real RTSP camera on loopback feeds ingest, is killed and restarted; ingest reconnects.

The server is GStreamer's RTSP server (Debian's gir1.2-gst-rtsp-server-1.0, driven by
tests/ingest/rtsp_server.py under the system python3, which has ``gi``) serving a live MJPEG test
pattern; Debian's ffmpeg 5.1 cannot serve RTSP. Ingest reads it through PyAV, with RTP over the
RTSP TCP connection (interleaved) by default, or over UDP (``rtsp_transport: udp``).
"""

from __future__ import annotations

import os
import selectors
import subprocess
import threading
import time
from pathlib import Path

import pytest

from common.cameras import CameraConfig
from common.keys import KEYS
from ingest.camera import CameraRunner, read_state
from ingest.settings import IngestSettings

SYSTEM_PYTHON = "/usr/bin/python3"
SERVER = Path(__file__).with_name("rtsp_server.py")


@pytest.fixture(scope="module")
def rtsp_server_available():
    """Skip when the RTSP server cannot run: the same check scripts/test uses to install it."""
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        pytest.skip(f"{SYSTEM_PYTHON} not found (scripts/test installs python3-gi as root)")
    check = subprocess.run([SYSTEM_PYTHON, str(SERVER), "--check"], capture_output=True,
                           text=True, timeout=60, stdin=subprocess.DEVNULL)
    if check.returncode != 0:
        pytest.skip(f"RTSP server unavailable: {check.stderr.strip()} "
                    "(scripts/test installs them as root)")


def start_server(port: int, timeout: float = 15) -> subprocess.Popen:
    """Start rtsp_server.py on 127.0.0.1:port and wait for its ``ready`` line (retries a busy port)."""
    deadline = time.monotonic() + timeout
    while True:
        proc = subprocess.Popen([SYSTEM_PYTHON, str(SERVER), "--port", str(port)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            ready = sel.select(max(0.1, deadline - time.monotonic()))
        line = proc.stdout.readline() if ready else ""
        if line.startswith("ready "):
            return proc
        proc.kill()
        _, err = proc.communicate(timeout=10)
        if proc.returncode != 2 or time.monotonic() > deadline:  # 2: port still busy, try again
            pytest.fail(f"RTSP server did not start (exit {proc.returncode}): {err.strip()}")
        time.sleep(0.2)


@pytest.mark.timeout(90)
def test_rtsp_camera_reconnects_after_server_restart(rtsp_server_available, redis_client,
                                                     redis_url, free_port, wait_for, frames_in,
                                                     stop):
    port = free_port()
    url = f"rtsp://127.0.0.1:{port}/cam"
    server = start_server(port)
    settings = IngestSettings(redis_url=redis_url, stream_maxlen=50, open_timeout_s=3,
                              backoff_initial_s=0.2, backoff_max_s=1)
    halt = threading.Event()
    runner = CameraRunner(redis_client, KEYS, CameraConfig(name="cam", url=url, fps=10),
                          url, settings, halt)
    thread = threading.Thread(target=runner.run)
    thread.start()
    try:
        assert wait_for(lambda: frames_in(redis_client) >= 10, 15), "no frames from the RTSP server"
        assert read_state(redis_client, KEYS, "cam").state == "online"
        stop(server)
        assert wait_for(lambda: read_state(redis_client, KEYS, "cam").state == "offline", 10), \
            "camera not offline after the RTSP server was killed"
        before = frames_in(redis_client)
        server = start_server(port)
        assert wait_for(lambda: frames_in(redis_client) >= before + 10, 15), "no reconnect"
        state = read_state(redis_client, KEYS, "cam")
        assert state.state == "online" and state.reconnects >= 1
    finally:
        halt.set()
        stop(server)
        thread.join(15)
    assert not thread.is_alive()
    assert read_state(redis_client, KEYS, "cam").state == "stopped"


@pytest.mark.timeout(60)
def test_rtsp_over_udp(rtsp_server_available, redis_client, redis_url, free_port, wait_for,
                       frames_in, stop):
    port = free_port()
    url = f"rtsp://127.0.0.1:{port}/cam"
    server = start_server(port)
    settings = IngestSettings(redis_url=redis_url, stream_maxlen=50, open_timeout_s=3)
    halt = threading.Event()
    camera = CameraConfig(name="cam", url=url, fps=10, rtsp_transport="udp")
    thread = threading.Thread(target=CameraRunner(redis_client, KEYS, camera, url, settings,
                                                  halt).run)
    thread.start()
    try:
        assert wait_for(lambda: frames_in(redis_client) >= 10, 15), "no frames over UDP"
    finally:
        halt.set()
        stop(server)
        thread.join(15)
    assert not thread.is_alive()


def test_scripts_test_installs_what_the_rtsp_server_needs():
    """scripts/test runs the same ``--check`` and installs exactly the helper's package list."""
    import importlib.util
    import re

    spec = importlib.util.spec_from_file_location("rtsp_server_helper", SERVER)
    helper = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(helper)  # imports no gi at module level
    script = (Path(__file__).parents[2] / "scripts" / "test").read_text()
    match = re.search(r"/usr/bin/python3 tests/ingest/rtsp_server\.py --check .*?"
                      r"\|\| need\+=\(([^)]*)\)", script, re.S)
    assert match, "scripts/test no longer installs the RTSP server's packages"
    assert match.group(1).split() == list(helper.PACKAGES)
