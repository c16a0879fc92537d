"""Recording from the published frames: an image folder, an MJPEG camera and a file, encoded to
H.264 segments whose times are the published frames' ``ts``; events-only recording."""

from __future__ import annotations

import errno
import logging
import threading
import time
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from ffprobe import probe_stream
from http_camera import mjpeg_camera

from common.cameras import CameraConfig, EventsConfig
from common.keys import KEYS
from common.messages import FrameMessage
from common.record_config import RecordConfig
from ingest import frame_recording
from ingest.camera import CameraRunner
from ingest.frame_recording import KEYFRAME_S, FrameRecorder
from ingest.segments import CameraSegments
from ingest.settings import IngestSettings
from runtime import metrics
from runtime.recordings import RECORDING_ERROR_FIELD, Segment, list_segments


def image_folder(folder: Path, count: int, size: tuple[int, int] = (161, 121)) -> Path:
    """``count`` numbered images of an odd size (the encoder needs even ones: cropped)."""
    folder.mkdir()
    width, height = size
    for i in range(count):
        image = np.full((height, width, 3), (i * 9) % 256, np.uint8)
        cv2.putText(image, str(i), (10, height // 2), cv2.FONT_HERSHEY_SIMPLEX, 1.5,
                    (255, 255, 255), 2)
        cv2.imwrite(str(folder / f"{i:03d}.jpg"), image)
    return folder


def published_ts(client, camera: str) -> list[float]:
    return [FrameMessage.from_fields(fields).ts for _, fields in client.xrange(KEYS.frames(camera))]


def frame_times(root: Path, segment: Segment) -> list[tuple[float, bool]]:
    """(Unix seconds, keyframe) of each frame of the segment, as its file and name say."""
    with av.open(str(root / segment.path)) as container:
        stream = container.streams.video[0]
        return [(segment.start_ts + float(p.pts * stream.time_base), p.is_keyframe)
                for p in container.demux(stream) if p.size]


def check_h264_at_published_times(client, root: Path, camera: str, size: tuple[int, int]) -> None:
    """The camera's segments are H.264 of ``size``, back to back, each frame at the ``ts`` of a
    published frame (to the ms), every published frame in one of them."""
    segments = list_segments(client, KEYS, camera)
    assert len(segments) >= 2
    times = []
    for before, after in zip(segments, segments[1:]):
        assert after.start_ts == before.end_ts  # each frame lasts until the next
    for segment in segments:
        assert (segment.codec, segment.width, segment.height) == ("h264", *size)
        probed = probe_stream(root / segment.path)
        assert (probed["codec_name"], probed["pix_fmt"]) == ("h264", "yuv420p")
        frames = frame_times(root, segment)
        assert frames[0] == (segment.start_ts, True)
        keys = [t for t, key in frames if key]
        assert all(b - a <= KEYFRAME_S + 0.5 for a, b in zip(keys, keys[1:]))
        times += [t for t, _ in frames]
    published = published_ts(client, camera)
    assert times == pytest.approx(published[:len(times)], abs=0.0011)
    assert len(published) - len(times) <= 1  # a frame being published as the camera stopped


def test_an_image_folder_is_encoded_at_the_published_times(redis_client, tmp_path):
    folder = image_folder(tmp_path / "images", 25)
    camera = CameraConfig(name="stills", url=str(folder), realtime=True,
                          record=RecordConfig(enabled=True, segment_s=1))
    runner = CameraRunner(redis_client, KEYS, camera, str(folder),
                          IngestSettings(recordings_dir=tmp_path / "rec"), threading.Event())
    assert runner.run() == "finished"
    check_h264_at_published_times(redis_client, tmp_path / "rec", "stills", (160, 120))
    assert not list((tmp_path / "rec").rglob("*.part"))


@pytest.mark.timeout(60)
def test_an_mjpeg_camera_is_recorded_by_default_from_its_frames(redis_client, tmp_path):
    stop = threading.Event()
    with mjpeg_camera(fps=10, size=(320, 240)) as url:
        camera = CameraConfig(name="mjpeg", url=url, fps=5, record=RecordConfig(segment_s=1))
        runner = CameraRunner(redis_client, KEYS, camera, url,
                              IngestSettings(recordings_dir=tmp_path), stop)
        thread = threading.Thread(target=runner.run)
        thread.start()
        try:
            deadline = time.monotonic() + 30
            while len(list_segments(redis_client, KEYS, "mjpeg")) < 2:
                assert time.monotonic() < deadline, "no segments from the MJPEG camera"
                time.sleep(0.1)
        finally:
            stop.set()
            thread.join(30)
    check_h264_at_published_times(redis_client, tmp_path, "mjpeg", (320, 240))


def run_file(redis_client, video: Path, folder: Path, **camera) -> None:
    config = CameraConfig(name="file", url=str(video), fps=5, **camera)
    assert CameraRunner(redis_client, KEYS, config, str(video),
                        IngestSettings(recordings_dir=folder), threading.Event()).run() == \
        "finished"


def test_a_file_with_event_clips_is_recorded_for_its_events_only(redis_client, sample_video,
                                                                  tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="cctv.ingest.recording"):
        run_file(redis_client, sample_video, tmp_path)  # events' clips by default, record unset
    segments = list_segments(redis_client, KEYS, "file")
    assert segments and all(s.codec == "h264" for s in segments)
    assert "kept only where its events need them" in caplog.text
    times = [t for s in segments for t, _ in frame_times(tmp_path, s)]
    assert times == pytest.approx(published_ts(redis_client, "file"), abs=0.0011)


def test_a_file_without_event_clips_or_record_is_not_recorded(redis_client, sample_video,
                                                              tmp_path):
    run_file(redis_client, sample_video, tmp_path, events=EventsConfig(clips=False))
    assert list_segments(redis_client, KEYS, "file") == []
    assert not (tmp_path / "file").exists()


def test_a_class_with_clips_makes_a_camera_without_them_recorded(redis_client, sample_video,
                                                                 tmp_path):
    events = EventsConfig(clips=False, classes={"person": {"clips": True}})
    run_file(redis_client, sample_video, tmp_path, events=events)
    assert list_segments(redis_client, KEYS, "file")


def disk_full(writer, image, ts_ms):
    """A stand-in for ``EncodedSegment.write`` on a full disk."""
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_is_said_once_and_frames_go_on(redis_client, tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(frame_recording.EncodedSegment, "write", disk_full)
    errors = metrics.RECORDING_ERRORS.labels("stills")._value.get()
    folder = image_folder(tmp_path / "images", 15)
    camera = CameraConfig(name="stills", url=str(folder), realtime=True,
                          record=RecordConfig(enabled=True, segment_s=1))
    with caplog.at_level(logging.ERROR, logger="cctv.ingest.recording"):
        runner = CameraRunner(redis_client, KEYS, camera, str(folder),
                              IngestSettings(recordings_dir=tmp_path / "rec"), threading.Event())
        assert runner.run() == "finished"
    assert runner.frames_published == 15
    assert len([r for r in caplog.records if "No space left" in r.getMessage()]) == 1
    assert b"No space left" in redis_client.hget(KEYS.state("stills"), RECORDING_ERROR_FIELD)
    assert metrics.RECORDING_ERRORS.labels("stills")._value.get() - errors == 2  # one a segment
    assert list_segments(redis_client, KEYS, "stills") == []
    assert not [p for p in (tmp_path / "rec").rglob("*") if p.is_file()]


def test_a_long_segment_has_a_keyframe_every_two_seconds(redis_client, tmp_path):
    camera = CameraConfig(name="cam", url="0", record=RecordConfig(segment_s=60))
    recorder = FrameRecorder(CameraSegments(redis_client, KEYS, camera,
                                            IngestSettings(recordings_dir=tmp_path)), 60)
    image = np.full((120, 160, 3), 128, np.uint8)  # nothing changes: no scene cut adds one
    t0 = 1_800_000_000.0
    for i in range(46):  # 9 s at 5 fps
        recorder.add(image, t0 + i * 0.2)
    recorder.finish()
    [segment] = list_segments(redis_client, KEYS, "cam")
    assert (segment.start_ts, segment.end_ts) == (t0, t0 + 9.2)
    keys = [round(t - t0, 3) for t, key in frame_times(tmp_path, segment) if key]
    assert keys == [0.0, 2.0, 4.0, 6.0, 8.0]


def test_a_new_size_starts_a_new_segment_at_once(redis_client, tmp_path):
    camera = CameraConfig(name="cam", url="0", record=RecordConfig(segment_s=60))
    recorder = FrameRecorder(CameraSegments(redis_client, KEYS, camera,
                                            IngestSettings(recordings_dir=tmp_path)), 60)
    t0 = 1_800_000_000.0
    for i, width in enumerate([160, 160, 320, 320]):
        recorder.add(np.zeros((120, width, 3), np.uint8), t0 + i * 0.2)
    recorder.finish()
    segments = list_segments(redis_client, KEYS, "cam")
    assert [(s.start_ts, s.width) for s in segments] == [(t0, 160), (t0 + 0.4, 320)]
    assert segments[0].end_ts == segments[1].start_ts
