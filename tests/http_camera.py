"""Cameras over HTTP on loopback for tests, in-process (no ffmpeg binary): an MJPEG camera
(``multipart/x-mixed-replace``, as IP cameras and ffmpeg's ``mpjpeg`` send it), a stream served
once at once (an MPEG-TS file: a live H.264 camera whose stream ends after one pass) and a live
H.264 camera that sends each frame when it is due (its own clock). Imported as ``http_camera``
(pytest puts tests/ on sys.path for tests/conftest.py)."""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable, Iterator

import av
import cv2
import numpy as np

BOUNDARY = "frame"


@contextmanager
def serving(respond: Callable[[BaseHTTPRequestHandler], None]) -> Iterator[str]:
    """An HTTP server on a free loopback port whose GETs ``respond`` answers; yields its URL."""
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            try:
                respond(self)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client went away

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/cam"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


@contextmanager
def mjpeg_camera(fps: float = 10.0, size: tuple[int, int] = (320, 240)) -> Iterator[str]:
    """A live MJPEG camera: numbered frames at ``fps`` until the server closes."""
    closing = threading.Event()

    def respond(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", f"multipart/x-mixed-replace;boundary={BOUNDARY}")
        handler.end_headers()
        width, height = size
        for i in range(100_000):
            if closing.is_set():
                return
            image = np.full((height, width, 3), (i * 7) % 256, np.uint8)
            cv2.putText(image, str(i), (10, height // 2), cv2.FONT_HERSHEY_SIMPLEX, 2,
                        (255, 255, 255), 3)
            jpeg = cv2.imencode(".jpg", image)[1].tobytes()
            handler.wfile.write(f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                                f"Content-Length: {len(jpeg)}\r\n\r\n".encode() + jpeg + b"\r\n")
            handler.wfile.flush()
            time.sleep(1 / fps)

    with serving(respond) as url:
        try:
            yield url
        finally:
            closing.set()


@contextmanager
def served_once(data: bytes, content_type: str = "video/mp2t") -> Iterator[str]:
    """``data`` to the first GET, 404 to any after it (the camera then stays away)."""
    served = threading.Lock()

    def respond(handler: BaseHTTPRequestHandler) -> None:
        if not served.acquire(blocking=False):
            handler.send_error(404)
            return
        handler.send_response(200)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    with serving(respond) as url:
        yield url


def as_mpegts(video: Path, out: Path) -> list[tuple[float, int]]:
    """``video``'s packets copied into MPEG-TS ``out``; returns each frame's time (seconds from
    the first) and the byte offset where it begins."""
    with av.open(str(video)) as source, av.open(str(out), "w", format="mpegts") as output:
        template = source.streams.video[0]
        stream = output.add_stream_from_template(template)
        for packet in source.demux(template):
            if packet.size:
                packet.stream = stream
                output.mux(packet)
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        marks = [(float(p.pts * stream.time_base), p.pos) for p in container.demux(stream)
                 if p.size]
    return [(t - marks[0][0], pos) for t, pos in marks]


@contextmanager
def live_camera(video: Path, folder: Path) -> Iterator[tuple[str, threading.Event]]:
    """``video`` served as a live camera to its first GET (404 after), each frame whole once it
    is due; yields the URL and an event set once the pass is sent (or the viewer went away)."""
    ts = folder / f"{video.stem}.ts"
    marks = as_mpegts(video, ts)
    data = ts.read_bytes()
    done, closing, served = threading.Event(), threading.Event(), threading.Lock()

    def respond(handler: BaseHTTPRequestHandler) -> None:
        if not served.acquire(blocking=False):
            handler.send_error(404)
            return
        handler.send_response(200)
        handler.send_header("Content-Type", "video/mp2t")
        handler.end_headers()
        began, sent = time.monotonic(), 0
        try:
            for (t, _), (_, until) in zip(marks, [*marks[1:], (0.0, len(data))]):
                if closing.wait(max(0.0, began + t - time.monotonic())):
                    return
                handler.wfile.write(data[sent:until])
                handler.wfile.flush()
                sent = until
        finally:
            done.set()

    try:
        with serving(respond) as url:
            yield url, done
    finally:
        closing.set()
