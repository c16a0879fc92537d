"""Probes that once crashed services, as regression tests at the codec level: every value read
from Redis decodes or raises MessageError (SettingsError for a camera, SnapshotError for a
tracker snapshot), never RecursionError, OverflowError or a livelock on a huge entry."""

import json
import time

import pytest

from common.events import Event
from common.fields import (MAX_BOXES, MessageError, check_box, check_seq, check_ts, json_depth,
                           load_json)
from common.keys import KEYS
from common.messages import DetectedObject, DetectionMessage, FrameMessage
from common.records import RedisLoss, WorkerHeartbeat
from common.schema import SettingsError
from common.tracks import TrackMessage
from runtime.camera_list import parse_camera_json
from tracking.camera import SnapshotError
from tracking.store import TrackStore
from workers.batcher import Entry
from workers.service import parse

DEEP = "[" * 100_000 + "]" * 100_000
DEEP_OBJECT = '{"a":' * 100_000 + "1" + "}" * 100_000
TEN_MB = json.dumps("x" * 10_000_000)
JPEG = b"\xff\xd8\xff\xe0fake"
NOW = 1_800_000_000.0


def detection_fields(**change) -> dict:
    obj = DetectedObject("person", 1, 0.9, (1.0, 2.0, 3.0, 4.0))
    return DetectionMessage("c", "1-0", 3, 1.0, 1.0, "w", 64, 48, [obj]).to_fields() | change


def frame_fields(**change) -> dict:
    return FrameMessage("c", 1, 1.0, 64, 48, JPEG).to_fields() | change


def boxes(n: int) -> str:
    return json.dumps([DetectedObject("p", 1, 0.5, (1.0, 2.0, 3.0, 4.0)).to_dict()] * n)


@pytest.mark.parametrize("text, reason", [
    (DEEP, "nested 100000 deep"),
    (DEEP_OBJECT, "nested 100000 deep"),
    (TEN_MB, "over the 1048576 byte limit"),
    ("[NaN]", "NaN is not a finite number"),
    ('{"a": -Infinity}', "-Infinity is not a finite number"),
    ("1" * 5000, "digits"),
    ("[1, 2", "not JSON"),
    (b"\xff\xfe", "not UTF-8"),
])
def test_load_json_refuses(text, reason):
    with pytest.raises(MessageError, match=f"^probe: .*{reason}"):
        load_json(text, what="probe")


def test_load_json_depth_limit_and_strings():
    deepest = "[" * 32 + "]" * 32
    assert load_json(deepest, what="x") == json.loads(deepest)
    with pytest.raises(MessageError, match="nested 33 deep"):
        load_json("[" * 33 + "]" * 33, what="x")
    brackets_in_strings = json.dumps({"a": "[[[[{{{{" * 100, "b": ['\\"[[[[' * 100]})
    assert json_depth(brackets_in_strings) == 2
    assert load_json(brackets_in_strings, what="x")["a"].startswith("[[[[")


@pytest.mark.parametrize("fields, reason", [
    (detection_fields(detections=DEEP), "nested 100000 deep"),
    (detection_fields(detections=TEN_MB), "byte limit"),
    (detection_fields(detections=boxes(2 * MAX_BOXES)), "2000 items, over the 1000 item limit"),
    (detection_fields(ts="1e300"), "timestamp 1e\\+300"),
    (detection_fields(ts="-1e12"), "timestamp -1"),
    (detection_fields(ts="nan"), "not finite"),
    (detection_fields(ts_done="1e300"), "'ts_done'"),
    (detection_fields(seq=str(2**53)), "not in \\[0, 2\\*\\*53\\)"),
    (detection_fields(detections='[{"label": "p", "class_id": 1, "score": 0.5, '
                                 '"box": [1, 2, 3, 1e300]}]'), "within"),
    (detection_fields(detections='[{"label": "p", "class_id": 1, "score": NaN, '
                                 '"box": [1, 2, 3, 4]}]'), "NaN"),
])
def test_detections_probes(fields, reason):
    with pytest.raises(MessageError, match=reason):
        DetectionMessage.from_fields(fields)


def test_detections_at_the_box_cap_decode():
    msg = DetectionMessage.from_fields(detection_fields(detections=boxes(MAX_BOXES)))
    assert len(msg.objects) == MAX_BOXES


