"""Camera credentials from the environment (``${VAR}``) or a private cameras file reach the
camera, and nothing else: not Redis, not the logs, not the metrics, not ``cctv`` output."""

from __future__ import annotations

import base64
import http.server
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from common.cameras import CameraConfig
from common.keys import KEYS
from common.schema import SettingsError
from runtime.camera_list import store_camera

CCTV = Path(sys.executable).with_name("cctv")
ENV_SECRET = "env-s3cr3t-7421"
FILE_SECRET = "file-s3cr3t-9034"


class AuthCamera(http.server.ThreadingHTTPServer):
    """An HTTP camera that demands Basic auth and records the credentials it was sent."""

    def __init__(self):
        seen: list[str] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                auth = self.headers.get("Authorization", "")
                if auth.startswith("Basic "):
                    seen.append(base64.b64decode(auth[6:]).decode())
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="camera"')
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.seen = seen


@pytest.fixture
def camera_server():
    server = AuthCamera()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_credentials_reach_the_camera_and_nothing_else(redis_client, redis_url, camera_server,
                                                       tmp_path, dump_redis):
    port = camera_server.server_port
    cameras = tmp_path / "cameras.yaml"  # the private file (a Docker secret in compose)
    cameras.write_text(
        "cameras:\n"
        f"  - name: from-env\n    url: http://admin:${{CAM_PASSWORD}}@127.0.0.1:{port}/a.mjpg\n"
        f"  - name: from-file\n    url: http://admin:{FILE_SECRET}@127.0.0.1:{port}/b.mjpg\n")
    cameras.chmod(0o600)
    metrics_port = free_port()
    env = dict(os.environ, REDIS_URL=redis_url, CAM_PASSWORD=ENV_SECRET,
               CCTV_METRICS_PORT=str(metrics_port), CCTV_BACKOFF_INITIAL_S="0.1",
               CCTV_BACKOFF_MAX_S="0.3", CCTV_OPEN_TIMEOUT_S="2", CCTV_LOG_LEVEL="DEBUG")
    proc = subprocess.Popen([str(CCTV), "ingest", "--cameras-file", str(cameras)], env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        wanted = {f"admin:{ENV_SECRET}", f"admin:{FILE_SECRET}"}
        while not wanted <= set(camera_server.seen) and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1)  # a few more reconnects, logs and state updates
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics",
                                         timeout=5).read().decode()
    finally:
        proc.terminate()
        logs, _ = proc.communicate(timeout=30)
    assert wanted <= set(camera_server.seen), "the camera never got both credentials"
    outputs = [subprocess.run([str(CCTV), *args], env=env, capture_output=True, text=True,
                              timeout=60) for args in (["camera", "ls", "--json"],
                                                       ["status", "--json"])]
    assert all(o.returncode == 0 for o in outputs)
    assert 'camera="from-env"' in metrics and "offline" in logs
    assert b"http://***@127.0.0.1" in b"".join(dump_redis(redis_client))
    places = {"redis": b"\n".join(dump_redis(redis_client)).decode(errors="replace"),
              "logs": logs, "metrics": metrics,
              "cctv output": "".join(o.stdout + o.stderr for o in outputs)}
    for where, text in places.items():
        for secret in (ENV_SECRET, FILE_SECRET):
            assert secret not in text, f"{secret} leaked into {where}"


def test_the_shared_camera_list_refuses_literal_credentials(redis_client):
    cam = CameraConfig(name="lobby", url=f"rtsp://admin:{FILE_SECRET}@10.0.0.5/s")
    with pytest.raises(SettingsError) as err:
        store_camera(redis_client, KEYS, cam)
    assert FILE_SECRET not in str(err.value)
    assert redis_client.hlen(KEYS.cameras) == 0
    store_camera(redis_client, KEYS, cam.model_copy(update={
        "url": "rtsp://admin:${LOBBY_PASSWORD}@10.0.0.5/s"}))
    assert redis_client.hlen(KEYS.cameras) == 1
