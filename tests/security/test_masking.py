"""One masker for every URL with secrets: user info up to the last ``@`` (passwords holding
``@``, ``:`` or ``/``) and a broad, case-insensitive list of secret query names; masked in logs,
Redis, status and errors, and refused by ``cctv camera add``."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time

import pytest

from common.cameras import CameraConfig
from common.keys import KEYS
from common.urls import has_literal_secret, mask_text, mask_url
from ingest.service import IngestService
from ingest.settings import IngestSettings
from runtime.logging_setup import JsonFormatter, TextFormatter

SECRET = "hun@terZ"
URLS = [
    f"rtsp://admin:{SECRET}@127.0.0.1:9/stream1",
    f"rtsp://admin:a:b/{SECRET}@127.0.0.1:9/s",
    f"http://127.0.0.1:9/x?pw={SECRET}",
    f"http://127.0.0.1:9/x?user=a&PASSWD={SECRET}",
    f"http://127.0.0.1:9/x?loginPas={SECRET}&usr=admin",
    f"http://127.0.0.1:9/x?token={SECRET}",
    f"http://127.0.0.1:9/x?api_key={SECRET}",
    f"http://127.0.0.1:9/x?auth={SECRET}",
    f"http://127.0.0.1:9/x.m3u8?sig={SECRET}&Expires=1",
    f"https://127.0.0.1:9/x?X-Amz-Signature={SECRET}",
    f"http://127.0.0.1:9/x?access_token={SECRET}#frag",
]


def cctv(redis_url, *args, check=True):
    out = subprocess.run([sys.executable, "-m", "cctv", *args], capture_output=True, text=True,
                         env=dict(os.environ, REDIS_URL=redis_url), timeout=60)
    assert out.returncode == 0 or not check, out.stderr
    return out


@pytest.mark.parametrize("url", URLS)
def test_masked_and_refused(url):
    assert "terZ" not in mask_url(url) and "***" in mask_url(url)
    assert "terZ" not in mask_text(f"camera x offline: cannot open {url}; retrying")
    assert has_literal_secret(url)


@pytest.mark.parametrize("url, masked", [
    ("rtsp://admin:hun@terZ@cam/s", "rtsp://***@cam/s"),
    ("rtsp://admin:${CAM_PW}@cam/s?pw=${CAM_PW}", "rtsp://admin:${CAM_PW}@cam/s?pw=${CAM_PW}"),
    ("rtsp://viewer@cam/s", "rtsp://***@cam/s"),
    ("http://cam/x?user=a&keyframe=1", "http://cam/x?user=a&keyframe=1"),
    ("/data/file.mp4", "/data/file.mp4"),
])
def test_mask_exactly(url, masked):
    assert mask_url(url) == masked


def test_placeholders_and_user_names_are_not_secrets():
    assert not has_literal_secret("rtsp://admin:${CAM_PW}@cam/s?token=${TOKEN}")
    assert not has_literal_secret("rtsp://viewer@cam/s?user=admin")


@pytest.mark.parametrize("url", URLS[:3])
def test_camera_add_refuses_and_never_echoes(redis_url, url):
    out = cctv(redis_url, "camera", "add", "pw", url, check=False)
    assert out.returncode == 2 and "${VAR}" in out.stderr
    assert "terZ" not in out.stderr + out.stdout and "Traceback" not in out.stderr


def test_replay_error_never_echoes(redis_url):
    out = cctv(redis_url, "replay", f"http://admin:{SECRET}@127.0.0.1:9/x.mp4", "--camera", "c",
               check=False)
    assert out.returncode == 2 and "terZ" not in out.stderr


def test_ingest_masks_in_logs_redis_and_status(redis_client, redis_url, caplog, dump_redis):
    """Cameras from the private YAML, unreachable: their state, logs and status show no secret."""
    caplog.set_level(logging.DEBUG)
    seed = [CameraConfig(name=f"c{i}", url=url) for i, url in enumerate(URLS)]
    settings = IngestSettings(redis_url=redis_url, camera_poll_s=0.1, open_timeout_s=1,
                              backoff_initial_s=0.1)
    service = IngestService(redis_client, settings, seed)
    stop = threading.Event()
    thread = threading.Thread(target=service.run, args=(stop,))
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not all(
                redis_client.hget(KEYS.state(c.name), "state") == b"offline" for c in seed):
            time.sleep(0.1)
        status = cctv(redis_url, "status").stdout + cctv(redis_url, "status", "--json").stdout
        listed = cctv(redis_url, "camera", "ls").stdout + cctv(redis_url, "camera", "ls",
                                                                 "--json").stdout
    finally:
        stop.set()
        thread.join(30)
    assert all(redis_client.hget(KEYS.state(c.name), "state") in (b"offline", b"stopped")
               for c in seed)
    assert not [v for v in dump_redis(redis_client) if b"terZ" in v]
    logged = "\n".join(TextFormatter().format(r) + JsonFormatter().format(r)
                       for r in caplog.records)
    assert "offline" in logged
    assert "terZ" not in status + listed + logged
    assert status.count("***") >= len(URLS)
