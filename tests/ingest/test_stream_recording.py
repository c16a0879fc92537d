"""Recording by stream copy of a live H.264 camera (an MPEG-TS served once over HTTP):
segments at keyframes, their index, retention, a full disk; a crash (of a camera recorded from
its frames)."""

from __future__ import annotations

import errno
import io
import itertools
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from ffprobe import probe_stream
from http_camera import served_once

from common.cameras import CameraConfig
from common.keys import KEYS
from common.record_config import RecordConfig
from ingest import recording
from ingest.camera import CameraRunner, read_state
from ingest.settings import IngestSettings
from runtime import metrics
from runtime.recordings import (
    RECORDING_ERROR_FIELD,
    Segment,
    delete_segment,
    list_segments,
    probe_segment,
    rebuild_index,
    recorded_bytes,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def h264_video(sample_video, tmp_path_factory) -> Path:
    """The sample (640x272, 25 fps, 10 s) as H.264 with a keyframe every second."""
    path = tmp_path_factory.mktemp("h264") / "gop25.mp4"
    with av.open(str(sample_video)) as source, av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25, options={"g": "25", "preset": "veryfast"})
        stream.width, stream.height, stream.pix_fmt = 640, 272, "yuv420p"
        for frame in source.decode(video=0):
            out.mux(stream.encode(frame.reformat(format="yuv420p")))
        out.mux(stream.encode())
    return path


@pytest.fixture(scope="session")
def h264_ts(h264_video) -> bytes:
    """``h264_video``'s packets in MPEG-TS (parameter sets in-band), as a camera sends them."""
    out = io.BytesIO()
    with av.open(str(h264_video)) as source, av.open(out, "w", format="mpegts") as muxer:
        stream = muxer.add_stream_from_template(source.streams.video[0])
        for packet in source.demux(video=0):
            if packet.dts is not None:
                packet.stream = stream
                muxer.mux(packet)
    return out.getvalue()


def bitstream_bytes(path: Path) -> int:
    """Bytes of the video's own packets (no container)."""
    with av.open(str(path)) as container:
        return sum(p.size for p in container.demux(video=0) if p.size)


def record(redis_client, stream: bytes, folder: Path, name: str = "cam", max_gb=None,
           settings: IngestSettings | None = None, **record) -> CameraRunner:
    """Run a live camera that sends ``stream`` once (5 of its 25 fps published), recorded as
    live cameras are by default, until the stream ends."""
    settings = settings or IngestSettings(recordings_dir=folder)
    stop = threading.Event()
    with served_once(stream) as url:
        camera = CameraConfig(name=name, url=url, fps=5,
                              record=RecordConfig(max_gb=max_gb, **record))
        runner = CameraRunner(redis_client, KEYS, camera, url,
                              settings.model_copy(update={"backoff_initial_s": 30}), stop)
        thread = threading.Thread(target=runner.run)
        thread.start()
        try:
            deadline = time.monotonic() + 30
            while getattr(read_state(redis_client, KEYS, name), "state", "") != "offline":
                assert time.monotonic() < deadline, "the stream did not end"
                time.sleep(0.02)
        finally:
            stop.set()
            thread.join(30)
    return runner


def files_on_disk(folder: Path, camera: str = "cam") -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in (folder / camera).rglob("*")
                  if p.is_file())


def test_segments_start_at_keyframes_and_keep_the_source_bitstream(redis_client, h264_video,
                                                                   h264_ts, tmp_path):
    record(redis_client, h264_ts, tmp_path, segment_s=2)
    segments = list_segments(redis_client, KEYS, "cam")
    assert len(segments) >= 4
    assert files_on_disk(tmp_path) == [s.path for s in segments]
    for before, after in itertools.pairwise(segments):
        assert after.start_ts == pytest.approx(before.end_ts, abs=0.05)  # no gap, no overlap
    frames = 0
    for segment in segments:
        path = tmp_path / segment.path
        assert path.name == f"{round(segment.start_ts * 1000)}.mp4"
        with av.open(str(path)) as container:
            assert next(container.demux(video=0)).is_keyframe
        probed = probe_stream(path)
        assert (probed["codec_name"], probed["width"], probed["height"]) == ("h264", 640, 272)
        assert (segment.codec, segment.width, segment.height) == ("h264", 640, 272)
        frames += int(probed["nb_read_frames"])
    assert frames == 250
    assert segments[-1].end_ts - segments[0].start_ts == pytest.approx(10.0, abs=0.1)
    on_disk = sum(s.bytes for s in segments)
    assert on_disk == recorded_bytes(redis_client, KEYS, "cam")
    assert abs(on_disk - bitstream_bytes(h264_video)) <= 0.1 * bitstream_bytes(h264_video)


