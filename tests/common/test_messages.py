import json
from dataclasses import replace

import pytest

from common.fields import MessageError
from common.messages import DetectedObject, DetectionMessage, FrameMessage
from common.records import CameraState, DeadLetter, WorkerHeartbeat
from common.tracks import Crossing, Stay, TrackedObject, TrackMessage

JPEG = b"\xff\xd8\xff\xe0fakejpeg"


def as_redis(fields):
    """What redis-py returns: bytes keys and values."""
    return {k.encode(): v if isinstance(v, bytes) else v.encode() for k, v in fields.items()}


def test_frame_roundtrip_through_bytes():
    msg = FrameMessage("cam1", 7, 1700000000.25, 64, 48, JPEG, "file")
    assert FrameMessage.from_fields(as_redis(msg.to_fields())) == msg


@pytest.mark.parametrize("change, reason", [
    ({"jpeg": b"GIF89a"}, "not a JPEG"),
    ({"jpeg": b""}, "jpeg"),
    ({"width": b"wide"}, "not an integer"),
    ({"ts": b"nan"}, "not finite"),
    ({"v": b"9"}, "protocol version"),
    ({"height": b"0"}, "bad frame size"),
])
def test_frame_malformed(change, reason):
    fields = as_redis(FrameMessage("c", 1, 1.0, 8, 8, JPEG).to_fields()) | {
        k.encode(): v for k, v in change.items()}
    with pytest.raises(MessageError, match=reason):
        FrameMessage.from_fields(fields)


def test_frame_missing_field():
    fields = as_redis(FrameMessage("c", 1, 1.0, 8, 8, JPEG).to_fields())
    del fields[b"camera"]
    with pytest.raises(MessageError, match="missing field 'camera'"):
        FrameMessage.from_fields(fields)


def test_detection_roundtrip_and_counts():
    objs = [DetectedObject("person", 1, 0.9, (1.0, 2.0, 3.0, 4.0)),
            DetectedObject("person", 1, 0.6, (5.0, 6.0, 7.0, 8.0)),
            DetectedObject("car", 3, 0.7, (0.0, 0.0, 1.0, 1.0))]
    msg = DetectionMessage("c", "1-0", 3, 10.0, 10.5, "w1", 640, 480, objs)
    fields = msg.to_fields()
    assert json.loads(fields["counts"]) == {"person": 2, "car": 1}
    assert DetectionMessage.from_fields(as_redis(fields)) == msg
    assert DetectionMessage.from_json(msg.to_json()) == msg


def test_detection_bad_json():
    fields = DetectionMessage("c", "1-0", 3, 1.0, 1.0, "w", 1, 1).to_fields()
    fields["detections"] = "[{"
    with pytest.raises(MessageError, match="not JSON"):
        DetectionMessage.from_fields(fields)
    fields["detections"] = '[{"label": "x"}]'
    with pytest.raises(MessageError, match="bad detection"):
        DetectionMessage.from_fields(fields)


def test_state_heartbeat_deadletter_roundtrip():
    state = CameraState("online", "rtsp://***@h/x", 5.0, 12.5, 10, 2, 1, "", 13.0)
    assert CameraState.from_fields(as_redis(state.to_fields())) == state
    assert state.to_fields(("state", "fps")) == {"state": "online", "fps": "5.0"}  # what ingest sets
    with pytest.raises(MessageError, match="unknown camera state"):
        CameraState.from_fields({"state": "sleepy"})
    beat = WorkerHeartbeat("w", "h", 1, "cpu", 1.0, 2.0, 3, 4.0, 5.0, 6.0, 7, "ssdlite-person")
    assert WorkerHeartbeat.from_fields(as_redis(beat.to_fields())) == beat
    letter = DeadLetter("c", "1-0", "not a JPEG", "w", 3.0)
    assert DeadLetter.from_fields(as_redis(letter.to_fields())) == letter


