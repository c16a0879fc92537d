"""PyAV sources: hardware decoding falling back to software, sources that stall or send garbage,
and motion boxes on a still scene with one mover."""

from __future__ import annotations

import logging
import socket
import subprocess
import threading
import time

import numpy as np
import pytest
from still_scene import still_scene

from common.cameras import MotionConfig
from ingest import hwaccel
from ingest.capture import FpsFilter
from ingest.motion import MotionGate
from ingest.sources import AvFrame, SourceError, open_source


def test_hwaccel_auto_falls_back_with_one_line(small_video, caplog, monkeypatch):
    """No device works: each is probed once (never on the camera), one line, software."""
    monkeypatch.setattr(hwaccel, "_usable", {})
    monkeypatch.setattr(hwaccel, "_said", set())
    probed = []
    monkeypatch.setattr(hwaccel, "probe", lambda kind: probed.append(kind) and False)
    with caplog.at_level(logging.INFO, "cctv.ingest"):
        for _ in range(2):
            source = open_source(str(small_video), hwaccel="auto")
            assert len(list(source.frames())) == 40
            source.close()
    assert probed == ["cuda", "vaapi", "qsv"]
    lines = [r.message for r in caplog.records if "hwaccel" in r.message]
    assert lines == ["hwaccel auto: no hardware decoder (cuda, vaapi, qsv) usable here, "
                     "decoding in software"]


def test_hwaccel_device_that_works_is_used(small_video, monkeypatch):
    """A working device decodes the stream; FFmpeg falls back by itself for a codec it lacks."""
    monkeypatch.setattr(hwaccel, "_usable", {"cuda": True})
    monkeypatch.setattr(hwaccel, "HWAccel", lambda kind, **options: (kind, options))
    opened = []
    real_open = hwaccel.av.open
    monkeypatch.setattr(hwaccel.av, "open", lambda url, hwaccel=None, **kw: opened.append(
        hwaccel) or real_open(url, **kw))
    open_source(str(small_video), hwaccel="auto").close()
    assert opened == [("cuda", {"allow_software_fallback": True})]


def test_hwaccel_on_this_machine(small_video):
    """Whatever this machine has, ``auto`` decodes the file (on a device or in software)."""
    source = open_source(str(small_video), hwaccel="auto")
    assert len(list(source.frames())) == 40
    source.close()


def test_frames_are_converted_only_when_asked(small_video):
    source = open_source(str(small_video), threads=1)
    frame = next(iter(source.frames()))
    assert isinstance(frame, AvFrame)
    assert frame.scaled(80).shape == (60, 80, 3) and frame.scaled(640).shape == (120, 160, 3)
    source.close()


def kept_frames(video, fps: float, skip: bool) -> tuple[list[int], list]:
    """(indices of the frames decoded, (index, pos_ms, image) of those ``FpsFilter`` keeps),
    with frames left undecoded (``skip``) or not."""
    source = open_source(str(video), threads=1)
    keep = FpsFilter(fps, live=False)
    decoded, kept = [], []
    for frame in source.frames(1.0 / fps if skip else 0.0):
        decoded.append(frame.index)
        if keep(frame):
            kept.append((frame.index, frame.pos_ms, frame.scaled(None)))
    source.close()
    return decoded, kept


def test_a_third_of_the_kept_rate_or_less_decodes_reference_frames_only(sample_video):
    """bikes.mp4 (H.264, 25 fps, B-frames) at 5 fps: about half the frames are decoded, one
    frame is kept per period, at most two frames after the one kept when all are decoded, and
    it is that frame of the file, pixel for pixel; indices count every frame of the file."""
    every_index, every = kept_frames(sample_video, 5, skip=False)
    decoded, kept = kept_frames(sample_video, 5, skip=True)
    assert every_index == list(range(250)) and len(every) == len(kept) == 50
    assert len(decoded) < 0.6 * 250 and decoded == sorted(set(decoded))
    assert all(0 <= k[0] - e[0] <= 2 for k, e in zip(kept, every))
    frames = {index: image for index, _, image in kept_frames(sample_video, 25, skip=False)[1]}
    assert all(np.array_equal(image, frames[index]) for index, _, image in kept)


def test_above_a_third_of_the_rate_the_kept_frames_are_those_of_a_full_decode(sample_video):
    """At 10 fps of 25 the frames kept are the same, pixel for pixel, as when every frame is
    decoded; about a quarter fewer frames are decoded."""
    _, every = kept_frames(sample_video, 10, skip=False)
    decoded, kept = kept_frames(sample_video, 10, skip=True)
    assert len(decoded) < 0.8 * 250 and len(every) == 100
    assert [(i, t) for i, t, _ in kept] == [(i, t) for i, t, _ in every]
    assert all(np.array_equal(a, b) for (_, _, a), (_, _, b) in zip(kept, every))


