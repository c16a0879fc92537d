"""A live H.264 camera for tests: a video file's packets as MPEG-TS over HTTP on loopback, each
frame sent when it is due (the camera's own clock), one pass; imported by tests as
``live_h264`` (pytest puts this folder on sys.path for tests/conftest.py)."""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import av


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
    """``video`` served as a live camera at ``http://127.0.0.1:PORT/cam`` to its first GET (404
    after); yields the URL and an event set once the pass is sent (or the viewer went away)."""
    ts = folder / f"{video.stem}.ts"
    marks = as_mpegts(video, ts)
    data = ts.read_bytes()
    done, closing, served = threading.Event(), threading.Event(), threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            if not served.acquire(blocking=False):
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "video/mp2t")
            self.end_headers()
            began, sent = time.monotonic(), 0
            try:
                for (t, _), (_, until) in zip(marks, [*marks[1:], (0.0, len(data))]):
                    if closing.wait(max(0.0, began + t - time.monotonic())):
                        return
                    self.wfile.write(data[sent:until])  # frame k whole once it is due
                    self.wfile.flush()
                    sent = until
            except (BrokenPipeError, ConnectionResetError):
                pass
            finally:
                done.set()

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/cam", done
    finally:
        closing.set()
        server.shutdown()
        server.server_close()
        thread.join(10)