@pytest.mark.parametrize("enabled, live, records", [
    (None, True, True), (None, False, False), (True, False, True), (False, True, False)])
def test_which_sources_are_recorded_continuously(enabled, live, records):
    assert RecordConfig(enabled=enabled).records(live) is records


@pytest.mark.parametrize("paced, codec, how", [
    (True, "h264", "copy"), (True, "hevc", "copy"), (True, "mjpeg", "encode"),
    (True, None, "encode"), (False, "h264", "encode"), (True, "mpeg4", "encode")])
def test_how_a_source_is_recorded(paced, codec, how):
    assert RecordConfig.how(paced, codec) == how


def test_listing_gives_the_segments_that_overlap_the_range(redis_client, h264_ts, tmp_path):
    record(redis_client, h264_ts, tmp_path, segment_s=2)
    segments = list_segments(redis_client, KEYS, "cam")
    middle = segments[1]
    inside = (middle.start_ts + middle.end_ts) / 2
    assert list_segments(redis_client, KEYS, "cam", inside, inside + 0.01) == [middle]
    assert list_segments(redis_client, KEYS, "cam", middle.start_ts, middle.end_ts) == [middle]
    assert list_segments(redis_client, KEYS, "cam", after=segments[-1].end_ts) == []


def test_retention_keeps_the_newest_under_a_tiny_cap(redis_client, h264_video, h264_ts,
                                                     tmp_path):
    cap_gb = bitstream_bytes(h264_video) * 0.4 / 1e9
    record(redis_client, h264_ts, tmp_path, max_gb=cap_gb, segment_s=2)
    segments = list_segments(redis_client, KEYS, "cam")
    kept = sum(s.bytes for s in segments)
    assert 0 < kept <= cap_gb * 1e9
    assert files_on_disk(tmp_path) == [s.path for s in segments]
    assert segments[-1].end_ts - segments[0].start_ts < 6  # the oldest went first


def test_the_global_cap_removes_the_oldest_of_any_camera(redis_client, h264_ts, tmp_path):
    record(redis_client, h264_ts, tmp_path, name="first", segment_s=2)
    first = list_segments(redis_client, KEYS, "first")
    first_bytes = recorded_bytes(redis_client, KEYS, "first")
    cap_gb = first_bytes * 1.5 / 1e9
    record(redis_client, h264_ts, tmp_path, name="second", segment_s=2,
           settings=IngestSettings(recordings_dir=tmp_path, recordings_max_gb=cap_gb))
    assert recorded_bytes(redis_client, KEYS) <= cap_gb * 1e9
    kept = list_segments(redis_client, KEYS, "first") + list_segments(redis_client, KEYS, "second")
    deleted = [s for s in first if s not in kept]
    assert deleted and max(s.start_ts for s in deleted) < min(s.start_ts for s in kept)
    assert sorted(files_on_disk(tmp_path, "first") + files_on_disk(tmp_path, "second")) == sorted(
        s.path for s in kept)


def test_a_restart_rebuilds_the_same_index_from_the_files(redis_client, h264_ts, tmp_path):
    record(redis_client, h264_ts, tmp_path, segment_s=3)
    before = list_segments(redis_client, KEYS, "cam")
    total = recorded_bytes(redis_client, KEYS, "cam")
    assert rebuild_index(redis_client, KEYS, tmp_path, "cam") == before  # index intact
    redis_client.delete(KEYS.recordings("cam"), KEYS.recording_bytes)
    assert rebuild_index(redis_client, KEYS, tmp_path, "cam") == before  # Redis lost it
    assert list_segments(redis_client, KEYS, "cam") == before
    assert recorded_bytes(redis_client, KEYS, "cam") == total


def test_a_path_from_redis_outside_the_folder_is_never_deleted(redis_client, tmp_path):
    victim = tmp_path / "victim.mp4"
    victim.write_bytes(b"keep")
    root = tmp_path / "recordings"
    root.mkdir()
    rogue = Segment("cam", 1.0, 2.0, "../victim.mp4", 4, "h264", 2, 2)
    redis_client.zadd(KEYS.recordings("cam"), {rogue.to_json(): 1.0})
    delete_segment(redis_client, KEYS, root, rogue)
    assert victim.read_bytes() == b"keep"
    assert list_segments(redis_client, KEYS, "cam") == []


