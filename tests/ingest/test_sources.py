import pytest

from common.cameras import is_live
from common.urls import UnsetVariableError, expand_env
from ingest.sources import SourceError, expand_url, open_source


def test_file_frames_have_timestamps(small_video):
    source = open_source(str(small_video))
    frames = list(source.frames())
    source.close()
    assert len(frames) == 40 and not source.live
    assert frames[0].image.shape == (120, 160, 3) and frames[0].scaled(80).shape == (60, 80, 3)
    assert frames[10].pos_ms == pytest.approx(500, abs=1)


def test_folder(tmp_path, small_video):
    import cv2
    import numpy as np

    for i in range(3):
        cv2.imwrite(str(tmp_path / f"{i:02}.jpg"), np.full((20, 30, 3), i * 50, np.uint8))
    frames = list(open_source(str(tmp_path)).frames())
    assert [f.image.shape for f in frames] == [(20, 30, 3)] * 3


@pytest.mark.parametrize("url, message, permanent", [
    ("/no/such/file.mp4", "no such file", True),
    ("gopher://cam/x", "unsupported scheme 'gopher'", True),
    ("rtsp://user:s3cret@127.0.0.1:9/x", "cannot connect to rtsp://***@127.0.0.1:9/x", False),
])
def test_bad_sources(url, message, permanent):
    with pytest.raises(SourceError, match=message.replace("*", r"\*")) as info:
        open_source(url, timeout_s=1)
    assert info.value.permanent is permanent and "s3cret" not in str(info.value)


def test_corrupt_mp4(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 200)
    with pytest.raises(SourceError, match="cannot decode video file"):
        open_source(str(bad))


def test_env_placeholders(monkeypatch):
    monkeypatch.setenv("CAM_PW", "pw")
    assert expand_url("rtsp://a:${CAM_PW}@h/x") == "rtsp://a:pw@h/x"
    with pytest.raises(SourceError, match="CAM_MISSING") as info:
        expand_url("rtsp://a:${CAM_MISSING}@h/x")
    assert info.value.permanent


def test_expand_env_reads_the_mapping_it_is_given():
    environ = {"USER": "admin", "PW": "s3cret"}
    assert expand_env("rtsp://${USER}:${PW}@h/x?pw=${PW}", environ) == \
        "rtsp://admin:s3cret@h/x?pw=s3cret"
    assert expand_env("/data/$HOME/x.mp4", environ) == "/data/$HOME/x.mp4"  # only ${VAR}
    with pytest.raises(UnsetVariableError, match="environment variable NOPE .* is not set"):
        expand_env("rtsp://a:${NOPE}@h/x", environ)


@pytest.mark.parametrize("url, live", [
    ("rtsp://cam/s", True),
    ("RTSPS://cam/s", True),
    ("http://cam/mjpg", True),
    ("https://cam/live.m3u8", True),
    ("rtmp://cam/app", True),
    ("udp://239.0.0.1:1234", True),
    ("srt://cam:9000", True),
    ("0", True),
    (" 2 ", True),
    ("/data/video.mp4", False),
    ("video.mp4", False),
    ("file:///data/video.mp4", False),
    ("/data/frames", False),
    ("gopher://cam/x", False),
])
def test_is_live(url, live):
    assert is_live(url) is live