def test_track_message_roundtrip_through_fields_and_json():
    msg = TrackMessage("c", "5-0", 4, 10.0, 640, 480,
                       tracks=[TrackedObject(7, "person", 1, 0.8, (1.0, 2.0, 3.0, 4.0))],
                       crossings=[Crossing("door", "in", "person", 7)],
                       zones={"bench": {"person": 1}, "empty": {}}, counts={"person": 1},
                       stays=[Stay("bench", "person", 3, 12.5)])
    assert TrackMessage.from_fields(as_redis(msg.to_fields())) == msg
    assert TrackMessage.from_json(msg.to_json()) == msg
    older = {k: v for k, v in msg.to_fields().items() if k not in ("counts", "stays")}
    assert TrackMessage.from_fields(older) == replace(msg, counts={}, stays=[])


@pytest.mark.parametrize("payload, reason", [
    (b"{", "not JSON"), (b"[1]", "not a JSON object"),
    (b'{"v": "1", "camera": "c", "frame_id": "1-0", "seq": 1, "ts": 1, "width": 1, '
     b'"height": 1, "tracks": {}, "crossings": [], "zones": {}}', "must be JSON lists"),
    (b'{"v": "1", "camera": "c", "frame_id": "1-0", "seq": 1, "ts": 1, "width": 1, '
     b'"height": 1, "tracks": [], "crossings": [{"line": "d", "direction": "up", "label": "x", '
     b'"id": 1}], "zones": {}}', "bad crossing direction"),
])
def test_track_message_malformed_payloads(payload, reason):
    with pytest.raises(MessageError, match=reason):
        TrackMessage.from_json(payload)


def detection_fields(**change):
    obj = DetectedObject("person", 1, 0.9, (1.0, 2.0, 3.0, 4.0))
    return DetectionMessage("c", "1-0", 3, 1.0, 1.0, "w", 64, 48, [obj]).to_fields() | change


@pytest.mark.parametrize("change, reason", [
    ({"height": "0"}, "bad frame size 64x0"),
    ({"width": "-5"}, "bad frame size"),
    ({"frame_id": "abc"}, "not a stream id"),
    ({"frame_id": "1-0-0"}, "not a stream id"),
    ({"seq": "-1"}, "'seq' is negative"),
    ({"ts_done": "inf"}, "not finite"),
    ({"detections": '[{"label": "p", "class_id": 1, "score": NaN, "box": [1, 2, 3, 4]}]'},
     "finite"),
    ({"detections": '[{"label": "p", "class_id": 1, "score": 0.5, "box": [1, 2, 3, Infinity]}]'},
     "finite"),
    ({"detections": '[{"label": "p", "class_id": 1, "score": 1e999, "box": [1, 2, 3, 4]}]'},
     "finite"),
    ({"detections": '[{"label": "p", "class_id": 1, "score": 3, "box": [1, 2, 3, 4]}]'},
     "not in \\[0, 1\\]"),
    ({"detections": '[{"label": "p", "class_id": 1e999, "score": 0.5, "box": [1, 2, 3, 4]}]'},
     "bad detection"),
    ({"detections": '[{"label": "p", "class_id": 1, "score": 0.5, "box": "abcd"}]'},
     "bad detection"),
])
def test_detection_fully_validated(change, reason):
    with pytest.raises(MessageError, match=reason):
        DetectionMessage.from_fields(detection_fields(**change))


def test_track_message_zone_counts_must_be_integers():
    msg = TrackMessage("c", "5-0", 4, 10.0, 640, 480, zones={"bench": {"person": 1}})
    with pytest.raises(MessageError, match="zones"):
        TrackMessage.from_fields(msg.to_fields() | {"zones": '{"bench": {"person": "x"}}'})
    with pytest.raises(MessageError, match="not a stream id"):
        TrackMessage.from_fields(msg.to_fields() | {"frame_id": "abc"})
    with pytest.raises(MessageError, match="bad stay"):
        TrackMessage.from_fields(msg.to_fields() | {"stays": '[{"zone": "bench"}]'})