def disk_full(writer, packet):
    """A stand-in for ``SegmentWriter.write`` on a full disk."""
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_is_said_once_flagged_and_frames_go_on(redis_client, h264_ts, tmp_path,
                                                           monkeypatch, caplog):
    monkeypatch.setattr(recording.SegmentWriter, "write", disk_full)
    errors = metrics.RECORDING_ERRORS.labels("full")._value.get()
    with caplog.at_level(logging.ERROR, logger="cctv.ingest.recording"):
        runner = record(redis_client, h264_ts, tmp_path, name="full", segment_s=2)
    assert runner.frames_published > 0
    said = [r for r in caplog.records if "No space left" in r.getMessage()]
    assert len(said) == 1
    assert b"No space left" in redis_client.hget(KEYS.state("full"), RECORDING_ERROR_FIELD)
    assert metrics.RECORDING_ERRORS.labels("full")._value.get() - errors >= 4
    assert list_segments(redis_client, KEYS, "full") == []
    assert files_on_disk(tmp_path, "full") == []


KILLED_INGEST = textwrap.dedent("""
    import sys, threading
    import redis
    from common.cameras import CameraConfig
    from common.keys import KEYS
    from common.record_config import RecordConfig
    from ingest.camera import CameraRunner
    from ingest.settings import IngestSettings
    url, video, folder = sys.argv[1:]
    camera = CameraConfig(name="cam", url=video, realtime=True, fps=5,
                          record=RecordConfig(enabled=True, segment_s=2))
    CameraRunner(redis.Redis.from_url(url), KEYS, camera, video,
                 IngestSettings(recordings_dir=folder), threading.Event()).run()
""")


def test_ingest_killed_mid_segment_leaves_playable_segments_and_a_sound_index(
        redis_client, redis_url, h264_video, tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", KILLED_INGEST, redis_url, str(h264_video),
                             str(tmp_path)], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        deadline = time.monotonic() + 30
        while len(list_segments(redis_client, KEYS, "cam")) < 2:
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
        time.sleep(1.0)  # into the next segment, past its first fragments
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    assert any(p.endswith(".part") for p in files_on_disk(tmp_path))
    indexed = list_segments(redis_client, KEYS, "cam")
    segments = rebuild_index(redis_client, KEYS, tmp_path, "cam")
    assert segments[:len(indexed)] == indexed
    assert files_on_disk(tmp_path) == [s.path for s in segments]  # no .part left
    for segment in segments:
        assert probe_segment(tmp_path, "cam", tmp_path / segment.path) == segment
        assert int(probe_stream(tmp_path / segment.path)["nb_read_frames"]) > 0


def test_status_shows_the_recording_error(redis_client, h264_ts, tmp_path, monkeypatch):
    from runtime.status import camera_status

    monkeypatch.setattr(recording.SegmentWriter, "write", disk_full)
    record(redis_client, h264_ts, tmp_path, name="full", segment_s=2)
    status = camera_status(redis_client, KEYS, "full", True, None)
    assert "No space left" in status.to_dict()["recording_error"]
    assert camera_status(redis_client, KEYS, "other", True, None).recording_error == ""


def test_a_live_h264_stream_is_recorded_by_default(redis_client, h264_video, tmp_path):
    """MPEG-TS over UDP, as a camera sends it: parameter sets in-band, no extradata."""
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is not installed (apt-get install ffmpeg)")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe_socket:
        probe_socket.bind(("127.0.0.1", 0))
        port = probe_socket.getsockname()[1]
    url = f"udp://127.0.0.1:{port}"
    sender = subprocess.Popen(["ffmpeg", "-nostdin", "-loglevel", "error", "-re", "-stream_loop",
                               "-1", "-i", str(h264_video), "-c", "copy", "-f", "mpegts",
                               f"{url}?pkt_size=1316"])
    stop = threading.Event()
    camera = CameraConfig(name="live", url=url, fps=5, record=RecordConfig(segment_s=2))
    runner = CameraRunner(redis_client, KEYS, camera, url, IngestSettings(recordings_dir=tmp_path),
                          stop)
    thread = threading.Thread(target=runner.run)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while len(list_segments(redis_client, KEYS, "live")) < 2:
            assert time.monotonic() < deadline
            time.sleep(0.1)
    finally:
        stop.set()
        thread.join(30)
        sender.terminate()
        sender.wait(10)
    segments = list_segments(redis_client, KEYS, "live")
    for segment in segments:
        probed = probe_stream(tmp_path / segment.path)
        assert (probed["codec_name"], probed["width"], probed["height"]) == ("h264", 640, 272)
        assert int(probed["nb_read_frames"]) > 0
    assert all(1.5 < s.end_ts - s.start_ts < 4 for s in segments[:-1])  # the last: cut at stop
    assert not list((tmp_path / "live").rglob("*.part"))  # the last one closed at stop
