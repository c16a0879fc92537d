from pathlib import Path

import pytest

from common.cameras import CameraConfig, load_cameras_file, parse_camera
from common.schema import SettingsError
from common.urls import mask_text, mask_url
from ingest.settings import IngestSettings
from runtime.settings import from_env
from workers.settings import WorkerSettings


def test_cameras_file(tmp_path: Path):
    path = tmp_path / "cameras.yaml"
    path.write_text("cameras:\n  - name: lobby\n    url: rtsp://u:p@h/x\n    fps: 5\n"
                    "  - {name: door, url: door.mp4, loop: true}\n")
    cams = load_cameras_file(path)
    assert [c.name for c in cams] == ["lobby", "door"]
    assert cams[0].fps == 5 and cams[1].loop and cams[1].max_width == 640


@pytest.mark.parametrize("text, message", [
    ("cameras:\n  - {name: a, url: x, fpz: 3}\n", "cameras.0.fpz: unknown key"),
    ("cameras:\n  - {name: a, url: x, fps: 0}\n", "cameras.0.fps: Input should be greater"),
    ("cameras:\n  - {name: 'a b', url: x}\n", "cameras.0.name: String should match"),
    ("cameras:\n  - {name: a, url: x}\n  - {name: a, url: y}\n", "duplicate camera names: a"),
    ("camras: []\n", "camras: unknown key"),
    ("cameras: [\n", "not valid YAML"),
    ("- 1\n", "top level must be a mapping"),
])
def test_cameras_file_errors_name_the_key(tmp_path: Path, text, message):
    path = tmp_path / "cameras.yaml"
    path.write_text(text)
    with pytest.raises(SettingsError, match=message.replace(".", r"\.")) as info:
        load_cameras_file(path)
    assert str(path) in str(info.value) or "YAML" in str(info.value)


@pytest.mark.parametrize("key, value", [
    ("fps", True), ("fps", "5"), ("max_width", 640.5), ("max_width", False),
    ("record", {"max_gb": True}), ("record", {"retain_days": "7"}),
    ("motion", {"threshold": True}), ("lines", [{"name": "l", "points": [[True, 0], [1, 1]]}]),
    ("record", {"enabled": 0}), ("loop", "yes"),
])
def test_numbers_and_switches_take_no_other_type(key, value):
    """What the OpenAPI document says (``number``, ``boolean``) is what is accepted: pydantic's
    lax mode would take ``true`` as 1, ``"5"`` as 5 and ``0`` as false."""
    with pytest.raises(SettingsError, match=f"camera: {key}"):
        parse_camera({"name": "a", "url": "0", key: value})
    camera = parse_camera({"name": "a", "url": "0", "fps": 5, "jpeg_quality": 70.0})
    assert camera.fps == 5.0 and camera.jpeg_quality == 70  # JSON Schema: 70.0 is an integer


def test_missing_cameras_file(tmp_path: Path):
    with pytest.raises(SettingsError, match="cannot read"):
        load_cameras_file(tmp_path / "nope.yaml")


def test_env_and_overrides():
    env = {"REDIS_URL": "rediss://:pw@h:6380/1", "CCTV_BATCH_SIZE": "4",
           "CCTV_CLASSES": "person, car", "CCTV_HASH_TAGS": "true"}
    s = from_env(WorkerSettings, env, batch_size=2, device=None)
    assert s.redis_url.startswith("rediss://") and s.batch_size == 2 and s.device is None
    assert s.classes == ["person", "car"] and s.keys.frames("a") == "cctv:frames:{a}"


def test_env_errors_name_the_variable():
    with pytest.raises(SettingsError, match="CCTV_STREAM_MAXLEN: Input should be greater"):
        from_env(IngestSettings, {"CCTV_STREAM_MAXLEN": "1"})
    with pytest.raises(SettingsError, match="CCTV_BATCH_SIZE"):
        from_env(WorkerSettings, {"CCTV_BATCH_SIZE": "many"})


def test_parse_camera_rejects_unknown_keys():
    assert parse_camera({"name": "a", "url": "0"}) == CameraConfig(name="a", url="0")
    with pytest.raises(SettingsError, match="camera: bogus: unknown key"):
        parse_camera({"name": "a", "url": "0", "bogus": 1})


@pytest.mark.parametrize("url, masked", [
    ("rtsp://admin:s3cret@10.0.0.1:554/live", "rtsp://***@10.0.0.1:554/live"),
    ("http://cam/video.mjpg?user=a&password=s3cret", "http://cam/video.mjpg?user=a&password=***"),
    ("/data/file.mp4", "/data/file.mp4"),
])
def test_mask_url(url, masked):
    assert mask_url(url) == masked
    assert "s3cret" not in mask_text(f"cannot open {url}: timeout")
