"""The live video routes served by uvicorn against a real Redis, fed frames and detections as a
worker would publish them: MJPEG at the published rate with each frame's own boxes, the newest
frame, a stopped camera shown as stopped, and the 400/401/404 answers."""

from __future__ import annotations

import base64
import socket
import threading
import time
import urllib.error
import urllib.request

import cv2
import numpy as np
import pytest
import redis
import uvicorn
from starlette.applications import Starlette

from api.auth import stream_token
from api.live import LiveHub
from api.routes import live_routes
from common.keys import KEYS
from common.messages import DetectedObject, DetectionMessage, FrameMessage
from media.draw import label_color
from runtime.redis_conn import EmbeddedRedis

WIDTH, HEIGHT = 320, 240



def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def serve(redis_client):
    """Start the routes on a free port with the given password; yields the base URL maker."""
    servers = []

    def start(password: str | None = None, stale_s: float = 5.0, client=None) -> str:
        client = client or redis_client
        hub = LiveHub(client, KEYS, stale_s=stale_s, linger_s=1.0)
        app = Starlette(routes=live_routes(client, KEYS, hub, password))
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                               log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.02)
        servers.append((server, thread, hub))
        return f"http://127.0.0.1:{port}"

    yield start
    for server, thread, hub in servers:
        server.should_exit = True
        hub.stop()
        thread.join(10)


def frame_image(seq: int) -> np.ndarray:
    """A grey frame with a white square whose place depends on ``seq``."""
    image = np.full((HEIGHT, WIDTH, 3), 90, np.uint8)
    x = 20 + (seq * 7) % (WIDTH - 80)
    image[100:140, x:x + 40] = 255
    return image


def square_box(seq: int) -> tuple[float, float, float, float]:
    x = 20 + (seq * 7) % (WIDTH - 80)
    return (x - 6.0, 94.0, x + 46.0, 146.0)


def publish(client, camera: str, seq: int, detect: bool = True) -> str:
    """One frame as ingest writes it, and (``detect``) its detections as a worker does."""
    ok, jpeg = cv2.imencode(".jpg", frame_image(seq), [cv2.IMWRITE_JPEG_QUALITY, 90])
    frame_id = client.xadd(KEYS.frames(camera), FrameMessage(
        camera, seq, time.time(), WIDTH, HEIGHT, jpeg.tobytes()).to_fields()).decode()
    client.sadd(KEYS.camera_names, camera)
    if detect:
        person = DetectedObject("person", 1, 0.9, square_box(seq))
        client.xadd(KEYS.detections(camera), DetectionMessage(
            camera, frame_id, seq, time.time(), time.time(), "w", WIDTH, HEIGHT,
            [person]).to_fields())
    return frame_id


class Camera(threading.Thread):
    """Publishes a frame (and its detections) every 1/fps seconds until stopped."""

    def __init__(self, client, name: str, fps: float, detect: bool = True):
        super().__init__(daemon=True)
        self.client, self.name, self.fps, self.detect = client, name, fps, detect
        self.stop = threading.Event()
        self.seqs: dict[str, int] = {}

    def run(self) -> None:
        seq = 0
        while not self.stop.wait(1 / self.fps):
            try:
                self.seqs[publish(self.client, self.name, seq, self.detect)] = seq
            except redis.ConnectionError:
                continue  # Redis is away: this frame is lost, as a live camera's would be
            seq += 1


def read_parts(url: str, seconds: float, headers: dict | None = None) -> list[dict]:
    """The parts of a multipart stream read for ``seconds``: headers and the decoded image."""
    parts = []
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=10) as reply:
        assert reply.headers["Content-Type"] == "multipart/x-mixed-replace; boundary=frame"
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            line = reply.readline()
            if not line.startswith(b"--frame"):
                continue
            part = {}
            while (header := reply.readline().strip()):
                name, _, value = header.decode().partition(":")
                part[name.lower()] = value.strip()
            body = reply.read(int(part["content-length"]))
            assert part["content-type"] == "image/jpeg"
            part["image"] = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)
            parts.append(part)
    return parts