def test_references_rarer_than_the_kept_rate_fall_back_to_the_kept_frames(sample_video,
                                                                          tmp_path):
    """16 B-frames between references (0.68 s apart at 25 fps) at 5 fps: once a period passes
    without a frame, the frames kept are again those of a full decode (from the first second
    on: frames that went by undecoded before are not decoded again)."""
    video = tmp_path / "b16.mp4"
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(sample_video),
                    "-vf", "scale=320:-2", "-c:v", "libx264", "-bf", "16", "-x264-params",
                    "b-adapt=0:b-pyramid=none", str(video)], check=True)
    _, every = kept_frames(video, 5, skip=False)
    _, kept = kept_frames(video, 5, skip=True)
    assert len(every) == 50  # references alone would give 15
    assert [i for i, _, _ in kept if i >= 25] == [i for i, _, _ in every if i >= 25]


def _serve(handler) -> tuple[int, threading.Event]:
    """A TCP server on loopback running ``handler(conn)`` for each connection until stopped."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    done = threading.Event()

    def loop() -> None:
        while not done.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            threading.Thread(target=handler, args=(conn, done), daemon=True).start()
        server.close()
    threading.Thread(target=loop, daemon=True).start()
    return server.getsockname()[1], done


def _stall(conn: socket.socket, done: threading.Event) -> None:
    conn.recv(4096)
    done.wait(30)
    conn.close()


def _garbage(conn: socket.socket, done: threading.Event) -> None:
    conn.recv(4096)
    conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: multipart/x-mixed-replace;boundary=x\r\n\r\n")
    rng = np.random.default_rng(0)
    try:
        for _ in range(200):
            conn.sendall(rng.bytes(4096))
    except OSError:
        pass
    conn.close()


@pytest.mark.timeout(30)
def test_a_stalled_stream_times_out():
    port, done = _serve(_stall)
    started = time.monotonic()
    try:
        with pytest.raises(SourceError, match="cannot connect to http://\\*\\*\\*@127.0.0.1"):
            open_source(f"http://u:s3cret@127.0.0.1:{port}/x.mjpg", timeout_s=1)
    finally:
        done.set()
    assert time.monotonic() - started < 10


@pytest.mark.timeout(30)
def test_garbage_is_refused_or_ends_the_stream():
    port, done = _serve(_garbage)
    try:
        source = open_source(f"http://127.0.0.1:{port}/x.mjpg", timeout_s=2)
    except SourceError as exc:
        assert "cannot connect" in str(exc)
    else:
        list(source.frames())  # ends (the camera then reconnects) without raising
        source.close()
    finally:
        done.set()


@pytest.mark.parametrize("method", ["diff", "mog2"])
def test_motion_gate_on_a_still_scene(method):
    gate = MotionGate(MotionConfig(method=method, keepalive_s=2.0))
    mover = range(10, 20)
    results = [gate.check(image, i * 0.2) for i, image in enumerate(still_scene(40, mover))]
    moving = [i for i, (boxes, _) in enumerate(results) if boxes]
    assert set(mover[1:]) <= set(moving) and set(moving) <= set(range(9, 21))
    for i in mover[1:]:
        x1, y1, x2, y2 = results[i][0][0]
        assert x1 <= 10 + (i - 10) * 12 + 30 and y1 <= 60 and y2 >= 120
    detected = [i for i, (_, detect) in enumerate(results) if detect]
    assert set(moving) <= set(detected)
    still = [i for i in range(40) if i not in moving]
    # still frames skip the detector, but for the first and one every keepalive_s (10 frames)
    assert sum(1 for i in still if i in detected) <= 4


def test_a_file_cut_in_the_middle_ends_without_raising(tmp_path):
    """Its index up front (+faststart), its frames cut off halfway: the frames before the cut."""
    from media.video import VideoWriter

    whole, cut = tmp_path / "whole.mp4", tmp_path / "cut.mp4"
    noise = np.random.default_rng(2)
    with VideoWriter(whole, 10) as writer:  # noise: every frame is about the same size
        for _ in range(40):
            writer.write(noise.integers(0, 255, (120, 160, 3), dtype=np.uint8))
    data = whole.read_bytes()
    cut.write_bytes(data[:len(data) // 2])
    source = open_source(str(cut))
    frames = list(source.frames())
    source.close()
    assert 0 < len(frames) < 40 and source.expected_frames == 40