@pytest.mark.parametrize("fields, reason", [
    (frame_fields(ts="1e300"), "timestamp"),
    (frame_fields(ts="-1e12"), "timestamp"),
    (frame_fields(seq="-5"), "'seq' is negative"),
    (frame_fields(motion=DEEP), "nested"),
    (frame_fields(motion=json.dumps([[1, 2, 3, 4]] * 2000)), "item limit"),
    (frame_fields(motion="[[1, 2, 3, 1e300]]"), "within"),
])
def test_frame_probes_are_refused_by_the_worker(fields, reason):
    """The worker parses frames with FrameMessage: such a frame is dead-lettered, not
    published."""
    with pytest.raises(MessageError, match=reason):
        parse(Entry("c", "1-0", fields))


def test_track_message_probes():
    msg = TrackMessage("c", "5-0", 4, 10.0, 640, 480)
    for name in ("tracks", "crossings", "zones", "counts", "stays"):
        with pytest.raises(MessageError, match=f"field '{name}': nested"):
            TrackMessage.from_fields(msg.to_fields() | {name: DEEP})
    with pytest.raises(MessageError, match="timestamp"):
        TrackMessage.from_fields(msg.to_fields() | {"ts": "1e300"})
    with pytest.raises(MessageError, match="item limit"):
        TrackMessage.from_fields(msg.to_fields() | {"tracks": "[" + ",".join(["{}"] * 2000) + "]"})
    with pytest.raises(MessageError, match="bad track"):
        TrackMessage.from_fields(msg.to_fields() | {
            "tracks": '[{"id": 1e999, "label": "p", "class_id": 1, "score": 0.5, '
                      '"box": [1, 2, 3, 4]}]'})
    with pytest.raises(MessageError, match="bad stay"):
        TrackMessage.from_fields(msg.to_fields() | {
            "stays": '[{"zone": "z", "label": "p", "id": 1, "s": ' + "9" * 400 + "}]"})


def test_payloads_and_records():
    with pytest.raises(MessageError, match="payload: nested"):
        DetectionMessage.from_json(DEEP)
    with pytest.raises(MessageError, match="payload: nested"):
        TrackMessage.from_json(DEEP_OBJECT)
    with pytest.raises(MessageError, match="timestamp"):
        RedisLoss.from_json("w", '{"lost": 1e300, "back": 1}')
    beat = WorkerHeartbeat("w", "h", 1, "cpu", 1.0, 2.0).to_fields()
    with pytest.raises(MessageError, match="timestamp"):
        WorkerHeartbeat.from_fields(beat | {"ts": "-1e12"})


def test_event_record_probe():
    with pytest.raises(MessageError, match="nested"):
        Event.from_json(DEEP_OBJECT)


def test_camera_json_probe():
    with pytest.raises(SettingsError, match=r"^cctv:cameras\[x\]: nested 100000 deep"):
        parse_camera_json(DEEP_OBJECT, "cctv:cameras[x]")


def test_tracker_snapshot_probe(redis_client):
    store = TrackStore(redis_client, KEYS, "me", 1000, 100, 60)
    redis_client.hset(KEYS.tracker_state("cam"), "snapshot", DEEP_OBJECT)
    with pytest.raises(SnapshotError, match="tracker snapshot: nested 100000 deep"):
        store.load("cam")
    redis_client.hset(KEYS.tracker_state("cam"), "snapshot", '{"v": 2, "seq": NaN}')
    with pytest.raises(SnapshotError, match="NaN"):
        store.load("cam")


def test_number_bounds():
    assert check_ts(0.0, "t", NOW) == 0.0
    assert check_ts(NOW + 86_000, "t", NOW) == NOW + 86_000
    for bad in (NOW + 86_401, -0.5, float("inf"), float("nan")):
        with pytest.raises(MessageError, match="^t: timestamp"):
            check_ts(bad, "t", NOW)
    assert check_ts(time.time(), "t") > 0
    assert check_seq(2**53 - 1, "s") == 2**53 - 1
    for bad in (-1, 2**53):
        with pytest.raises(MessageError, match="^s: "):
            check_seq(bad, "s")
    assert check_box([0, -5, 1e6, 2.5], "b") == (0, -5, 1e6, 2.5)
    for bad in ([1, 2, 3], [1, 2, 3, float("nan")], [1, 2, 3, -1.1e6]):
        with pytest.raises(MessageError, match="^b: "):
            check_box(bad, "b")