def box_drawn_at(image: np.ndarray, box: tuple[float, float, float, float]) -> bool:
    """True when the box's left edge (give or take a pixel: JPEG blurs thin lines) is painted in
    the person colour rather than the grey background."""
    x1, y1, _, y2 = (int(v) for v in box)
    edge = image[y1 + 15:y2 - 5, x1 - 1:x1 + 2].astype(int)
    distance = np.abs(edge - np.array(label_color("person"))).sum(axis=2).min(axis=1)
    return bool((distance < 150).mean() > 0.8)


def get(url: str, headers: dict | None = None) -> tuple[int, dict, bytes]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}),
                                    timeout=10) as reply:
            return reply.status, dict(reply.headers), reply.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def test_mjpeg_plays_at_the_published_rate_with_each_frames_own_boxes(redis_client, serve):
    base = serve()
    camera = Camera(redis_client, "gate", fps=25)
    camera.start()
    try:
        time.sleep(0.5)
        parts = read_parts(f"{base}/cameras/gate/live.mjpg", 4.0)
    finally:
        camera.stop.set()
        camera.join()
    fresh = [p for p in parts if p["x-stale"] == "0"]
    ids = [p["x-frame-id"] for p in fresh]
    assert len(set(ids)) == len(ids), "a frame was sent twice"
    assert len(fresh) >= 0.9 * 25 * 3.5, f"{len(fresh)} parts in 4 s of a 25 fps camera"
    for part in fresh:
        seq = camera.seqs[part["x-frame-id"]]
        assert box_drawn_at(part["image"], square_box(seq)), f"frame {seq} without its box"
        other = square_box(seq + 3)  # where a box of another frame would be
        assert not box_drawn_at(part["image"], other), f"frame {seq} with another frame's box"


def test_several_cameras_play_through_one_connection(redis_client, serve):
    base = serve()
    cameras = [Camera(redis_client, "gate", fps=20), Camera(redis_client, "yard", fps=10)]
    for camera in cameras:
        camera.start()
    try:
        time.sleep(0.5)
        parts = read_parts(f"{base}/cameras.mjpg?names=gate,yard", 3.0)
    finally:
        for camera in cameras:
            camera.stop.set()
            camera.join()
    for camera in cameras:
        fresh = [p for p in parts if p["x-camera"] == camera.name and p["x-stale"] == "0"]
        assert len(fresh) >= 0.9 * camera.fps * 2.5, f"{camera.name}: {len(fresh)} parts"
        for part in fresh:
            assert box_drawn_at(part["image"], square_box(camera.seqs[part["x-frame-id"]]))


def test_a_stream_rides_out_a_redis_restart(tmp_path, serve):
    server = EmbeddedRedis(tmp_path, port=free_port())
    server.start()
    client = redis.Redis.from_url(server.url, socket_timeout=2)
    camera = Camera(client, "gate", fps=20)
    camera.start()
    parts: list[dict] = []
    reader = threading.Thread(target=lambda: parts.extend(
        read_parts(f"{serve(client=client)}/cameras/gate/live.mjpg", 9.0)))
    try:
        time.sleep(1)
        reader.start()
        time.sleep(2)
        server.stop()  # no persistence: the restarted server is empty
        time.sleep(2)
        restarted = time.time()
        server.start()
        reader.join()
    finally:
        camera.stop.set()
        camera.join()
        server.stop()
    after = [p for p in parts if p["x-stale"] == "0" and float(p["x-frame-ts"]) > restarted]
    assert len(after) >= 20, f"{len(after)} frames after the restart"
    for part in after:
        assert box_drawn_at(part["image"], square_box(camera.seqs[part["x-frame-id"]]))


