"""The tracker's objects beside the recordings: one file per camera and minute, read back once
per frame (a torn line and a frame written twice are skipped), pruned with the recordings, and a
disk that refuses never stops tracking."""

from __future__ import annotations

import logging

from common.frame_objects import FrameObjects, ObjectBox
from common.keys import KEYS
from runtime.object_log import ObjectLog, minute_name, prune_objects, read_objects
from runtime.recordings import Segment, add_segment

T0 = 1_780_000_040.0  # 20 s into a minute (UTC)


def frames(start: float, count: int, step: float = 10.0) -> list[FrameObjects]:
    return [FrameObjects(start + k * step, f"{int((start + k * step) * 1000)}-0",
                         [ObjectBox(k, "car", 0.5, (0.1, 0.2, 0.3, 0.4))]) for k in range(count)]


def segment_from(ts: float) -> Segment:
    return Segment("gate", ts, ts + 10, f"gate/x/y/{int(ts * 1000)}.mp4", 100, "h264", 64, 48)


def test_frames_go_to_their_minute_and_read_back_once(redis_client, tmp_path):
    add_segment(redis_client, KEYS, segment_from(T0 - 600))
    written = frames(T0, 12)  # 20 s into a minute to 130 s: three minute files
    log = ObjectLog(redis_client, KEYS, tmp_path, keep_s=60)
    log.append("gate", written[:6])
    log.append("gate", written[4:])  # a takeover writes frames 4 and 5 again
    log.close_all()
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.jsonl"))
    assert files == sorted({minute_name("gate", f.ts) for f in written}) and len(files) == 3
    with (tmp_path / files[-1]).open("a") as torn:
        torn.write('[1780000140.0,"x",[[1,"car"')  # cut short by a crash
    assert read_objects(tmp_path, "gate", T0, T0 + 200) == written
    assert read_objects(tmp_path, "gate", T0 + 15, T0 + 45) == written[2:5]
    assert read_objects(tmp_path, "other", T0, T0 + 200) == []


def test_files_older_than_the_recordings_go(redis_client, tmp_path):
    log = ObjectLog(redis_client, KEYS, tmp_path, keep_s=3650 * 86_400)
    log.append("gate", frames(T0 - 86_400, 1) + frames(T0, 12))  # yesterday, then three minutes
    log.close_all()
    assert len(list(tmp_path.rglob("*.jsonl"))) == 4
    add_segment(redis_client, KEYS, segment_from(T0 + 45))  # the oldest segment: next minute
    assert log.prune("gate") == 2  # yesterday's and T0's minute (it ends before T0 + 45)
    assert read_objects(tmp_path, "gate", 0, T0 + 200) == frames(T0, 12)[4:]
    assert len(list((tmp_path / "gate/objects").iterdir())) == 1  # yesterday's folder is gone
    assert prune_objects(tmp_path, "gate", T0 + 1000) == 2


def test_without_recordings_files_are_kept_keep_s(redis_client, tmp_path):
    log = ObjectLog(redis_client, KEYS, tmp_path, keep_s=3600)
    log.append("gate", frames(T0, 1))
    log.close_all()
    assert log.prune("gate", now=T0 + 1800) == 0
    assert log.prune("gate", now=T0 + 7200) == 1


def test_a_disk_that_refuses_is_logged_once(redis_client, tmp_path, caplog):
    (tmp_path / "gate").write_text("not a folder")
    log = ObjectLog(redis_client, KEYS, tmp_path, keep_s=60)
    caplog.set_level(logging.WARNING, logger="cctv.object_log")
    log.append("gate", frames(T0, 2))
    log.append("gate", frames(T0 + 20, 2))
    assert [r.getMessage() for r in caplog.records if "not kept" in r.getMessage()] != []
    assert len([r for r in caplog.records if "not kept" in r.getMessage()]) == 1
