"""A real network camera feeds ingest, is killed and restarted; ingest reconnects.

The server is ffmpeg on loopback serving HTTP MJPEG (``-f mpjpeg -listen 1``): Debian's ffmpeg 5.1
has no RTSP *server* (its RTSP muxer cannot listen; ``-rtsp_flags listen`` only receives a
publisher), and ingest opens RTSP and HTTP through the same PyAV (FFmpeg) path.
"""

import shutil
import subprocess
import threading
import time

import pytest

from common.cameras import CameraConfig
from common.keys import KEYS
from ingest.camera import CameraRunner, read_state
from ingest.settings import IngestSettings

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None,
                                reason="ffmpeg not on PATH (scripts/test installs it as root)")


def camera_server(video, port):
    return subprocess.Popen(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-re", "-stream_loop", "-1", "-i",
         str(video), "-an", "-vf", "scale=160:-2", "-q:v", "8", "-f", "mpjpeg", "-listen", "1",
         f"http://127.0.0.1:{port}/x.mjpg"], stdin=subprocess.DEVNULL)


@pytest.mark.timeout(120)
def test_network_camera_reconnects_after_server_restart(redis_client, redis_url, sample_video,
                                                        free_port, wait_for, frames_in, stop):
    port = free_port()
    url = f"http://127.0.0.1:{port}/x.mjpg"
    server = camera_server(sample_video, port)
    settings = IngestSettings(redis_url=redis_url, stream_maxlen=50, open_timeout_s=3,
                              backoff_initial_s=0.2, backoff_max_s=1)
    halt = threading.Event()
    runner = CameraRunner(redis_client, KEYS, CameraConfig(name="cam", url=url, fps=10),
                          url, settings, halt)
    thread = threading.Thread(target=runner.run)
    time.sleep(0.5)  # let ffmpeg start listening
    thread.start()
    try:
        assert wait_for(lambda: frames_in(redis_client) >= 10, 30), "no frames from the camera server"
        assert read_state(redis_client, KEYS, "cam").state == "online"
        stop(server)
        assert wait_for(lambda: read_state(redis_client, KEYS, "cam").state == "offline", 20)
        before = frames_in(redis_client)
        server = camera_server(sample_video, port)
        assert wait_for(lambda: frames_in(redis_client) >= before + 10, 40), "no reconnect"
        state = read_state(redis_client, KEYS, "cam")
        assert state.state == "online" and state.reconnects >= 1
    finally:
        halt.set()
        stop(server)
        thread.join(15)
    assert read_state(redis_client, KEYS, "cam").state == "stopped"
