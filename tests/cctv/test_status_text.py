"""The plain ``cctv status`` text under each camera's row, against a real Redis: its streams'
memory, the detection lag (and below a ratio of 0.9 how much detection keeps up with), and the
tracker's and recording's faults when there are some; and docs/protocol.md names every field of
``cctv status --json``."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from cctv.status_cmd import cmd_status
from common.cameras import CameraConfig
from common.counts import FRAMES, FRAMES_SKIPPED, LAG_MS
from common.keys import KEYS
from common.mqtt import BridgeState
from common.records import TRACKER_ERROR_FIELD, CameraState
from runtime.camera_list import store_camera
from runtime.recordings import RECORDING_ERROR_FIELD
from runtime.status import CameraStatus, Status, WebhookStats


def add_camera(client, name: str, frames: int, skipped: int, lag_ms: int) -> None:
    """A configured live camera with one frame in its stream and one minute of detection pace."""
    store_camera(client, KEYS, CameraConfig(name=name, url=f"rtsp://cam.local/{name}"))
    client.hset(KEYS.state(name), mapping=CameraState("online", frames_in=frames).to_fields())
    client.xadd(KEYS.frames(name), {"jpeg": b"\xff" * 20_000})
    client.hset(KEYS.minute(name, int(time.time() // 60)),
                mapping={FRAMES: frames, FRAMES_SKIPPED: skipped, LAG_MS: lag_ms})


def status_text(redis_url, monkeypatch, capsys) -> dict[str, list[str]]:
    """Each camera's lines under its row, by camera."""
    monkeypatch.setenv("REDIS_URL", redis_url)
    assert cmd_status(argparse.Namespace(json=False)) == 0
    lines, details = capsys.readouterr().out.splitlines(), {}
    for line in lines[1:]:
        if not line.startswith(" "):
            camera = line.split()[0]
            details[camera] = []
        elif camera in details:
            details[camera].append(line.strip())
    return details


def test_a_camera_detection_falls_behind_says_how_much_and_its_faults(
        redis_client, redis_url, monkeypatch, capsys):
    add_camera(redis_client, "door", frames=100, skipped=94, lag_ms=1630)
    redis_client.hset(KEYS.state("door"), RECORDING_ERROR_FIELD, "No space left on device")
    redis_client.hset(KEYS.tracker_state("door"), TRACKER_ERROR_FIELD,
                      "key cctv:zones:door is not a hash (it holds a string)")
    door = status_text(redis_url, monkeypatch, capsys)["door"]
    memory, lag = door[0].split(" · ", 1)
    assert memory.startswith("redis ") and memory.endswith(" kB of streams")
    assert int(memory.split()[1]) >= 20  # the frame's 20 kB at least
    assert lag.startswith("lag 1.6s · detection keeps up with 6% of frames: start another worker")
    assert door[1:] == ["tracker error: key cctv:zones:door is not a hash (it holds a string)",
                        "recording error: No space left on device"]


def test_a_camera_detection_keeps_up_with_shows_its_lag_and_no_fault(
        redis_client, redis_url, monkeypatch, capsys):
    add_camera(redis_client, "yard", frames=100, skipped=5, lag_ms=420)
    yard = status_text(redis_url, monkeypatch, capsys)["yard"]
    assert len(yard) == 1 and yard[0].endswith(" kB of streams · lag 0.4s")


def test_the_protocol_doc_names_every_status_field():
    """docs/protocol.md's Status section names every key ``cctv status --json`` prints."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "protocol.md").read_text("utf-8")
    section = doc.split("\n## Status\n", 1)[1].split("\n## ", 1)[0]
    keys = {*Status().to_dict(), *CameraStatus().to_dict(), *WebhookStats.__dataclass_fields__,
            *BridgeState.__dataclass_fields__}
    missing = sorted(k for k in keys if f'"{k}"' not in section)
    assert not missing, f"fields missing from docs/protocol.md's Status section: {missing}"