def test_latest_is_the_newest_annotated_frame(redis_client, serve):
    base = serve()
    for seq in range(3):
        newest = publish(redis_client, "gate", seq)
    status, headers, body = get(f"{base}/cameras/gate/latest.jpg")
    assert status == 200 and headers["content-type"] == "image/jpeg"
    assert headers["x-frame-id"] == newest
    assert box_drawn_at(cv2.imdecode(np.frombuffer(body, np.uint8), 1), square_box(2))
    # the score filter applies: nothing at or above 0.95
    status, _, body = get(f"{base}/cameras/gate/latest.jpg?min_score=0.95")
    assert not box_drawn_at(cv2.imdecode(np.frombuffer(body, np.uint8), 1), square_box(2))


def test_a_camera_without_a_worker_plays_its_raw_frames(redis_client, serve):
    base = serve()
    camera = Camera(redis_client, "raw", fps=20, detect=False)
    camera.start()
    try:
        time.sleep(0.3)
        parts = read_parts(f"{base}/cameras/raw/live.mjpg", 2.0)
    finally:
        camera.stop.set()
        camera.join()
    fresh = {p["x-frame-id"] for p in parts if p["x-stale"] == "0"}
    assert len(fresh) >= 25 and fresh <= set(camera.seqs)


def test_a_camera_that_stops_is_shown_stopped(redis_client, serve):
    base = serve(stale_s=1.0)
    for seq in range(3):
        publish(redis_client, "gate", seq)
    parts = read_parts(f"{base}/cameras/gate/live.mjpg", 3.0)
    assert parts[0]["x-stale"] == "0"
    stale = [p for p in parts if p["x-stale"] == "1"]
    assert stale, "no 'stopped' frame after the stale time"
    assert stale[-1]["image"].mean() < 0.75 * parts[0]["image"].mean()  # darkened under a banner


@pytest.mark.parametrize("path, status, reason", [
    ("/cameras/nope/live.mjpg", 404, "unknown camera: nope"),
    ("/cameras/nope/latest.jpg", 404, "unknown camera: nope"),
    ("/cameras/bad%20name!/latest.jpg", 404, "unknown camera: bad name!"),
    ("/cameras/gate/latest.jpg?min_score=abc", 400, "min_score is not a number"),
    ("/cameras/gate/live.mjpg?min_score=2", 400, "min_score must be within 0..1"),
    ("/cameras.mjpg?names=gate,nope", 404, "unknown camera: nope"),
    ("/cameras.mjpg?names=", 400, "names must list 1 to 64 cameras"),
])
def test_bad_requests_get_one_line_reasons(redis_client, serve, path, status, reason):
    publish(redis_client, "gate", 0)
    code, headers, body = get(serve() + path)
    assert code == status and headers["content-type"].startswith("text/plain")
    text = body.decode()
    assert reason in text and text.count("\n") == 1


def test_with_a_password_the_routes_need_it(redis_client, serve):
    publish(redis_client, "gate", 0)
    base = serve(password="s3cret-pass")
    url = f"{base}/cameras/gate/latest.jpg"

    def basic(user: str, password: str) -> dict:
        return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode())
                .decode()}

    code, headers, _ = get(url)
    assert code == 401 and headers["www-authenticate"].startswith("Basic")
    assert get(url, basic("anyone", "wrong-pass"))[0] == 401
    assert get(url, basic("vlc", "s3cret-pass"))[0] == 200
    assert get(f"{url}?token={stream_token('s3cret-pass')}")[0] == 200
    assert get(f"{url}?token={stream_token('other-pass')}")[0] == 401
    assert get(f"{base}/cameras/nope/latest.jpg")[0] == 401  # nothing told before sign-in
    parts = read_parts(f"{base}/cameras/gate/live.mjpg", 0.5, basic("ha", "s3cret-pass"))
    assert parts and parts[0]["x-frame-id"]
